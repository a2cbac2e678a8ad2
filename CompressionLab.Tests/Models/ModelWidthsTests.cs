using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Models;

/// <summary>Zoo architectures at other widths (what a thinned model is): shapes, layer graph and counts follow the widths given.</summary>
public class ModelWidthsTests
{
    [Fact]
    public void ALenet5AtOtherWidthsHasThoseShapesAndTheCountsWorkedOutByHand()
    {
        using var net = ModelZoo.Create(ModelZoo.Lenet5, widths: new Dictionary<string, int> { ["stage1.conv1"] = 4, ["stage2.conv1"] = 10, ["classifier.fc2"] = 50 });

        Assert.Equal(["4×1×5×5", "10×4×5×5", "120×250", "50×120", "10×50"], net.Layers.Select(l => l.ShapeText));
        Assert.Equal(new Dictionary<string, int> { ["stage1.conv1"] = 4, ["stage2.conv1"] = 10, ["classifier.fc1"] = 120, ["classifier.fc2"] = 50 }, net.Widths);
        // By hand (28×28 → conv1 28×28 → pool 14×14 → conv2 10×10 → pool 5×5): conv1 4·25+4 params, 100·784 MACs;
        // conv2 10·4·25+10, 1000·100; fc1 (10·25)·120+120; fc2 120·50+50; fc 50·10+10.
        var size = NetworkSize.Dense(net.Graph);
        Assert.Equal(104 + 1010 + 30120 + 6050 + 510, size.Parameters);
        Assert.Equal((100L * 784) + (1000L * 100) + 30000 + 6000 + 500, size.MacsPerSample);
        Assert.Equal(net.ParameterCount, size.Parameters);
        Assert.Equal(25, net.Graph.Layer("stage2.conv1").Consumers.Single().InputsPerChannel); // 5×5 features per channel after the flatten
    }

    [Fact]
    public void TheDefaultWidthsGiveTheZooModelAndNoWidths()
    {
        using var given = ModelZoo.Create(ModelZoo.VggSmall, widths: ModelZoo.DefaultWidths(ModelZoo.VggSmall));
        using var plain = ModelZoo.Create(ModelZoo.VggSmall);

        Assert.Null(given.Widths);
        Assert.Null(plain.Widths);
        Assert.Equal(plain.Layers.Select(l => l.ShapeText), given.Layers.Select(l => l.ShapeText));
        Assert.Equal(["stage1.conv1", "stage1.conv2", "stage2.conv1", "stage2.conv2", "stage3.conv1", "stage3.conv2"], ModelZoo.DefaultWidths(ModelZoo.VggSmall).Keys);
        Assert.Equal(plain.Layers.SkipLast(1).Select(l => (int)l.OutputChannels), ModelZoo.DefaultWidths(ModelZoo.VggSmall).Values);
    }

    [Theory]
    [InlineData("classifier.fc", 5, "output layer")]
    [InlineData("stage4.conv1", 5, "stage4.conv1")]
    [InlineData("stage1.conv1", 0, "at least one")]
    public void WidthsForNoSuchLayerOrBelowOneAreRefused(string layer, int width, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => ModelZoo.Create(ModelZoo.VggTiny, widths: new Dictionary<string, int> { [layer] = width }));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
