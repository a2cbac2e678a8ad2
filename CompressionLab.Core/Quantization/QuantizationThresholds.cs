using CompressionLab.Core.Jobs;

namespace CompressionLab.Core.Quantization;

/// <summary>Where one layer is clipped and on which grids, under a <see cref="QuantizationChoice"/>.</summary>
/// <param name="Method">The layer's clipping method; null when the layer is kept in float.</param>
/// <param name="Input">The input activation's clip and grid (unsigned when the input is non-negative); null in float.</param>
/// <param name="WeightGrids">One symmetric grid per output channel, from the channel's own min and max; empty in float.</param>
/// <param name="Logits">The output layer's output, when the choice quantizes the logits; otherwise null.</param>
public sealed record LayerThresholds(
    string Layer,
    ClippingMethod? Method,
    ClippingResult? Input,
    IReadOnlyList<QuantizationGrid> WeightGrids,
    ClippingResult? Logits)
{
    public bool KeptFloat => Input is null;
}

/// <summary>
/// Every layer's thresholds for one choice on one calibration profile: a pure function of the two
/// (<see cref="For"/>), so the preview's table and the simulation read the same numbers.
/// </summary>
public sealed record QuantizationThresholds(QuantizationChoice Choice, IReadOnlyList<LayerThresholds> Layers)
{
    /// <summary>The thresholds of <paramref name="name"/>; an unknown name throws, naming the known layers.</summary>
    public LayerThresholds Layer(string name) =>
        Layers.FirstOrDefault(l => l.Layer == name)
        ?? throw new KeyNotFoundException($"No layer '{name}' in the thresholds; the layers are {string.Join(", ", Layers.Select(l => l.Layer))}.");

    /// <summary>
    /// The thresholds <paramref name="choice"/> gives on <paramref name="profile"/>:
    /// <list type="bullet">
    /// <item>input activation: the layer's method on the magnitude histogram (symmetric, or unsigned when the input is
    /// non-negative — half the step of symmetric for the same amax) or, in asymmetric mode on a signed input, on the x
    /// histogram;</item>
    /// <item>weights: per output channel, symmetric, over the channel's [min, max] (max: weights are known exactly);</item>
    /// <item>logits (only when <see cref="QuantizationChoice.QuantizeLogits"/>): the output layer's method on its output's
    /// histogram in the choice's mode (logits are signed).</item>
    /// </list>
    /// A layer kept in float gets none of these.
    /// </summary>
    /// <exception cref="InvalidRequestException">
    /// The choice names a layer the profile lacks, or asks the entropy method for a signed tensor in asymmetric mode
    /// (TensorRT's KL search runs on a |x| histogram), naming <c>Method</c> or <c>LayerMethods</c>.
    /// </exception>
    public static QuantizationThresholds For(CalibrationProfile profile, QuantizationChoice choice)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(choice);
        choice.Validate([.. profile.Layers.Select(l => l.Layer)]);
        var layers = new List<LayerThresholds>(profile.Layers.Count);
        foreach (var layer in profile.Layers)
        {
            if (choice.IsKeptFloat(layer.Layer))
            {
                layers.Add(new LayerThresholds(layer.Layer, null, null, [], null));
                continue;
            }
            var method = choice.MethodFor(layer.Layer);
            var inputMode = layer.InputNonNegative ? QuantizationMode.Unsigned : choice.Mode;
            var input = Clip(choice, layer.Layer, method, layer.Input, inputMode);
            var weights = layer.ChannelMin.Select((min, c) => QuantizationGrid.For(QuantizationMode.Symmetric, min, layer.ChannelMax[c])).ToArray();
            var logits = choice.QuantizeLogits && layer.IsOutputLayer ? Clip(choice, layer.Layer, method, layer.Output, choice.Mode) : null;
            layers.Add(new LayerThresholds(layer.Layer, method, input, weights, logits));
        }
        return new QuantizationThresholds(choice, layers);
    }

    /// <summary>One tensor's clip: the |x| histogram for symmetric and unsigned grids, the x histogram for asymmetric.</summary>
    private static ClippingResult Clip(QuantizationChoice choice, string layer, ClippingMethod method, TensorProfile tensor, QuantizationMode mode)
    {
        var setting = choice.LayerMethods?.ContainsKey(layer) == true ? nameof(QuantizationChoice.LayerMethods) : nameof(QuantizationChoice.Method);
        if (method.Kind == ClippingKind.Entropy && mode == QuantizationMode.Asymmetric)
            throw new InvalidRequestException(setting,
                $"Layer {layer}: the entropy method (TensorRT's KL search) needs a histogram of |x|, but the {tensor.Role.Text()} is signed and asymmetric mode " +
                "quantizes it over [min, max]; choose symmetric mode or another method for this layer.");
        var histogram = mode == QuantizationMode.Asymmetric ? tensor.Signed : tensor.Magnitude;
        return ClippingMethods.Calibrate(method, histogram, tensor.Statistics, mode);
    }
}
