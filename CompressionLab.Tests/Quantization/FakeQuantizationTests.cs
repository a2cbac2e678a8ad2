using CompressionLab.Core.Quantization;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

public class FakeQuantizationTests
{
    [Theory]
    [InlineData(QuantizationMode.Symmetric, -2.0, 2.0)]
    [InlineData(QuantizationMode.Asymmetric, -0.7, 3.1)]
    [InlineData(QuantizationMode.Unsigned, 0.0, 1.3)]
    public void PerTensorErrorIsWithinHalfAStepInsideTheRange(QuantizationMode mode, double min, double max)
    {
        var grid = QuantizationGrid.For(mode, min, max);
        var values = QuantTestData.Uniform(10_000, grid.Min, grid.Max, 21);
        using var x = tensor(values);
        using var q = FakeQuantization.PerTensor(x, grid);
        using var error = (q - x).abs().max();
        Assert.True(error.item<float>() <= (grid.Scale / 2) + 1e-6, $"max error {error.item<float>()} vs half step {grid.Scale / 2}");
        // Every output is a grid point.
        var output = q.data<float>().ToArray();
        Assert.All(output, v => Assert.Equal(Math.Round(v / grid.Scale), v / grid.Scale, 3));
    }

    [Fact]
    public void PerTensorClampsOutsideTheRangeAndAgreesWithTheScalarGrid()
    {
        var grid = QuantizationGrid.For(QuantizationMode.Symmetric, -1, 1);
        using var x = tensor(new float[] { -5f, -1f, 0.3f, 0f, 1f, 7f });
        using var q = FakeQuantization.PerTensor(x, grid);
        var expected = new[] { -5.0, -1, 0.3, 0, 1, 7 }.Select(v => (float)grid.RoundTrip(v)).ToArray();
        Assert.Equal(expected, q.data<float>().ToArray());
        Assert.Equal(1f, q[5].item<float>(), 6);
    }

    [Fact]
    public void PerChannelUsesEachChannelsOwnStep()
    {
        // Four output channels whose ranges differ by 1000×: per-tensor would crush channel 0.
        float[] scales = [0.001f, 0.1f, 1f, 0.5f];
        var values = QuantTestData.Gaussian(4 * 27, 0, 1, 22);
        for (var i = 0; i < values.Length; i++) values[i] *= scales[i / 27];
        using var weight = tensor(values).view(4, 3, 3, 3);
        var grids = FakeQuantization.ChannelGrids("stage1.conv1", weight);
        using var q = FakeQuantization.PerChannel(weight, grids);
        for (var c = 0; c < 4; c++)
        {
            using var error = (q[c] - weight[c]).abs().max();
            Assert.True(error.item<float>() <= (grids[c].Scale / 2) + 1e-7, $"channel {c}");
            Assert.Equal(values.Skip(c * 27).Take(27).Max(v => Math.Abs(v)) / 127.0, grids[c].Scale, 6);
        }
    }

    [Fact]
    public void NonFiniteWeightNamesTheLayer()
    {
        using var weight = tensor(new float[] { 1, 2, float.NaN, 4 }).view(2, 2);
        var error = Assert.Throws<NonFiniteTensorException>(() => FakeQuantization.ChannelGrids("classifier.fc", weight));
        Assert.Equal("classifier.fc", error.Layer);
        Assert.Equal("weight", error.Tensor);
        Assert.Contains("classifier.fc", error.Message);
    }
}
