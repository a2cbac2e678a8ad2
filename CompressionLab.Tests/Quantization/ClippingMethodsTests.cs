using CompressionLab.Core.Quantization;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

public class ClippingMethodsTests
{
    private static (ActivationHistogram Histogram, TensorStatistics Statistics) Collect(float[] values, HistogramMode mode, int batches = 4)
    {
        var histogram = new ActivationHistogram(mode, "layer", "output");
        var statistics = new TensorStatistics("layer", "output");
        var size = values.Length / batches;
        for (var b = 0; b < batches; b++)
        {
            var batch = values.AsSpan(b * size, size).ToArray();
            histogram.Add(batch);
            using var t = tensor(batch).view(size / 10, 10);
            statistics.Add(t);
        }
        return (histogram, statistics);
    }

    private static readonly string[] AllMethods = ["max", "avg", "percentile:99.99", "nstd:3", "aciq-laplace", "aciq-gauss", "mse", "entropy"];

    [Fact]
    public void UniformData_MaxAndMseKeepTheRange_MaxClipsNothing()
    {
        var values = QuantTestData.Uniform(200_000, -1, 1, 1);
        var (h, _) = Collect(values, HistogramMode.Symmetric);
        var max = ClippingMethods.Max(h, QuantizationMode.Symmetric);
        Assert.Equal(values.Max(v => Math.Abs(v)), max.Amax, 9);
        Assert.Equal(0, max.ClippedFraction);
        Assert.Equal(max.Amax / 127, max.Scale, 12);
        // Uniform rounding noise s²/12 and SQNR 10·log10((1/3)/(s²/12)) = 10·log10(4·127²) ≈ 48.1 dB.
        Assert.Equal(max.Scale * max.Scale / 12, max.Mse, max.Scale * max.Scale / 12 * 0.02);
        Assert.Equal(10 * Math.Log10(4 * 127.0 * 127.0), max.SqnrDb, 0.1);

        // The MSE optimum clips ~0.6 % of a uniform range (clip noise (A−α)³/3A against rounding α²/(3·127²)).
        var mse = ClippingMethods.Mse(h, QuantizationMode.Symmetric);
        Assert.InRange(mse.Amax, 0.985, 1.0);
        Assert.InRange(mse.ClippedFraction, 0, 0.01);
        Assert.True(mse.Mse <= max.Mse);

        var entropy = ClippingMethods.Entropy(h, QuantizationMode.Symmetric);
        Assert.InRange(entropy.Amax, 0.9, 1.0);
        Assert.Equal(0.999, ClippingMethods.Percentile(h, QuantizationMode.Symmetric, 99.9).Amax, 2);
    }

    [Fact]
    public void EstimatedErrorMatchesQuantizingTheSamplesThemselves()
    {
        var values = QuantTestData.Gaussian(100_000, 0.3, 1, 2);
        foreach (var (histogramMode, mode, min, max) in new[]
                 {
                     (HistogramMode.Symmetric, QuantizationMode.Symmetric, -2.5, 2.5),
                     (HistogramMode.Asymmetric, QuantizationMode.Asymmetric, -2.0, 3.5),
                     (HistogramMode.Asymmetric, QuantizationMode.Symmetric, -3.0, 3.0),
                 })
        {
            var (h, _) = Collect(values, histogramMode);
            var result = ClippingMethods.Result("fixed", h, mode, min, max);
            var grid = result.Grid;
            var empirical = values.Average(v => Math.Pow(v - grid.RoundTrip(v), 2));
            var clipped = values.Count(v => v < grid.Min || v > grid.Max) / (double)values.Length;
            Assert.Equal(empirical, result.Mse, empirical * 0.03);
            Assert.Equal(clipped, result.ClippedFraction, 0.0005);
        }
    }

