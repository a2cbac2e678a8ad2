using CompressionLab.Core.Jobs;

namespace CompressionLab.Core.Quantization;

/// <summary>
/// How a user wants a network quantized: the grid mode, one clipping method for every layer's input activation with
/// per-layer overrides, the layers kept in float, and whether the logits are quantized too. Weights are always
/// quantized per output channel, symmetric, on their own range (calib-contract.md); a layer whose input is
/// non-negative (after ReLU or pooling) gets the unsigned grid whatever the mode.
/// </summary>
/// <param name="Mode"><see cref="QuantizationMode.Symmetric"/> or <see cref="QuantizationMode.Asymmetric"/> (unsigned is chosen per layer, never for all).</param>
/// <param name="Method">The clipping method of every layer without an override.</param>
/// <param name="LayerMethods">Per-layer overrides of <paramref name="Method"/>, by layer name.</param>
/// <param name="FloatLayers">Layers left in float: neither their input nor their weight is quantized.</param>
/// <param name="QuantizeLogits">
/// Also quantize the output layer's output (its own histogram, its method). False by default: Distiller found that
/// clipping the logits costs accuracy for nothing, since nothing after them runs in integer.
/// </param>
/// <remarks>Equality and <see cref="Key"/> are by content (the collections in canonical order), so a choice can key stored results.</remarks>
public sealed record QuantizationChoice(
    QuantizationMode Mode,
    ClippingMethod Method,
    IReadOnlyDictionary<string, ClippingMethod>? LayerMethods = null,
    IReadOnlyCollection<string>? FloatLayers = null,
    bool QuantizeLogits = false)
{
    /// <summary>The methods "each method for all layers" compares, in the order a table lists them.</summary>
    public static IReadOnlyList<ClippingMethod> StandardMethods { get; } =
    [
        .. new[] { "max", "avg", "percentile:99.9", "percentile:99.99", "percentile:99.999", "nstd:3", "aciq-laplace", "aciq-gauss", "mse", "entropy" }
            .Select(ClippingMethod.Parse),
    ];

    /// <summary>Every layer on <paramref name="method"/>, symmetric (unsigned after ReLU), logits in float.</summary>
    public static QuantizationChoice AllLayers(ClippingMethod method, QuantizationMode mode = QuantizationMode.Symmetric) => new(mode, method);

    /// <summary>
    /// A choice from the words a user types: <c>symmetric|asymmetric</c>, a method text (<see cref="ClippingMethod.Parse"/>),
    /// <c>layer → method text</c> overrides. Bad text throws an <see cref="InvalidRequestException"/> naming the setting
    /// (<c>Mode</c>, <c>Method</c>, <c>LayerMethods</c>); layer names are checked against a network by <see cref="Validate"/>.
    /// </summary>
    public static QuantizationChoice Parse(
        string mode,
        string method,
        IEnumerable<KeyValuePair<string, string>>? layerMethods = null,
        IEnumerable<string>? floatLayers = null,
        bool quantizeLogits = false)
    {
        var parsedMode = ParseMode(mode);
        var parsedMethod = ParseMethod(nameof(Method), method, null);
        var overrides = new Dictionary<string, ClippingMethod>(StringComparer.Ordinal);
        foreach (var (layer, text) in layerMethods ?? [])
        {
            if (string.IsNullOrWhiteSpace(layer)) throw new InvalidRequestException(nameof(LayerMethods), "A per-layer method needs a layer name.");
            if (!overrides.TryAdd(layer, ParseMethod(nameof(LayerMethods), text, layer)))
                throw new InvalidRequestException(nameof(LayerMethods), $"Layer {layer} is given a method twice.");
        }
        return new QuantizationChoice(parsedMode, parsedMethod, overrides, [.. floatLayers ?? []], quantizeLogits);
    }

    /// <summary><c>symmetric</c> or <c>asymmetric</c>; anything else names <c>Mode</c>.</summary>
    public static QuantizationMode ParseMode(string text) => text?.Trim().ToLowerInvariant() switch
    {
        "symmetric" => QuantizationMode.Symmetric,
        "asymmetric" => QuantizationMode.Asymmetric,
        _ => throw new InvalidRequestException(nameof(Mode),
            $"Unknown quantization mode '{text}'; use symmetric or asymmetric (a layer whose input is non-negative gets the unsigned grid either way)."),
    };

    private static ClippingMethod ParseMethod(string setting, string text, string? layer)
    {
        try
        {
            return ClippingMethod.Parse(text ?? throw new FormatException("No calibration method given."));
        }
        catch (FormatException e)
        {
            throw new InvalidRequestException(setting, layer is null ? e.Message : $"Layer {layer}: {e.Message}", e);
        }
    }

    /// <summary>The method for <paramref name="layer"/>: its override, else <see cref="Method"/>.</summary>
    public ClippingMethod MethodFor(string layer) => LayerMethods?.GetValueOrDefault(layer) ?? Method;

    public bool IsKeptFloat(string layer) => FloatLayers?.Contains(layer) == true;

    /// <summary>
    /// Throws an <see cref="InvalidRequestException"/> naming the setting when the mode is not symmetric or asymmetric,
    /// or an override or a float layer names no layer of <paramref name="layers"/>.
    /// </summary>
    public void Validate(IReadOnlyCollection<string> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (Method is null) throw new InvalidRequestException(nameof(Method), "Choose a calibration method.");
        if (Mode is not (QuantizationMode.Symmetric or QuantizationMode.Asymmetric))
            throw new InvalidRequestException(nameof(Mode), $"The mode is symmetric or asymmetric (got {Mode}); the unsigned grid is chosen per layer, for non-negative inputs.");
        var known = new HashSet<string>(layers, StringComparer.Ordinal);
        string Known() => string.Join(", ", layers);
        foreach (var (layer, method) in LayerMethods ?? new Dictionary<string, ClippingMethod>())
        {
            if (!known.Contains(layer)) throw new InvalidRequestException(nameof(LayerMethods), $"Unknown layer '{layer}'; the layers are {Known()}.");
            if (method is null) throw new InvalidRequestException(nameof(LayerMethods), $"Layer {layer}: choose a calibration method.");
        }
        foreach (var layer in FloatLayers ?? [])
        {
            if (!known.Contains(layer)) throw new InvalidRequestException(nameof(FloatLayers), $"Unknown layer '{layer}'; the layers are {Known()}.");
        }
    }

    /// <summary>
    /// The choice as one canonical line, e.g. <c>symmetric entropy; conv1=mse, fc3=max; float: fc2; logits float</c>:
    /// overrides and float layers sorted by name, overrides equal to the default method left out. Equal choices, equal keys.
    /// </summary>
    public string Key
    {
        get
        {
            var mode = Mode.ToString().ToLowerInvariant();
            var overrides = (LayerMethods ?? new Dictionary<string, ClippingMethod>())
                .Where(o => o.Value != Method)
                .OrderBy(o => o.Key, StringComparer.Ordinal)
                .Select(o => $"{o.Key}={o.Value.Name}")
                .ToList();
            var floats = (FloatLayers ?? []).Distinct().Order(StringComparer.Ordinal).ToList();
            var text = $"{mode} {Method.Name}";
            if (overrides.Count > 0) text += "; " + string.Join(", ", overrides);
            if (floats.Count > 0) text += "; float: " + string.Join(", ", floats);
            return text + (QuantizeLogits ? "; logits int8" : "; logits float");
        }
    }

    public bool Equals(QuantizationChoice? other) => other is not null && Key == other.Key;

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Key);

    public override string ToString() => Key;
}
