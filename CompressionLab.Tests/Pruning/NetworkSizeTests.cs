using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Tests.Models;
using static TorchSharp.torch.nn;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// Parameters and MACs after pruning, worked out by hand from each architecture (conv MACs = weights ×
/// output pixels, linear MACs = weights; BatchNorm counts γ and β), and checked against a network that
/// is really built thinner.
/// </summary>
public class NetworkSizeTests
{
    [Fact]
    public void Lenet300100Dense()
    {
        // fc1 784·300 + 300 = 235,500; fc2 300·100 + 100 = 30,100; fc 100·10 + 10 = 1,010 → 266,610.
        // MACs: 235,200 + 30,000 + 1,000 = 266,200.
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var size = NetworkSize.Dense(network.Graph);
        Assert.Equal(266_610, size.Parameters);
        Assert.Equal(266_200, size.MacsPerSample);
        Assert.Equal(network.ParameterCount, size.Parameters);
    }

    [Fact]
    public void Lenet5Dense()
    {
        // conv1 6·1·25 + 6 = 156, MACs 150·28·28 = 117,600; conv2 16·6·25 + 16 = 2,416, MACs 2,400·10·10 = 240,000;
        // fc1 400·120 + 120 = 48,120 (MACs 48,000); fc2 120·84 + 84 = 10,164 (10,080); fc 84·10 + 10 = 850 (840).
        // Parameters 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706; MACs 117,600 + 240,000 + 48,000 + 10,080 + 840 = 416,520.
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        var size = NetworkSize.Dense(network.Graph);
        Assert.Equal(61_706, size.Parameters);
        Assert.Equal(416_520, size.MacsPerSample);
        Assert.Equal(network.ParameterCount, size.Parameters);
    }

    [Fact]
    public void VggTinyDense()
    {
        // Convs (no bias) and MACs at 28², 28², 14², 14², 7², 7² pixels:
        //   1·8·9 = 72 (56,448), 8·8·9 = 576 (451,584), 8·16·9 = 1,152 (225,792),
        //   16·16·9 = 2,304 (451,584), 16·24·9 = 3,456 (169,344), 24·24·9 = 5,184 (254,016): 12,744 weights.
        // BatchNorms 2·(8 + 8 + 16 + 16 + 24 + 24) = 192; fc 24·3·3 = 216 inputs: 2,160 + 10 = 2,170 (MACs 2,160).
        // Parameters 12,744 + 192 + 2,170 = 15,106; MACs 1,608,768 + 2,160 = 1,610,928.
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var size = NetworkSize.Dense(network.Graph);
        Assert.Equal(15_106, size.Parameters);
        Assert.Equal(1_610_928, size.MacsPerSample);
        Assert.Equal(network.ParameterCount, size.Parameters);
        Assert.Equal(new NodeSize("stage3.bn2", 48, 0), size.Nodes.Single(n => n.Name == "stage3.bn2"));
    }

    [Fact]
    public void VggSmallDense()
    {
        // Convs: 216, 5,184, 10,368, 20,736, 41,472, 82,944 = 160,920 weights;
        //   MACs 216·784 = 169,344, 5,184·784 = 4,064,256, 10,368·196 = 2,032,128, 20,736·196 = 4,064,256,
        //   41,472·49 = 2,032,128, 82,944·49 = 4,064,256. BatchNorms 2·(24 + 24 + 48 + 48 + 96 + 96) = 672.
        // fc 96·9 = 864 inputs: 8,640 + 10 = 8,650 (MACs 8,640).
        // Parameters 160,920 + 672 + 8,650 = 170,242; MACs 169,344 + 3·4,064,256 + 2·2,032,128 + 8,640 = 16,435,008.
        using var network = ModelZoo.Create(ModelZoo.VggSmall);
        var size = NetworkSize.Dense(network.Graph);
        Assert.Equal(170_242, size.Parameters);
        Assert.Equal(16_435_008, size.MacsPerSample);
        Assert.Equal(network.ParameterCount, size.Parameters);
    }

