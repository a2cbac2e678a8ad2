namespace CompressionLab.Core.Quantization;

/// <summary>What quantizing a histogram's values on one grid costs.</summary>
/// <param name="Mse">Expected squared error of quantize–dequantize per value.</param>
/// <param name="ClippedFraction">Fraction of the values outside the grid's [min, max].</param>
/// <param name="SignalPower">E[x²].</param>
public readonly record struct QuantizationCost(double Mse, double ClippedFraction, double SignalPower)
{
    /// <summary>10·log10(E[x²] / MSE) in dB; +∞ when quantization is exact (an all-zero tensor included).</summary>
    public double SqnrDb => Mse <= 0 ? double.PositiveInfinity : 10 * Math.Log10(SignalPower / Mse);
}

/// <summary>
/// Quantization error estimated from a histogram: each bin's values are taken as uniform over the bin, cut to the
/// observed [min, max] (so the first and last bins hold nothing beyond the data), and the squared error of
/// quantize–dequantize is integrated exactly over each bin — the rounding error's sawtooth inside the grid, the
/// distance to the nearest end outside it. A tensor of one repeated value is a point mass and is evaluated exactly.
/// </summary>
public static class HistogramError
{
    /// <summary>The cost of <paramref name="grid"/> (a grid over raw x) on the histogram's values.</summary>
    public static QuantizationCost Of(ActivationHistogram histogram, QuantizationGrid grid)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        if (histogram.Total == 0) return new QuantizationCost(0, 0, 0);
        var domain = DomainGrid(histogram, grid);
        if (histogram.IsSingleValue)
        {
            var v = histogram.DomainMin;
            var e = v - domain.RoundTrip(v);
            var clipped = v < domain.Min || v > domain.Max ? 1.0 : 0.0;
            return new QuantizationCost(e * e, clipped, v * v);
        }

        double error = 0, clippedMass = 0, signal = 0;
        var counts = histogram.Counts;
        for (var i = 0; i < histogram.BinCount; i++)
        {
            var n = counts[i];
            if (n == 0) continue;
            var a = Math.Max(histogram.BinLower(i), histogram.DomainMin);
            var b = Math.Min(histogram.BinUpper(i), histogram.DomainMax);
            if (b <= a)
            {
                var e = a - domain.RoundTrip(a);
                error += n * e * e;
                signal += n * a * a;
                if (a < domain.Min || a > domain.Max) clippedMass += n;
                continue;
            }
            var length = b - a;
            error += n * SquaredErrorIntegral(domain, a, b) / length;
            signal += n * (Cube(b) - Cube(a)) / (3 * length);
            var outside = Math.Max(0, Math.Min(b, domain.Min) - a) + Math.Max(0, b - Math.Max(a, domain.Max));
            // Within rounding of the grid's end (amax/127·127 ≠ amax in floating point) is not clipped.
            if (outside > 1e-9 * domain.Scale) clippedMass += n * Math.Min(1, outside / length);
        }
        var total = (double)histogram.Total;
        return new QuantizationCost(error / total, clippedMass / total, signal / total);
    }

    /// <summary>
    /// The grid in the histogram's own domain. For |x| histograms a symmetric grid acts on |x| as levels 0..qmax
    /// (round half away from zero is odd, so |Q(x)| = Q(|x|)); an unsigned grid is already non-negative.
    /// </summary>
    internal static QuantizationGrid DomainGrid(ActivationHistogram histogram, QuantizationGrid grid)
    {
        if (histogram.Mode == HistogramMode.Asymmetric) return grid;
        if (grid.ZeroPoint != 0)
            throw new ArgumentException($"Layer {histogram.Layer}, {histogram.Tensor}: a histogram of |x| cannot evaluate an asymmetric grid (zero point {grid.ZeroPoint}); collect an asymmetric histogram.");
        if (grid.QMin < 0) return grid with { QMin = 0 };
        if (histogram.ValueMin < 0)
            throw new ArgumentException($"Layer {histogram.Layer}, {histogram.Tensor}: unsigned quantization needs non-negative values, but the tensor reaches {histogram.ValueMin}.");
        return grid;
    }

    /// <summary>∫ₐᵇ (x − Q(x))² dx for a ≤ b.</summary>
    internal static double SquaredErrorIntegral(QuantizationGrid grid, double a, double b)
    {
        double low = grid.Min, high = grid.Max, total = 0;
        if (a < low) total += (Cube(low - a) - Cube(Math.Max(low - b, 0))) / 3;
        if (b > high) total += (Cube(b - high) - Cube(Math.Max(a - high, 0))) / 3;
        var from = Math.Max(a, low);
        var to = Math.Min(b, high);
        if (to > from)
        {
            var s = grid.Scale;
            total += s * s * s * (Sawtooth((to / s) + grid.ZeroPoint) - Sawtooth((from / s) + grid.ZeroPoint));
        }
        return total;
    }

    /// <summary>Antiderivative of (u − round(u))²: each whole step adds 1/12, the partial step (t³ + 1/8)/3.</summary>
    private static double Sawtooth(double u)
    {
        var n = Math.Floor(u + 0.5);
        var t = u - n;
        return (n / 12) + (((t * t * t) + 0.125) / 3);
    }

    private static double Cube(double x) => x * x * x;
}
