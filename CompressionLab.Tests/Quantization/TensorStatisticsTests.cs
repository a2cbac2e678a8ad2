using CompressionLab.Core.Quantization;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

public class TensorStatisticsTests
{
    [Fact]
    public void TwoBatchesByHand()
    {
        var stats = new TensorStatistics("conv1", "output");
        // Batch 1: samples [1, 3] and [-2, 0]; batch 2: one sample [5, -1].
        using (var b1 = tensor(new double[] { 1, 3, -2, 0 }).view(2, 2)) stats.Add(b1);
        using (var b2 = tensor(new double[] { 5, -1 }).view(1, 2)) stats.Add(b2);
        Assert.Equal(-2, stats.Min);
        Assert.Equal(5, stats.Max);
        Assert.Equal((1 + -2 + -1) / 3.0, stats.AvgMin, 12);   // per-sample minima 1, -2, -1
        Assert.Equal((3 + 0 + 5) / 3.0, stats.AvgMax, 12);
        double[] all = [1, 3, -2, 0, 5, -1];
        var mean = all.Average();
        Assert.Equal(mean, stats.Mean, 12);
        Assert.Equal(Math.Sqrt(all.Select(x => (x - mean) * (x - mean)).Average()), stats.Std, 12);
        Assert.Equal([2L, 2L], stats.Shape);
        Assert.Equal("(2, 2)", stats.ShapeText);
        Assert.Equal(2, stats.Batches);
    }

    [Fact]
    public void OneValuePerSampleFallsBackToOneExtremePerBatch()
    {
        var stats = new TensorStatistics("fc", "output");
        using (var b1 = tensor(new double[] { 1, 4, -3 }).view(3, 1)) stats.Add(b1);
        using (var b2 = tensor(new double[] { 2, 0 }).view(2, 1)) stats.Add(b2);
        Assert.Equal((-3 + 0) / 2.0, stats.AvgMin, 12);
        Assert.Equal((4 + 2) / 2.0, stats.AvgMax, 12);
    }

    [Fact]
    public void ManyBatchesAgreeWithTheConcatenatedData()
    {
        var stats = new TensorStatistics("l", "input");
        var all = new List<float>();
        for (var b = 0; b < 5; b++)
        {
            var values = QuantTestData.Gaussian(64 * 10, b, 1 + b, 10 + b);
            all.AddRange(values);
            using var batch = tensor(values).view(64, 10);
            stats.Add(batch);
        }
        var mean = all.Average(x => (double)x);
        Assert.Equal(mean, stats.Mean, 9);
        Assert.Equal(Math.Sqrt(all.Average(x => (x - mean) * (x - mean))), stats.Std, 9);
        Assert.Equal(all.Min(), stats.Min, 6);
    }

    [Fact]
    public void NonFiniteValueNamesTheLayerAndLeavesTheStatisticsUnchanged()
    {
        var stats = new TensorStatistics("stage1.conv2", "input");
        using (var good = tensor(new float[] { 1, 2 }).view(1, 2)) stats.Add(good);
        using var bad = tensor(new float[] { 1, 2, float.NegativeInfinity, 4 }).view(2, 2);
        var error = Assert.Throws<NonFiniteTensorException>(() => stats.Add(bad));
        Assert.Equal("stage1.conv2", error.Layer);
        Assert.Equal("input", error.Tensor);
        Assert.Equal(2, error.Index);
        Assert.Contains("-Inf", error.Message);
        Assert.Equal(2, stats.Max);
        Assert.Equal(1, stats.Batches);
    }
}
