using CompressionLab.Core.Quantization;

namespace CompressionLab.Tests.Quantization;

public class ActivationHistogramTests
{
    [Fact]
    public void FirstBatchSetsTheRangeWithTheMaximumMidLastBin()
    {
        var histogram = new ActivationHistogram(HistogramMode.Symmetric);
        // 2047.5 / 1024 is exact in float, so w = 1/1024 and 1 and 0.5 lie exactly on edges.
        histogram.Add([0f, -1f, 2047.5f / 1024, 0.5f]);
        Assert.Equal(0, histogram.Lower);
        Assert.Equal(1.0 / 1024, histogram.BinWidth);
        Assert.Equal(1, histogram.Counts[2047]);
        Assert.Equal(1, histogram.Counts[0]);      // 0
        Assert.Equal(1, histogram.Counts[1024]);   // |-1| on an edge belongs to the bin starting there
        Assert.Equal(1, histogram.Counts[512]);
        Assert.Equal(4, histogram.Total);
        Assert.Equal(-1, histogram.ValueMin);
        Assert.Equal(2047.5 / 1024, histogram.DomainMax);
    }

    [Theory]
    [InlineData(HistogramMode.Symmetric)]
    [InlineData(HistogramMode.Asymmetric)]
    public void MergingGrowingBatchesEqualsOneShotOverTheFinalRange(HistogramMode mode)
    {
        // Each batch is wider than the last, so the range grows 2^k-fold several times (and, asymmetric, both ways).
        var batches = new[]
        {
            QuantTestData.Gaussian(5000, 0.2, 0.1, 1),
            QuantTestData.Gaussian(5000, 0, 1, 2),
            QuantTestData.Laplace(5000, -1, 5, 3),
            QuantTestData.Uniform(3000, -0.5, 40, 4),
        };
        var merged = new ActivationHistogram(mode);
        var widths = new List<double>();
        foreach (var batch in batches)
        {
            merged.Add(batch);
            widths.Add(merged.BinWidth);
        }
        Assert.True(widths[^1] >= 8 * widths[0], "the range must really have grown for this test to mean anything");

        var oneShot = ActivationHistogram.WithRange(mode, merged.Lower, merged.BinWidth);
        oneShot.Add(batches.SelectMany(b => b).ToArray());
        Assert.Equal(merged.Lower, oneShot.Lower);
        Assert.Equal(merged.BinWidth, oneShot.BinWidth);
        Assert.Equal(merged.Counts, oneShot.Counts);
        Assert.Equal(batches.Sum(b => b.Length), merged.Total);
    }

    [Theory]
    [InlineData(HistogramMode.Symmetric)]
    [InlineData(HistogramMode.Asymmetric)]
    public void WhenTheFirstBatchHoldsTheExtremesMergingEqualsAFreshOneShotHistogram(HistogramMode mode)
    {
        var first = QuantTestData.Gaussian(4000, 0, 1, 7);
        first[0] = -6f;
        first[1] = 6f;
        var rest = QuantTestData.Gaussian(4000, 0, 1, 8);
        var merged = new ActivationHistogram(mode);
        merged.Add(first);
        merged.Add(rest);
        var fresh = new ActivationHistogram(mode);
        fresh.Add([.. first, .. rest]);
        Assert.Equal(fresh.Lower, merged.Lower);
        Assert.Equal(fresh.BinWidth, merged.BinWidth);
        Assert.Equal(fresh.Counts, merged.Counts);
    }

    [Fact]
    public void ASingleValueWaitsUntilASecondValueGivesASpan()
    {
        var histogram = new ActivationHistogram(HistogramMode.Asymmetric);
        histogram.Add(new float[100]);
        Assert.True(histogram.IsSingleValue);
        Assert.Equal(0, histogram.BinWidth);
        Assert.Equal(100, histogram.Counts[0]);
        histogram.Add([-1f, 1f]);
        Assert.False(histogram.IsSingleValue);
        Assert.Equal(-1, histogram.Lower);
        Assert.Equal(102, histogram.Total);
        Assert.Equal(100, histogram.Counts[(int)Math.Floor(1 / histogram.BinWidth)]);   // the zeros, at their own bin
        Assert.Equal(102, histogram.Counts.Sum());
    }

    [Fact]
    public void NonFiniteValueNamesTheLayerAndTensorAndChangesNothing()
    {
        var histogram = new ActivationHistogram(HistogramMode.Symmetric, "stage2.conv1", "output");
        histogram.Add([1f, 2f]);
        var error = Assert.Throws<NonFiniteTensorException>(() => histogram.Add([3f, float.NaN]));
        Assert.Equal("stage2.conv1", error.Layer);
        Assert.Equal("output", error.Tensor);
        Assert.Equal(1, error.Index);
        Assert.Contains("stage2.conv1", error.Message);
        Assert.Contains("NaN", error.Message);
        Assert.Equal(2, histogram.Total);
        Assert.Throws<NonFiniteTensorException>(() => histogram.Add([float.PositiveInfinity]));
    }
}
