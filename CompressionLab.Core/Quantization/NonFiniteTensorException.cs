namespace CompressionLab.Core.Quantization;

/// <summary>
/// A tensor being calibrated holds NaN or ±Inf: no clipping range means anything then, so calibration
/// stops and names where the value came from.
/// </summary>
public sealed class NonFiniteTensorException(string layer, string tensor, long index, double value)
    : Exception($"Layer {Describe(layer)}, {Describe(tensor)} tensor: element {index} is {Text(value)}; calibration needs finite values (check the model's weights and inputs).")
{
    public string Layer { get; } = layer;

    /// <summary>"input", "output" or "weight".</summary>
    public string Tensor { get; } = tensor;

    /// <summary>Flat (row-major) index of the first non-finite element.</summary>
    public long Index { get; } = index;

    public double Value { get; } = value;

    private static string Describe(string name) => string.IsNullOrEmpty(name) ? "(unnamed)" : name;

    private static string Text(double value) => double.IsNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf";
}