    [Theory]
    [InlineData(99.0)]
    [InlineData(99.9)]
    [InlineData(99.99)]
    [InlineData(50.0)]
    public void PercentileMatchesTheSortedDataWithinABin(double percentile)
    {
        var values = QuantTestData.Gaussian(200_000, 0, 2, 3);
        var (h, _) = Collect(values, HistogramMode.Symmetric);
        var sorted = values.Select(v => Math.Abs((double)v)).Order().ToArray();
        var expected = sorted[(int)Math.Ceiling(percentile / 100 * sorted.Length) - 1];
        Assert.Equal(expected, ClippingMethods.Percentile(h, QuantizationMode.Symmetric, percentile).Amax, h.BinWidth);

        var (a, _) = Collect(values, HistogramMode.Asymmetric);
        var raw = values.Select(v => (double)v).Order().ToArray();
        var asym = ClippingMethods.Percentile(a, QuantizationMode.Asymmetric, percentile);
        Assert.Equal(raw[(int)Math.Ceiling(percentile / 100 * raw.Length) - 1], asym.Max, a.BinWidth);
        if (percentile >= 99) Assert.Equal(raw[(int)Math.Ceiling((1 - (percentile / 100)) * raw.Length) - 1], asym.Min, a.BinWidth);
    }

    [Fact]
    public void AciqConstantsMatchThePublishedOnes()
    {
        // Banner et al. / Distiller's tables (α/b for Laplace, α/σ for Gauss), to 0.01.
        string Values() => string.Join(", ", new[] { 2, 3, 4, 8 }.Select(b => $"{b}: L {Aciq.Alpha(Aciq.Law.Laplace, b):F5} G {Aciq.Alpha(Aciq.Law.Gauss, b):F5} L+ {Aciq.Alpha(Aciq.Law.Laplace, b, true):F5} G+ {Aciq.Alpha(Aciq.Law.Gauss, b, true):F5}"));
        Assert.True(Math.Abs(9.89018504 - Aciq.Alpha(Aciq.Law.Laplace, 8)) < 0.01, Values());
        Assert.True(Math.Abs(3.92403714 - Aciq.Alpha(Aciq.Law.Gauss, 8)) < 0.01, Values());
        Assert.True(Math.Abs(2.83068299 - Aciq.Alpha(Aciq.Law.Laplace, 2)) < 0.01, Values());
        Assert.True(Math.Abs(3.89722946 - Aciq.Alpha(Aciq.Law.Laplace, 3)) < 0.01, Values());
        Assert.True(Math.Abs(5.02864014 - Aciq.Alpha(Aciq.Law.Laplace, 4)) < 0.01, Values());
        Assert.True(Math.Abs(1.71063516 - Aciq.Alpha(Aciq.Law.Gauss, 2)) < 0.01, Values());
        Assert.True(Math.Abs(11.16 - Aciq.Alpha(Aciq.Law.Laplace, 8, oneSided: true)) < 0.01, Values());
        // Distiller's 3-bit Gauss (2.026) disagrees with the paper's 2.15; the expression gives the paper's.
        Assert.True(Math.Abs(2.15 - Aciq.Alpha(Aciq.Law.Gauss, 3)) < 0.01, Values());

        // Independent: Laplace's optimum solves d/dα [α²/(3·4^M) + 2e^(−α)] = 0, i.e. α = 3·4^M·e^(−α): 9.8968 at 8 bits
        // (Distiller's table says 9.8902; its 2–4-bit entries agree with this to 1e-5).
        var a = Aciq.Alpha(Aciq.Law.Laplace, 8);
        Assert.Equal(a, 3 * Math.Pow(4, 8) * Math.Exp(-a), 6);
        Assert.Equal(9.8968, a, 4);
    }

