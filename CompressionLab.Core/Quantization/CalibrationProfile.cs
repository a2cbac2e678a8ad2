using CompressionLab.Core.Models;

namespace CompressionLab.Core.Quantization;

/// <summary>Which tensor of a layer a profile describes; printed "input" / "output" / "weight".</summary>
public enum TensorRole { Input, Output, Weight }

public static class TensorRoles
{
    /// <summary>"input", "output" or "weight": the name JSON, YAML and error messages use.</summary>
    public static string Text(this TensorRole role) => role switch
    {
        TensorRole.Input => "input",
        TensorRole.Output => "output",
        TensorRole.Weight => "weight",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
    };
}

/// <summary>One tensor's distribution over the calibration subset (or a weight's over its elements).</summary>
/// <param name="Magnitude">2048 bins of |x|: symmetric and unsigned methods.</param>
/// <param name="Signed">2048 bins of x: asymmetric methods.</param>
public sealed record TensorProfile(string Layer, TensorRole Role, TensorStatistics Statistics,
    ActivationHistogram Magnitude,
    ActivationHistogram Signed);

/// <summary>A conv or linear layer of the folded network (BatchNorm folded into it, as deployed).</summary>
/// <param name="InputNonNegative">No negative value was seen at the layer's input (after ReLU / max-pool): the unsigned grid applies.</param>
/// <param name="IsOutputLayer">The layer that produces the logits.</param>
/// <param name="ChannelMin">Smallest element of the folded weight per output channel.</param>
/// <param name="ChannelMax">Largest element of the folded weight per output channel.</param>
public sealed record LayerProfile(string Layer, LayerKind Kind, bool InputNonNegative, bool IsOutputLayer,
    TensorProfile Input, TensorProfile Output, TensorProfile Weight,
    IReadOnlyList<double> ChannelMin, IReadOnlyList<double> ChannelMax)
{
    public TensorProfile Tensor(TensorRole role) => role switch
    {
        TensorRole.Input => Input,
        TensorRole.Output => Output,
        TensorRole.Weight => Weight,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
    };
}

/// <summary>
/// Every conv/linear layer's statistics and histograms over a calibration subset, for one model's weights
/// (<paramref name="WeightsHash"/>) and one subset (<paramref name="SubsetKey"/>, <see cref="AnalysisSubset.Key"/>).
/// </summary>
/// <param name="Images">Images the activations were collected over.</param>
/// <param name="CollectSeconds">Wall time of the collection pass (a cached profile keeps the time it took when collected).</param>
public sealed record CalibrationProfile(string Architecture, string WeightsHash, string Dataset, string SubsetKey, int Images,
    IReadOnlyList<LayerProfile> Layers, double CollectSeconds)
{
    public LayerProfile Layer(string name) =>
        Layers.FirstOrDefault(l => l.Layer == name)
        ?? throw new ArgumentException($"The calibration profile of {Architecture} has no layer '{name}'. Its layers are: {string.Join(", ", Layers.Select(l => l.Layer))}.", nameof(name));
}