    [Fact]
    public void VggTinyWithFiveFiltersOfTheLastConvRemovedShrinksTheClassifierByFiveTimesNineInputs()
    {
        // stage3.conv2 keeps 19 of 24 filters: 19·24·9 = 4,104 weights (−1,080), MACs 4,104·49 = 201,096 (−52,920);
        // stage3.bn2 keeps 19 channels: 38 (−10); the classifier reads 216 − 5·3·3 = 171 inputs: 1,710 + 10 = 1,720
        // (−450), MACs 1,710 (−450). Parameters 15,106 − 1,080 − 10 − 450 = 13,566; MACs 1,610,928 − 52,920 − 450 = 1,557,558.
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var size = NetworkSize.Of(network.Graph, [LayerPruning.Channels("stage3.conv2", 0, 3, 7, 11, 23)]);
        Assert.Equal(13_566, size.Parameters);
        Assert.Equal(1_557_558, size.MacsPerSample);
        Assert.Equal(new NodeSize("classifier.fc", 1_720, 1_710), size.Nodes.Single(n => n.Name == "classifier.fc"));
        Assert.Equal(new NodeSize("stage3.conv2", 4_104, 201_096), size.Nodes.Single(n => n.Name == "stage3.conv2"));

        // The same numbers from a network really built with 19 channels there (TorchSharp's own parameter count,
        // and the layer table's MACs from a forward pass).
        using var thinned = ThinVggTiny(lastWidth: 19);
        Assert.Equal(thinned.ParameterCount, size.Parameters);
        Assert.Equal(thinned.Layers.Sum(l => l.MacsPerSample), size.MacsPerSample);
    }

    [Fact]
    public void VggTinyWithTwoFirstFiltersRemovedAndHalfOfTheNextConvsWeights()
    {
        // stage1.conv1 keeps 6 of 8: 6·9 = 54 weights (MACs 54·784 = 42,336); stage1.bn1 12 (−4);
        // stage1.conv2 reads 6 channels: 8·6·9 = 432 weights, half zeroed → 216 left (MACs 216·784 = 169,344).
        // Parameters 15,106 − 18 − 4 − (576 − 216) = 14,724; MACs 1,610,928 − (56,448 − 42,336) − (451,584 − 169,344) = 1,314,576.
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var size = NetworkSize.Of(network.Graph, [LayerPruning.Channels("stage1.conv1", 2, 5), LayerPruning.Elements("stage1.conv2", 0.5)]);
        Assert.Equal(14_724, size.Parameters);
        Assert.Equal(1_314_576, size.MacsPerSample);
    }

    [Fact]
    public void VggSmallWithTenFiltersOfStage2Conv1RemovedShrinksTheNextConvsInputs()
    {
        // stage2.conv1 keeps 38 of 48: 38·24·9 = 8,208 (−2,160), MACs 8,208·196 = 1,608,768 (−423,360); stage2.bn1 −20;
        // stage2.conv2 reads 38 channels: 48·38·9 = 16,416 (−4,320), MACs 16,416·196 = 3,217,536 (−846,720).
        // Parameters 170,242 − 2,160 − 20 − 4,320 = 163,742; MACs 16,435,008 − 423,360 − 846,720 = 15,164,928.
        using var network = ModelZoo.Create(ModelZoo.VggSmall);
        var size = NetworkSize.Of(network.Graph, [new LayerPruning("stage2.conv1", Enumerable.Range(0, 10).Select(i => i * 4).ToArray())]);
        Assert.Equal(163_742, size.Parameters);
        Assert.Equal(15_164_928, size.MacsPerSample);
        Assert.Equal(new NodeSize("stage2.conv2", 16_416, 3_217_536), size.Nodes.Single(n => n.Name == "stage2.conv2"));
    }

    [Fact]
    public void Lenet5WithThreeFiltersOfTheSecondConvRemoved()
    {
        // stage2.conv1 keeps 13 of 16: 13·150 + 13 = 1,963 (−453), MACs 1,950·100 = 195,000 (−45,000);
        // fc1 reads 400 − 3·25 = 325 inputs: 325·120 + 120 = 39,120 (−9,000), MACs 39,000 (−9,000).
        // Parameters 61,706 − 453 − 9,000 = 52,253; MACs 416,520 − 45,000 − 9,000 = 362,520.
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        var size = NetworkSize.Of(network.Graph, [LayerPruning.Channels("stage2.conv1", 0, 1, 15)]);
        Assert.Equal(52_253, size.Parameters);
        Assert.Equal(362_520, size.MacsPerSample);
    }