    [Fact]
    public void AciqOnGaussianAndLaplaceData()
    {
        var gauss = QuantTestData.Gaussian(200_000, 0, 1.5, 4);
        var (gh, gs) = Collect(gauss, HistogramMode.Symmetric);
        var g = ClippingMethods.AciqGauss(gh, gs, QuantizationMode.Symmetric);
        Assert.Equal(Math.Abs(gs.Mean) + (3.924 * gs.Std), g.Amax, 1e-3);
        Assert.Equal(3.924 * 1.5, g.Amax, 0.1);

        var laplace = QuantTestData.Laplace(200_000, 0, 0.5, 5);
        var (lh, ls) = Collect(laplace, HistogramMode.Symmetric);
        var l = ClippingMethods.AciqLaplace(lh, ls, QuantizationMode.Symmetric);
        // b fitted as σ/√2 (≈ 0.5 on this sample); 9.897·b ≈ 4.95 lies inside the data (largest |x| ≈ b·ln N ≈ 6.1).
        Assert.Equal(Math.Abs(ls.Mean) + (Aciq.Alpha(Aciq.Law.Laplace, 8) * ls.Std / Math.Sqrt(2)), l.Amax, 1e-9);
        Assert.Equal(9.89 * 0.5, l.Amax, 0.1);
        Assert.True(l.Amax < lh.DomainMax);
        Assert.True(l.ClippedFraction > 0);
    }

    [Fact]
    public void SpikeWithASparseFarTail_MseAndEntropyClipIt_MaxDoesNot()
    {
        // A spike N(0, 0.1) and 100 in a million spread over 5 ≤ |x| ≤ 50.
        var values = QuantTestData.Gaussian(1_000_000, 0, 0.1, 6);
        var tail = QuantTestData.Uniform(100, 5, 50, 16);
        for (var i = 0; i < tail.Length; i++) values[(i * 9_973) + 17] = i % 2 == 0 ? tail[i] : -tail[i];
        values[5] = 50f;
        var (h, s) = Collect(values, HistogramMode.Symmetric);
        var max = ClippingMethods.Max(h, QuantizationMode.Symmetric);
        Assert.Equal(50, max.Amax, 6);
        Assert.Equal(0, max.ClippedFraction);
        var mse = ClippingMethods.Mse(h, QuantizationMode.Symmetric);
        var entropy = ClippingMethods.Entropy(h, QuantizationMode.Symmetric);
        // MSE weighs the tail's clip error against rounding a²/(12·127²) and stops inside the tail (≈ 37 by hand);
        // entropy cuts at the tail's start, where the bins of the last group first hold values.
        Assert.InRange(mse.Amax, 25, 45);
        Assert.InRange(entropy.Amax, 5, 7);
        Assert.True(mse.ClippedFraction > 0);
        Assert.True(entropy.ClippedFraction > 0);
        Assert.True(mse.Mse < max.Mse);
        // KL counts how much mass moves, not how far: clipping 1e-4 of the values from up to 50 down to ~6 costs
        // more squared error than max's coarse step. That is the method, not a slip.
        Assert.True(entropy.Mse > mse.Mse);
        Assert.True(ClippingMethods.MeanStd(h, s, QuantizationMode.Symmetric, 3).Amax < 50);
    }

    [Fact]
    public void SpikeWithIsolatedOutliers_MseClipsThem_EntropyCannot()
    {
        // MSE settles where the clip error f·(X − a)² meets rounding a²/(12·127²): two outliers at ±50 in a million
        // put it near 14. The KL variant cannot clip at all: every candidate below 50 folds the outliers into a last
        // group whose own bins are empty, P > 0 where Q = 0, KL = ∞ (TensorRT's pytorch-quantization behaves the same;
        // MXNet smooths Q to avoid it). The preview shows this case; the page should flag it.
        var values = QuantTestData.Gaussian(1_000_000, 0, 0.1, 6);
        values[123_457] = 50f;
        values[765_431] = -50f;
        var (h, _) = Collect(values, HistogramMode.Symmetric);
        var max = ClippingMethods.Max(h, QuantizationMode.Symmetric);
        var mse = ClippingMethods.Mse(h, QuantizationMode.Symmetric);
        Assert.InRange(mse.Amax, 5, 25);
        Assert.Equal(2e-6, mse.ClippedFraction, 1e-7);
        Assert.True(mse.SqnrDb > max.SqnrDb);
        Assert.Equal(max.Amax, ClippingMethods.Entropy(h, QuantizationMode.Symmetric).Amax, 9);
    }

