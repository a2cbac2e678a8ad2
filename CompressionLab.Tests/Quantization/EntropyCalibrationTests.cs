using CompressionLab.Core.Quantization;
using Xunit.Abstractions;

namespace CompressionLab.Tests.Quantization;

public class EntropyCalibrationTests(ITestOutputHelper output)
{
    [Fact]
    public void PrefixSumSearchEqualsTheBinByBinDivergence()
    {
        // A Laplace-like histogram with holes (empty bins inside groups) and a sparse tail.
        var random = new Random(11);
        var counts = new long[2048];
        for (var k = 0; k < counts.Length; k++)
            counts[k] = k % 7 == 3 ? 0 : (long)(1e6 * Math.Exp(-k / 150.0) * random.NextDouble());
        var (bins, divergence) = EntropyCalibration.Search(counts);
        var direct = Enumerable.Range(128, 2048 - 127).Select(i => (I: i, Kl: EntropyCalibration.DivergenceDirect(counts, i))).ToArray();
        var best = direct.MinBy(d => d.Kl);
        Assert.Equal(best.I, bins);
        Assert.Equal(best.Kl, divergence, 9);
    }

    [Fact]
    public void MassWithinTheFirst128BinsStopsAt128_TiesGoToTheSmallerCandidate()
    {
        var counts = new long[2048];
        for (var k = 0; k < 128; k++) counts[k] = 10 + k;
        var (bins, divergence) = EntropyCalibration.Search(counts);
        Assert.Equal(128, bins);
        Assert.Equal(0, divergence, 12);
    }

    [Fact]
    public void AmaxIsTheUpperEdgeOfTheLastKeptBin()
    {
        var values = QuantTestData.Gaussian(200_000, 0, 1, 12);
        var histogram = new ActivationHistogram(HistogramMode.Symmetric);
        histogram.Add(values);
        var (bins, _) = EntropyCalibration.Search(EntropyCalibration.LevelZeroBin(histogram.Counts));
        var result = ClippingMethods.Entropy(histogram, QuantizationMode.Symmetric);
        Assert.Equal(histogram.BinLower(bins), result.Amax, 12);
        // A Gaussian's KL threshold lies well inside its range (TensorRT reports ~3-4.5 σ at 8 bits).
        Assert.InRange(result.Amax, 2.5, 4.8);
    }

    [Fact]
    public void BenchmarkRunsAndReturnsATime()
    {
        var histogram = new ActivationHistogram(HistogramMode.Symmetric);
        histogram.Add(QuantTestData.Laplace(50_000, 0, 1, 13));
        var timing = CalibrationBenchmark.Entropy(histogram, runs: 3);
        Assert.True(timing.MillisecondsPerTensor > 0);
        Assert.Equal(3, timing.Runs);
        Assert.Equal(2048, timing.Bins);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ClippingMethods.Mse(histogram, QuantizationMode.Symmetric);
        output.WriteLine($"entropy {timing.MillisecondsPerTensor:F3} ms per tensor (median of {timing.Runs}); mse search {clock.Elapsed.TotalMilliseconds:F1} ms");
    }
}
