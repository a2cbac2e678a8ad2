using System.Diagnostics;

namespace CompressionLab.Core.Quantization;

/// <summary>Time of the entropy search over one tensor's histogram: the median of several runs after one warm-up.</summary>
public sealed record EntropyTiming(double MillisecondsPerTensor, int Runs, int Bins);

public static class CalibrationBenchmark
{
    /// <summary>Times <see cref="ClippingMethods.Entropy"/> (search and costing) on <paramref name="histogram"/>.</summary>
    public static EntropyTiming Entropy(ActivationHistogram histogram, int runs = 21)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(runs);
        ClippingMethods.Entropy(histogram, QuantizationMode.Symmetric);
        var times = new double[runs];
        for (var r = 0; r < runs; r++)
        {
            var clock = Stopwatch.StartNew();
            ClippingMethods.Entropy(histogram, QuantizationMode.Symmetric);
            times[r] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return new EntropyTiming(times[runs / 2], runs, histogram.BinCount);
    }
}