    [Theory]
    [InlineData(QuantizationMode.Symmetric)]
    [InlineData(QuantizationMode.Unsigned)]
    [InlineData(QuantizationMode.Asymmetric)]
    public void AllZerosGiveAZeroRangeWithoutDividingByZero(QuantizationMode mode)
    {
        var (h, s) = Collect(new float[4000], mode == QuantizationMode.Asymmetric ? HistogramMode.Asymmetric : HistogramMode.Symmetric);
        foreach (var name in AllMethods)
        {
            if (name == "entropy" && mode == QuantizationMode.Asymmetric) continue;
            var r = ClippingMethods.Calibrate(ClippingMethod.Parse(name), h, s, mode);
            Assert.Equal(0, r.Amax);
            Assert.Equal(1, r.Scale);
            Assert.Equal(0, r.ZeroPoint);
            Assert.Equal(0, r.ClippedFraction);
            Assert.Equal(0, r.Mse);
            Assert.Equal(double.PositiveInfinity, r.SqnrDb);
        }
    }

    [Theory]
    [InlineData(QuantizationMode.Symmetric)]
    [InlineData(QuantizationMode.Unsigned)]
    [InlineData(QuantizationMode.Asymmetric)]
    public void OneRepeatedValueIsRepresentedExactly(QuantizationMode mode)
    {
        var values = Enumerable.Repeat(0.75f, 4000).ToArray();
        var (h, s) = Collect(values, mode == QuantizationMode.Asymmetric ? HistogramMode.Asymmetric : HistogramMode.Symmetric);
        foreach (var name in AllMethods)
        {
            if (name == "entropy" && mode == QuantizationMode.Asymmetric) continue;
            var r = ClippingMethods.Calibrate(ClippingMethod.Parse(name), h, s, mode);
            Assert.Equal(0.75, r.Amax, 12);
            Assert.Equal(0, r.ClippedFraction);
            Assert.True(r.Mse < 1e-24, $"{name}: {r.Mse}");
            Assert.True(r.SqnrDb > 200, $"{name}: {r.SqnrDb}");
        }
    }

    [Fact]
    public void UnsignedAfterReluHalvesTheStep()
    {
        var values = QuantTestData.Gaussian(100_000, 0, 1, 7).Select(v => Math.Max(v, 0f)).ToArray();
        var (h, _) = Collect(values, HistogramMode.Symmetric);
        var symmetric = ClippingMethods.Max(h, QuantizationMode.Symmetric);
        var unsigned = ClippingMethods.Max(h, QuantizationMode.Unsigned);
        Assert.Equal(symmetric.Scale * 127 / 255, unsigned.Scale, 12);
        Assert.Equal(0, unsigned.Min);
        Assert.Equal(symmetric.Mse / 4, unsigned.Mse, symmetric.Mse * 0.05);

        var signed = QuantTestData.Gaussian(100, 0, 1, 8);
        var (negative, _) = Collect(signed, HistogramMode.Symmetric, batches: 1);
        var error = Assert.Throws<ArgumentException>(() => ClippingMethods.Max(negative, QuantizationMode.Unsigned));
        Assert.Contains("layer", error.Message);
    }