    [Fact]
    public void Lenet300100WithAThirdOfTheFirstNeuronsRemovedAndSparseOutputLayer()
    {
        // fc1 keeps 200 of 300: 200·784 + 200 = 157,000 (MACs 156,800); fc2 reads 200: 100·200 + 100 = 20,100 (20,000);
        // fc 1,000 weights at 0.25 → 250 zeroed, 750 left + 10 bias = 760 (MACs 750).
        // Parameters 157,000 + 20,100 + 760 = 177,860; MACs 156,800 + 20,000 + 750 = 177,550.
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var size = NetworkSize.Of(network.Graph, [new LayerPruning("hidden.fc1", Enumerable.Range(100, 100).ToArray()), LayerPruning.Elements("classifier.fc", 0.25)]);
        Assert.Equal(177_860, size.Parameters);
        Assert.Equal(177_550, size.MacsPerSample);
    }

    [Fact]
    public void CoupledChannelsAreRemovedFromTheWholeGroup()
    {
        // Dense: conv_a 36 (MACs 36·64 = 2,304), bn_a 8, conv_b 144 + 4 = 148 (9,216), bn_b 8, bn_sum 8,
        // conv_c 24 + 6 = 30 (24·64 = 1,536), fc 960 + 10 = 970 (960): 1,208 parameters, 14,016 MACs.
        var graph = LayerGraphTests.ResidualGraph();
        var dense = NetworkSize.Dense(graph);
        Assert.Equal(1_208, dense.Parameters);
        Assert.Equal(14_016, dense.MacsPerSample);

        // Channels 1 and 3 out of the add: conv_a 2·9 = 18 (1,152), bn_a 4, conv_b 2·2·9 + 2 = 38 (36·64 = 2,304),
        // bn_b 4, bn_sum 4, conv_c 6·2 + 6 = 18 (12·64 = 768), fc unchanged 970 (960): 1,056 parameters, 5,184 MACs.
        var pruned = NetworkSize.Of(graph, [LayerPruning.Channels("conv_a", 1, 3), LayerPruning.Channels("conv_b", 3, 1)]);
        Assert.Equal(1_056, pruned.Parameters);
        Assert.Equal(5_184, pruned.MacsPerSample);

        var error = Assert.Throws<ArgumentException>(() => NetworkSize.Of(graph, [LayerPruning.Channels("conv_a", 1)]));
        Assert.Contains("conv_a, conv_b", error.Message);
    }

    [Fact]
    public void ChannelsOutsideTheLayerAndUnknownLayersAreRefused()
    {
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        Assert.Throws<ArgumentOutOfRangeException>(() => NetworkSize.Of(network.Graph, [LayerPruning.Channels("stage1.conv1", 8)]));
        Assert.Throws<ArgumentException>(() => NetworkSize.Of(network.Graph, [LayerPruning.Channels("stage9.conv1", 0)]));
        Assert.Throws<ArgumentException>(() => NetworkSize.Of(network.Graph, [LayerPruning.Channels("stage1.conv1", 0), LayerPruning.Elements("stage1.conv1", 0.5)]));
    }

    /// <summary>vgg-tiny as ModelZoo writes it, but with <paramref name="lastWidth"/> filters in stage3.conv2.</summary>
    private static ClassifierNetwork ThinVggTiny(int lastWidth)
    {
        var specs = new List<BlockSpec>();
        var (inputs, widths) = (1, new[] { 8, 16, 24 });
        for (var s = 0; s < 3; s++)
        {
            var stage = $"stage{s + 1}";
            var second = s == 2 ? lastWidth : widths[s];
            specs.Add(new(stage, "conv1", [("conv1", Conv2d(inputs, widths[s], 3, padding: 1, bias: false)), ("bn1", BatchNorm2d(widths[s])), ("relu1", ReLU())]));
            specs.Add(new(stage, "conv2", [("conv2", Conv2d(widths[s], second, 3, padding: 1, bias: false)), ("bn2", BatchNorm2d(second)), ("relu2", ReLU()), ("pool", MaxPool2d(2))]));
            inputs = second;
        }
        specs.Add(new("classifier", "fc", [("flatten", Flatten()), ("dropout", Dropout(0.3)), ("fc", Linear(lastWidth * 3 * 3, 10))]));
        return new ClassifierNetwork("vgg-tiny-thinned", 28, 28, 10, specs);
    }
}
