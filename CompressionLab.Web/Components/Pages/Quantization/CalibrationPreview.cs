using CompressionLab.Core.Quantization;

namespace CompressionLab.Web.Components.Pages.Quantization;

/// <summary>One layer of the table: its chosen method's clip of the layer's input and whether it stays in float.</summary>
/// <param name="Mode">The grid the input is quantized on: unsigned when the input is never negative, else the page's mode.</param>
/// <param name="Result">The chosen method's clip; null when the method cannot run in this mode (e.g. entropy, asymmetric).</param>
/// <param name="Unavailable">Why <see cref="Result"/> is null.</param>
public sealed record CalibrationRow(
    LayerProfile Layer,
    ClippingMethod Method,
    QuantizationMode Mode,
    ClippingResult? Result,
    string? Unavailable,
    bool KeepFloat)
{
    public string Name => Layer.Layer;
}

/// <summary>
/// The per-layer calibration of a collected profile, without a renderer or a model: every method's clip of each
/// layer's input, computed once and kept (MSE costs ~0.1 s per tensor under load), the method chosen per layer and
/// the layers kept in float. What the simulation quantizes is documented in calib-contract: each layer's input per
/// tensor with its method (unsigned grid after ReLU), its weight per channel; the logits stay float.
/// </summary>
public sealed class CalibrationPreview
{
    /// <summary>The methods the page offers and draws, in legend order.</summary>
    public static IReadOnlyList<ClippingMethod> Methods => QuantizationChoice.StandardMethods;

    /// <summary>A colour per method (same order as <see cref="Methods"/>), the same on every chart.</summary>
    private static readonly string[] Palette =
    [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#17becf", "#98df8a", "#9467bd", "#8c564b", "#e377c2", "#d62728", "#000000",
    ];

    /// <summary>
    /// The method a layer starts with: MSE, which needs no parameter, balances clipping against rounding on the histogram
    /// itself, and was the best single method on vgg-small's test split.
    /// </summary>
    public static readonly ClippingMethod DefaultMethod = ClippingMethod.Parse("mse");

    private readonly Dictionary<(string Layer, string Method, QuantizationMode Mode), (ClippingResult? Result, string? Error)> results = [];
    private readonly Dictionary<string, ClippingMethod> chosen = [];
    private readonly HashSet<string> keptFloat = [];

    public CalibrationPreview(CalibrationProfile profile, QuantizationMode mode = QuantizationMode.Symmetric)
    {
        Profile = profile ?? throw new ArgumentNullException(nameof(profile));
        if (mode == QuantizationMode.Unsigned) throw new ArgumentException("Choose symmetric or asymmetric; unsigned is applied by itself where the input is never negative.", nameof(mode));
        Mode = mode;
        foreach (var layer in profile.Layers)
        {
            chosen[layer.Layer] = DefaultMethod;
        }
    }

    public CalibrationProfile Profile { get; }

    /// <summary>Symmetric or asymmetric, for layers whose input can be negative.</summary>
    public QuantizationMode Mode { get; private set; }

    public static string Colour(ClippingMethod method) => Palette[Index(method) % Palette.Length];

    /// <summary>The grid a layer's input uses: unsigned when no negative value was seen (after ReLU, or images in [0, 1]).</summary>
    public QuantizationMode ModeOf(LayerProfile layer) => layer.InputNonNegative ? QuantizationMode.Unsigned : Mode;

    public ClippingMethod MethodOf(string layer) => chosen.TryGetValue(layer, out var method)
        ? method
        : throw new ArgumentException($"There is no layer '{layer}'; the layers are {string.Join(", ", chosen.Keys)}.", nameof(layer));

    public bool IsKeptFloat(string layer) => keptFloat.Contains(layer);

    public IReadOnlyDictionary<string, ClippingMethod> Chosen => chosen;

    public IReadOnlyCollection<string> KeptFloat => keptFloat;

    /// <summary>Also quantize the logits (the output layer's output). Off by default: see <see cref="QuantizationChoice.QuantizeLogits"/>.</summary>
    public bool QuantizeLogits { get; set; }

    /// <summary>
    /// The choice the simulation runs: the method most layers use as the default (ties: the first layer's), the others
    /// as per-layer overrides, the layers kept in float, the logits option.
    /// </summary>
    public QuantizationChoice ToChoice()
    {
        var common = Profile.Layers.Select(l => chosen[l.Layer]).GroupBy(m => m).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault() ?? DefaultMethod;
        var overrides = chosen.Where(c => c.Value != common).ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
        return new QuantizationChoice(Mode, common, overrides, [.. keptFloat.Order(StringComparer.Ordinal)], QuantizeLogits);
    }

    public void SetMode(QuantizationMode mode)
    {
        if (mode == QuantizationMode.Unsigned) throw new ArgumentException("Choose symmetric or asymmetric.", nameof(mode));
        Mode = mode;
    }

    public void SetMethod(string layer, ClippingMethod method)
    {
        ArgumentNullException.ThrowIfNull(method);
        _ = MethodOf(layer);
        chosen[layer] = method;
    }

    public void SetAllMethods(ClippingMethod method)
    {
        ArgumentNullException.ThrowIfNull(method);
        foreach (var layer in chosen.Keys.ToList())
        {
            chosen[layer] = method;
        }
    }