    [Fact]
    public void AsymmetricMaxMapsTheObservedRange()
    {
        var values = QuantTestData.Uniform(40_000, -1, 3, 9);
        values[0] = -1f;
        values[1] = 3f;
        var (h, _) = Collect(values, HistogramMode.Asymmetric);
        var r = ClippingMethods.Max(h, QuantizationMode.Asymmetric);
        Assert.Equal(4.0 / 255, r.Scale, 9);
        Assert.Equal(64, r.ZeroPoint);   // round(1 / (4/255)) = round(63.75)
        // The rounded zero point shifts the grid to [-64s, 191s] = [-1.0039, 2.9961]: the top 0.0039 is clipped.
        Assert.Equal(191 * 4.0 / 255, r.Grid.Max, 9);
        Assert.Equal((3 - r.Grid.Max) / 4, r.ClippedFraction, 3e-4);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void CoarseToFineMseFindsTheFullCurvesMinimum(int seed)
    {
        var values = seed == 1 ? QuantTestData.Laplace(100_000, 0, 1, 30) : QuantTestData.Gaussian(100_000, 0.5, 2, 31);
        var (h, _) = Collect(values, HistogramMode.Symmetric);
        var full = ClippingMethods.ErrorCurve(h, QuantizationMode.Symmetric).MinBy(p => p.Mse);
        var mse = ClippingMethods.Mse(h, QuantizationMode.Symmetric);
        Assert.Equal(full.Mse, mse.Mse, full.Mse * 1e-3);
        Assert.Equal(full.Amax, mse.Amax, 16 * h.BinWidth);
    }

    [Fact]
    public void AsymmetricMseKeepsAUniformRangeAndCutsAOneSidedTail()
    {
        var uniform = QuantTestData.Uniform(100_000, -1, 3, 32);
        var (u, _) = Collect(uniform, HistogramMode.Asymmetric);
        var mse = ClippingMethods.Mse(u, QuantizationMode.Asymmetric);
        Assert.Equal(-1, mse.Min, 0.05);
        Assert.Equal(3, mse.Max, 0.05);
        Assert.True(mse.Mse <= ClippingMethods.Max(u, QuantizationMode.Asymmetric).Mse);

        // A bulk on [0, 1] and 2 in a million at 200: the top is cut, the bottom kept. By hand the optimum balances
        // 2·f·(200 − a) against 2a/(12·255²) with f = 2e-6: a ≈ 122.
        var skewed = QuantTestData.Uniform(1_000_000, 0, 1, 33);
        skewed[10] = 200f;
        skewed[20] = 200f;
        var (k, _) = Collect(skewed, HistogramMode.Asymmetric);
        var cut = ClippingMethods.Mse(k, QuantizationMode.Asymmetric);
        Assert.InRange(cut.Max, 105, 135);
        Assert.Equal(0, cut.Min, 0.01);
        Assert.True(cut.Mse < ClippingMethods.Max(k, QuantizationMode.Asymmetric).Mse);
    }

    [Fact]
    public void MethodsParseAndName()
    {
        Assert.Equal(new ClippingMethod(ClippingKind.Percentile, 99.999), ClippingMethod.Parse("percentile:99.999"));
        Assert.Equal("nstd:3", ClippingMethod.Parse("nstd").Name);
        Assert.Equal("aciq-gauss", ClippingMethod.Parse("ACIQ-Gauss").Name);
        Assert.Throws<FormatException>(() => ClippingMethod.Parse("percentile:101"));
        Assert.Throws<FormatException>(() => ClippingMethod.Parse("kl"));
    }

    [Fact]
    public void EntropyOnRectifiedDataIsNotPulledDownByTheZeroSpike()
    {
        // ReLU of N(0, 1): half the values exactly 0, the rest a half-normal up to ~5.5. The zero bin holds 2,000 times
        // any other; left in, KL rewards any candidate whose first quantized group keeps it apart, and the search cut at
        // 1.7 σ, clipping 4 % of the positive values (vgg-small lost half a point of INT8 top-1 to it). Levelled
        // (pytorch-quantization's bins[0] = bins[1]) and with the unsigned grid's 256 levels modelled (2^(bits−1+unsigned)),
        // it lands beside MSE's optimum (4.3 here) and clips a few values in a million.
        var values = QuantTestData.Gaussian(1_000_000, 0, 1, 3).Select(v => Math.Max(0f, v)).ToArray();
        var (h, _) = Collect(values, HistogramMode.Symmetric);
        var entropy = ClippingMethods.Entropy(h, QuantizationMode.Unsigned);
        Assert.InRange(entropy.Amax, 3.8, 5.5);
        Assert.InRange(entropy.ClippedFraction, 0, 1e-4);
        Assert.InRange(ClippingMethods.Entropy(h, QuantizationMode.Symmetric).Amax, 3.5, 5.5);
    }
}
