using CompressionLab.Core.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace CompressionLab.Tests.Models;

/// <summary>
/// The layer graph of every zoo model, checked against the architectures as written in ModelZoo
/// (expected values worked out by hand from the channel widths and feature-map sizes), and a
/// hand-built residual graph for what no zoo model has yet: an add that couples channels.
/// </summary>
public class LayerGraphTests
{
    /// <summary>One expected row: layer, its BatchNorm, its consumers as (layer, inputs per channel).</summary>
    private static void AssertLayer(LayerGraph graph, string layer, string? norm, params (string Layer, long InputsPerChannel)[] consumers)
    {
        var channels = graph.Layer(layer);
        Assert.Equal(norm, channels.Norm);
        Assert.Equal(norm is not null, channels.NormFollowsDirectly); // in the zoo every BatchNorm comes straight after its conv
        Assert.Equal(consumers, channels.Consumers.Select(c => (c.Layer, c.InputsPerChannel)).ToArray());
        Assert.Equal([layer], channels.Group.Layers); // plain chains: no channel is shared
        Assert.Empty(channels.Group.SharedNorms);
    }

    [Fact]
    public void Lenet300100IsAChainOfLinearLayersOnTheFlattenedImage()
    {
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var graph = network.Graph;
        Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], graph.Layers.Select(l => l.Name));
        AssertLayer(graph, "hidden.fc1", null, ("hidden.fc2", 1));
        AssertLayer(graph, "hidden.fc2", null, ("classifier.fc", 1));
        AssertLayer(graph, "classifier.fc", null);
        // fc1 reads the image flattened: its one grey channel feeds 28·28 = 784 inputs.
        var input = graph.Layer("hidden.fc1").Input;
        Assert.True(input.Source.IncludesNetworkInput);
        Assert.False(input.Source.CanPrune);
        Assert.Equal(784, input.InputsPerChannel);
        Assert.Equal(4, graph.Groups.Count); // the input, and one per layer
    }

    [Fact]
    public void Lenet5FlattensSixteenFiveByFiveMapsIntoFc1()
    {
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        var graph = network.Graph;
        Assert.Equal(["stage1.conv1", "stage2.conv1", "classifier.fc1", "classifier.fc2", "classifier.fc"], graph.Layers.Select(l => l.Name));
        // 28 → conv 5×5 pad 2 → 28 → pool → 14 → conv 5×5 → 10 → pool → 5: each of stage2's 16 channels is 5·5 = 25 fc1 inputs.
        AssertLayer(graph, "stage1.conv1", null, ("stage2.conv1", 1));
        AssertLayer(graph, "stage2.conv1", null, ("classifier.fc1", 25));
        AssertLayer(graph, "classifier.fc1", null, ("classifier.fc2", 1));
        AssertLayer(graph, "classifier.fc2", null, ("classifier.fc", 1));
        AssertLayer(graph, "classifier.fc", null);
        Assert.Equal((75L, 25L), graph.Layer("stage2.conv1").Consumers[0].InputsOf(3)); // channel 3 → fc1 inputs 75 … 99
        Assert.Equal(new FeatureShape(400, 1, 1), graph.Node("classifier.flatten").Output);
    }

    [Theory]
    [InlineData(ModelZoo.VggTiny)]
    [InlineData(ModelZoo.VggSmall)]
    public void VggLayersAreNormalisedByTheirBatchNormAndTheLastConvFeedsNineInputsPerChannel(string architecture)
    {
        using var network = ModelZoo.Create(architecture);
        var graph = network.Graph;
        AssertLayer(graph, "stage1.conv1", "stage1.bn1", ("stage1.conv2", 1));
        AssertLayer(graph, "stage1.conv2", "stage1.bn2", ("stage2.conv1", 1));
        AssertLayer(graph, "stage2.conv1", "stage2.bn1", ("stage2.conv2", 1));
        AssertLayer(graph, "stage2.conv2", "stage2.bn2", ("stage3.conv1", 1));
        AssertLayer(graph, "stage3.conv1", "stage3.bn1", ("stage3.conv2", 1));
        // 28 → 14 → 7 → 3 after three 2×2 pools (7/2 rounds down), so channel c is fc inputs 9c … 9c+8.
        AssertLayer(graph, "stage3.conv2", "stage3.bn2", ("classifier.fc", 9));
        AssertLayer(graph, "classifier.fc", null);
        Assert.Equal(8, graph.Groups.Count);
        var width = architecture == ModelZoo.VggTiny ? 24 : 96;
        Assert.Equal(new FeatureShape(width, 3, 3), graph.Node("stage3.pool").Output);
        Assert.Equal(GraphOp.PassThrough, graph.Node("classifier.dropout").Op);
    }

    [Fact]
    public void FlattenMappingIsTheOneTheNetworkReallyUses()
    {
        // Independent of the graph's arithmetic: push a map with only channel 5 lit through vgg-tiny's own flatten.
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var consumer = network.Graph.Layer("stage3.conv2").Consumers.Single();
        using var scope = NewDisposeScope();
        var maps = zeros(1, 24, 3, 3);
        maps[0, 5].fill_(1);
        var features = network.ModuleNamed("classifier.flatten").call(maps)[0];
        var lit = Enumerable.Range(0, (int)features.shape[0]).Where(i => features[i].item<float>() != 0).ToArray();
        var (first, count) = consumer.InputsOf(5);
        Assert.Equal(Enumerable.Range((int)first, (int)count), lit);
        Assert.Equal(45, first);
    }

    [Fact]
    public void OutputShapesAgreeWithTheLayerTable()
    {
        foreach (var architecture in ModelZoo.Architectures)
        {
            using var network = ModelZoo.Create(architecture);
            foreach (var layer in network.Layers)
            {
                var node = network.Graph.Node(layer.Name);
                Assert.Equal(layer.WeightShape, node.WeightShape);
                Assert.Equal((layer.OutputHeight, layer.OutputWidth), ((int)node.Output.Height, (int)node.Output.Width));
            }
        }
    }

    [Fact]
    public void ABatchNormAfterTheReluInTheNextBlockStillNormalisesTheConv()
    {
        // Not "a BatchNorm right after the conv in its block": here bn1 sits in the next block, behind a ReLU.
        using var network = PruningShapes.ConvReluThenNorm();
        var conv = network.Graph.Layer("stage1.conv1");
        Assert.Equal("stage1.bn1", conv.Norm);
        Assert.False(conv.NormFollowsDirectly); // a ReLU between them: it cannot be folded
        Assert.Equal(("classifier.fc", 4L), (conv.Consumers.Single().Layer, conv.Consumers.Single().InputsPerChannel)); // 2×2 pixels per channel
    }

    [Fact]
    public void AnOperationTheGraphDoesNotKnowIsRefused()
    {
        // Softmax mixes channels; the graph must not pass channels through it as if it did not.
        var specs = new List<BlockSpec>
        {
            new("hidden", "fc1", [("flatten", Flatten()), ("fc1", Linear(4, 3)), ("softmax", Softmax(1))]),
            new("classifier", "fc", [("fc", Linear(3, 2))]),
        };
        var error = Assert.Throws<NotSupportedException>(() => new ClassifierNetwork("softmax-mlp", 2, 2, 2, specs));
        Assert.Contains("hidden.softmax", error.Message);
    }

    [Fact]
    public void AResidualAddCouplesTheChannelsOfItsInputs()
    {
        var graph = ResidualGraph();
        var a = graph.Layer("conv_a");
        var b = graph.Layer("conv_b");
        Assert.Same(a.Group, b.Group);
        Assert.Equal(["conv_a", "conv_b"], a.Group.Layers);
        Assert.Equal(["bn_sum"], a.Group.SharedNorms); // after the add it normalises both
        Assert.True(a.Group.CanPrune);
        Assert.Equal("bn_a", a.Norm);
        Assert.Equal("bn_b", b.Norm);
        Assert.True(a.NormFollowsDirectly);
        // conv_a's channels reach conv_b directly and conv_c through the add; conv_b's only through the add.
        Assert.Equal(["conv_b", "conv_c"], a.Consumers.Select(c => c.Layer));
        Assert.Equal(["conv_c"], b.Consumers.Select(c => c.Layer));
        var c = graph.Layer("conv_c");
        Assert.Same(a.Group, c.Input.Source);
        Assert.Equal([c.Name], c.Group.Layers);
        Assert.Equal(("fc", 16L), (c.Consumers.Single().Layer, c.Consumers.Single().InputsPerChannel)); // 4×4 after the pool
        Assert.Same(a.Group, graph.GroupNormalisedBy("bn_sum"));
        Assert.Equal(4, graph.Groups.Count); // input, {conv_a, conv_b}, conv_c, fc
    }

    [Fact]
    public void AnAddWithTheNetworkInputCannotBePruned()
    {
        var graph = LayerGraph.FromNodes(
        [
            GraphNode.Input("input", new(1, 4, 4)),
            GraphNode.Layer("conv", GraphOp.Conv, "input", [1, 1, 3, 3], false, new(1, 4, 4)),
            GraphNode.Add("skip", ["input", "conv"], new(1, 4, 4)),
        ]);
        Assert.True(graph.Layer("conv").Group.IncludesNetworkInput);
        Assert.False(graph.Layer("conv").Group.CanPrune);
    }

    [Fact]
    public void AnAddOfDifferentShapesIsRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => LayerGraph.FromNodes(
        [
            GraphNode.Input("input", new(1, 4, 4)),
            GraphNode.Layer("conv", GraphOp.Conv, "input", [2, 1, 3, 3], false, new(2, 4, 4)),
            GraphNode.Add("skip", ["input", "conv"], new(2, 4, 4)),
        ]));
        Assert.Contains("skip", error.Message);
    }

    /// <summary>
    /// input 1×8×8 → conv_a (4 filters 3×3, no bias) → bn_a → relu_a ─┬→ conv_b (4×4×3×3, bias) → bn_b ─→ add → bn_sum → relu
    ///                                                                  └──────────────────────────────────┘
    /// → conv_c (6×4×1×1, bias) → pool 2×2 → 6×4×4 → flatten 96 → fc (10×96, bias). A ResNet basic block in miniature.
    /// </summary>
    internal static LayerGraph ResidualGraph() => LayerGraph.FromNodes(
    [
        GraphNode.Input("input", new(1, 8, 8)),
        GraphNode.Layer("conv_a", GraphOp.Conv, "input", [4, 1, 3, 3], false, new(4, 8, 8)),
        GraphNode.Norm("bn_a", "conv_a", true, new(4, 8, 8)),
        GraphNode.PassThrough("relu_a", "bn_a", new(4, 8, 8)),
        GraphNode.Layer("conv_b", GraphOp.Conv, "relu_a", [4, 4, 3, 3], true, new(4, 8, 8)),
        GraphNode.Norm("bn_b", "conv_b", true, new(4, 8, 8)),
        GraphNode.Add("add", ["relu_a", "bn_b"], new(4, 8, 8)),
        GraphNode.Norm("bn_sum", "add", true, new(4, 8, 8)),
        GraphNode.PassThrough("relu", "bn_sum", new(4, 8, 8)),
        GraphNode.Layer("conv_c", GraphOp.Conv, "relu", [6, 4, 1, 1], true, new(6, 8, 8)),
        GraphNode.PassThrough("pool", "conv_c", new(6, 4, 4)),
        GraphNode.Flatten("flatten", "pool", new(96, 1, 1)),
        GraphNode.Layer("fc", GraphOp.Linear, "flatten", [10, 96], true, new(10, 1, 1)),
    ]);
}

/// <summary>Hand-built networks whose BatchNorm is not where the zoo puts it.</summary>
internal static class PruningShapes
{
    /// <summary>2×2 images → stage1.conv1 (4 filters 1×1, bias) → relu1 | bn1 → flatten → classifier.fc (16 → 2).</summary>
    public static ClassifierNetwork ConvReluThenNorm()
    {
        var specs = new List<BlockSpec>
        {
            new("stage1", "conv1", [("conv1", Conv2d(1, 4, 1)), ("relu1", ReLU())]),
            new("stage1", null, [("bn1", BatchNorm2d(4))]),
            new("classifier", "fc", [("flatten", Flatten()), ("fc", Linear(16, 2))]),
        };
        return new ClassifierNetwork("conv-relu-norm", 2, 2, 2, specs);
    }
}
