using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

public class LayerTableTests
{
    [Fact]
    public void VggSmallTableMatchesHandCalculation()
    {
        using var net = ModelZoo.Create(ModelZoo.VggSmall);
        var names = net.Layers.Select(l => l.Name).ToArray();
        Assert.Equal(
            ["stage1.conv1", "stage1.conv2", "stage2.conv1", "stage2.conv2", "stage3.conv1", "stage3.conv2", "classifier.fc"],
            names);

        var conv = net.Layer("stage2.conv1");
        Assert.Equal(LayerKind.Conv, conv.Kind);
        Assert.Equal([48L, 24, 3, 3], conv.WeightShape);
        Assert.Equal((14, 14), (conv.OutputHeight, conv.OutputWidth));
        Assert.Equal("stage2", conv.Stage);
        Assert.Equal(48L * 24 * 9, conv.Parameters); // no bias before BN
        Assert.Equal(48L * 24 * 9 * 14 * 14, conv.MacsPerSample);

        var fc = net.Layer("classifier.fc");
        Assert.Equal([10L, 96 * 3 * 3], fc.WeightShape);
        Assert.Equal(10L * 864 + 10, fc.Parameters);
        Assert.Equal(10L * 864, fc.MacsPerSample);
        Assert.Equal(net.Blocks.Count - 1, fc.BlockIndex);
    }

    [Fact]
    public void ParameterNamesFollowLayerNames()
    {
        using var net = ModelZoo.Create(ModelZoo.Lenet300100);
        var keys = net.state_dict().Keys.ToArray();
        Assert.Contains("hidden.fc1.weight", keys);
        Assert.Contains("classifier.fc.bias", keys);
        Assert.Equal(784L * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10, net.ParameterCount);
    }

    [Fact]
    public void StudentHasAboutATenthOfTeacherParameters()
    {
        using var teacher = ModelZoo.Create(ModelZoo.VggSmall);
        using var student = ModelZoo.Create(ModelZoo.VggTiny);
        var ratio = (double)student.ParameterCount / teacher.ParameterCount;
        Assert.InRange(ratio, 0.07, 0.14);
        Assert.Equal(teacher.Layers.Select(l => (l.Stage, l.OutputHeight)), student.Layers.Select(l => (l.Stage, l.OutputHeight)));
    }

    [Fact]
    public void ForwardFromABlockInputEqualsFullForward()
    {
        manual_seed(1);
        using var net = ModelZoo.Create(ModelZoo.Lenet5);
        net.eval();
        using var scope = NewDisposeScope();
        var x = randn(4, 1, 28, 28);
        var full = net.call(x);
        var prefix = net.ForwardRange(0, 2, x);
        var rest = net.ForwardFrom(2, prefix);
        Assert.True(full.allclose(rest));
        Assert.Equal([4L, 10], full.shape);
    }

    [Fact]
    public void UnknownLayerNamesTheKnownOnes()
    {
        using var net = ModelZoo.Create(ModelZoo.Lenet5);
        var error = Assert.Throws<ArgumentException>(() => net.Layer("stage9.conv1"));
        Assert.Contains("stage1.conv1", error.Message);
        Assert.Throws<ArgumentException>(() => ModelZoo.Create("resnet-1000"));
    }
}