    public void SetKeepFloat(string layer, bool keep)
    {
        _ = MethodOf(layer);
        if (keep) keptFloat.Add(layer);
        else keptFloat.Remove(layer);
    }

    /// <summary>The table, in the network's order.</summary>
    public IReadOnlyList<CalibrationRow> Rows() => [.. Profile.Layers.Select(Row)];

    public CalibrationRow Row(LayerProfile layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var method = MethodOf(layer.Layer);
        var (result, error) = Clip(layer, method);
        return new CalibrationRow(layer, method, ModeOf(layer), result, error, IsKeptFloat(layer.Layer));
    }

    /// <summary>Every method's clip of <paramref name="layer"/>'s input (those that cannot run in its mode left out, with why).</summary>
    public IReadOnlyList<(ClippingMethod Method, ClippingResult? Result, string? Unavailable)> AllMethods(LayerProfile layer) =>
        [.. Methods.Select(m => { var (r, e) = Clip(layer, m); return (m, r, e); })];

    /// <summary>The histogram the layer's input is calibrated on in its mode: |x| for symmetric and unsigned, x for asymmetric.</summary>
    public ActivationHistogram HistogramOf(LayerProfile layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return ModeOf(layer) == QuantizationMode.Asymmetric ? layer.Input.Signed : layer.Input.Magnitude;
    }

    /// <summary>One method's clip of the layer's input, computed once per mode.</summary>
    public (ClippingResult? Result, string? Unavailable) Clip(LayerProfile layer, ClippingMethod method)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(method);
        var mode = ModeOf(layer);
        var key = (layer.Layer, method.Name, mode);
        if (results.TryGetValue(key, out var known)) return known;
        (ClippingResult?, string?) computed;
        if (method.Kind == ClippingKind.Entropy && mode == QuantizationMode.Asymmetric)
        {
            computed = (null, "entropy (TensorRT's KL search) works on |x|: symmetric or unsigned only");
        }
        else
        {
            try
            {
                computed = (ClippingMethods.Calibrate(method, HistogramOf(layer), layer.Input.Statistics, mode), null);
            }
            catch (ArgumentException e)
            {
                computed = (null, e.Message);
            }
        }
        results[key] = computed;
        return computed;
    }

    /// <summary>
    /// The thresholds of <see cref="ToChoice"/> from the clips already computed (the same numbers
    /// <see cref="QuantizationThresholds.For"/> gives, without recomputing every MSE search); null while a layer's method
    /// cannot run in its mode.
    /// </summary>
    public QuantizationThresholds? Thresholds()
    {
        var choice = ToChoice();
        var layers = new List<LayerThresholds>(Profile.Layers.Count);
        foreach (var layer in Profile.Layers)
        {
            if (IsKeptFloat(layer.Layer))
            {
                layers.Add(new LayerThresholds(layer.Layer, null, null, [], null));
                continue;
            }
            var method = MethodOf(layer.Layer);
            if (Clip(layer, method).Result is not { } input) return null;
            var weights = layer.ChannelMin.Select((min, c) => QuantizationGrid.For(QuantizationMode.Symmetric, min, layer.ChannelMax[c])).ToArray();
            ClippingResult? logits = null;
            if (QuantizeLogits && layer.IsOutputLayer)
            {
                if (method.Kind == ClippingKind.Entropy && Mode == QuantizationMode.Asymmetric) return null;
                logits = ClippingMethods.Calibrate(method, Mode == QuantizationMode.Asymmetric ? layer.Output.Signed : layer.Output.Magnitude, layer.Output.Statistics, Mode);
            }
            layers.Add(new LayerThresholds(layer.Layer, method, input, weights, logits));
        }
        return new QuantizationThresholds(choice, layers);
    }

    /// <summary>
    /// True when the entropy method keeps the layer's whole range although the histogram has an empty gap below its
    /// largest values: isolated far outliers, which TensorRT's KL search cannot clip (every cut of them scores +∞;
    /// docs/quantization.md). Another method (percentile, MSE) clips them.
    /// </summary>
    public bool EntropyKeepsOutliers(LayerProfile layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        if (ModeOf(layer) == QuantizationMode.Asymmetric) return false;
        if (Clip(layer, ClippingMethod.Parse("entropy")).Result is not { ClippedFraction: 0 }) return false;
        var counts = layer.Input.Magnitude.Counts;
        var last = counts.Count - 1;
        while (last > 0 && counts[last] == 0) last--;
        var quantile = ClippingMethods.Quantile(layer.Input.Magnitude, 0.999);
        var from = (int)Math.Floor((quantile - layer.Input.Magnitude.Lower) / Math.Max(layer.Input.Magnitude.BinWidth, double.Epsilon));
        for (var i = Math.Max(from, 0); i < last; i++)
        {
            if (counts[i] == 0) return true;
        }
        return false;
    }

    private static int Index(ClippingMethod method)
    {
        for (var i = 0; i < Methods.Count; i++)
        {
            if (Methods[i] == method) return i;
        }
        // A method typed by hand (another percentile, say) takes a colour by its kind.
        return (int)method.Kind;
    }
}
