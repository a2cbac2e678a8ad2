namespace CompressionLab.Core.Quantization;

/// <summary>How a tensor's range maps to 8-bit integers.</summary>
public enum QuantizationMode
{
    /// <summary>int8 in [−127, 127], zero point 0, scale = amax / 127 (FORMATS.md).</summary>
    Symmetric,

    /// <summary>uint8 in [0, 255] over [min, max] widened to include 0; zero point = round(−min / scale).</summary>
    Asymmetric,

    /// <summary>uint8 in [0, 255] over [0, amax], zero point 0: for non-negative tensors (after a ReLU), twice the resolution of symmetric.</summary>
    Unsigned,
}

/// <summary>
/// An affine 8-bit quantizer: q = clamp(round(x / s) + z, qmin, qmax), x̂ = (q − z)·s. Rounding is half away from zero
/// (so the symmetric grid is symmetric about 0); TorchSharp's fake quantization rounds half to even, which differs only
/// on exact ties and by no more than the same half step.
/// </summary>
public readonly record struct QuantizationGrid(double Scale, int ZeroPoint, int QMin, int QMax)
{
    /// <summary>Smallest and largest representable values.</summary>
    public double Min => (QMin - ZeroPoint) * Scale;

    public double Max => (QMax - ZeroPoint) * Scale;

    /// <summary>
    /// The grid for a clip range. A zero range (all-zero tensor) gets scale 1 (Distiller's choice), so that nothing
    /// divides by zero and 0 is still exact.
    /// </summary>
    public static QuantizationGrid For(QuantizationMode mode, double min, double max)
    {
        switch (mode)
        {
            case QuantizationMode.Symmetric:
            {
                var amax = Math.Max(Math.Abs(min), Math.Abs(max));
                return new QuantizationGrid(amax > 0 ? amax / 127 : 1, 0, -127, 127);
            }
            case QuantizationMode.Unsigned:
            {
                var amax = Math.Max(max, 0);
                return new QuantizationGrid(amax > 0 ? amax / 255 : 1, 0, 0, 255);
            }
            case QuantizationMode.Asymmetric:
            {
                // Widened to include 0 so that zero (padding, ReLU output) is exact.
                var low = Math.Min(min, 0);
                var high = Math.Max(max, 0);
                var scale = high > low ? (high - low) / 255 : 1;
                var zero = (int)Math.Clamp(Math.Round(-low / scale, MidpointRounding.AwayFromZero), 0, 255);
                return new QuantizationGrid(scale, zero, 0, 255);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, null);
        }
    }

    public int Quantize(double x) =>
        (int)Math.Clamp(Math.Round(x / Scale, MidpointRounding.AwayFromZero) + ZeroPoint, QMin, QMax);

    public double Dequantize(int q) => (q - ZeroPoint) * Scale;

    public double RoundTrip(double x) => Dequantize(Quantize(x));
}
