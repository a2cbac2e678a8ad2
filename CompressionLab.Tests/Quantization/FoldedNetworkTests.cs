using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

[Collection(SerialCollection.Name)]
public class FoldedNetworkTests
{
    /// <summary>A zoo model (optionally with other widths, as a thinned one has) with random weights and non-trivial BatchNorm statistics.</summary>
    internal static ClassifierNetwork RandomModel(string architecture, int seed, IReadOnlyDictionary<string, int>? widths = null)
    {
        manual_seed(seed);
        var network = ModelZoo.Create(architecture, widths: widths);
        using var noGrad = no_grad();
        foreach (var module in network.modules())
        {
            if (module is not TorchSharp.Modules.BatchNorm norm) continue;
            var channels = norm.running_mean!.shape[0];
            norm.running_mean!.copy_(randn(channels) * 0.3);
            norm.running_var!.copy_(rand(channels) + 0.3);
            norm.weight!.copy_(1 + (randn(channels) * 0.3));
            norm.bias!.copy_(0.2 + (randn(channels) * 0.2));
        }
        network.eval();
        return network;
    }

    public static TheoryData<string, bool> Models() => new()
    {
        { ModelZoo.VggSmall, false },
        { ModelZoo.VggTiny, false },
        { ModelZoo.Lenet5, false },
        { ModelZoo.Lenet300100, false },
        { ModelZoo.VggSmall, true },
        { ModelZoo.Lenet5, true },
        { ModelZoo.Lenet300100, true },
    };

    private static IReadOnlyDictionary<string, int>? Thinned(string architecture, bool thinned) => !thinned ? null : architecture switch
    {
        ModelZoo.VggSmall => new Dictionary<string, int> { ["stage1.conv1"] = 13, ["stage2.conv2"] = 29, ["stage3.conv1"] = 50 },
        ModelZoo.Lenet5 => new Dictionary<string, int> { ["stage1.conv1"] = 4, ["classifier.fc1"] = 77 },
        ModelZoo.Lenet300100 => new Dictionary<string, int> { ["hidden.fc1"] = 123 },
        _ => throw new ArgumentException(architecture),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void FoldedLogitsEqualTheNetworksEvalModeLogits(string architecture, bool thinned)
    {
        using var network = RandomModel(architecture, 11, Thinned(architecture, thinned));
        var before = PruningTestModels.Snapshot(network);
        using var images = randn(16, 1, 28, 28);
        using var folded = FoldedNetwork.Fold(network);
        using var noGrad = no_grad();
        using var expected = network.call(images);
        using var actual = folded.Forward(images);

        Assert.Equal(expected.shape, actual.shape);
        using var difference = (actual - expected).abs().max();
        using var scale = expected.abs().max();
        // 1e-5 relative to the logits' size (random weights give logits of order 1 to 10).
        Assert.True(difference.item<float>() <= 1e-5 * Math.Max(1, scale.item<float>()), $"max |Δ| {difference.item<float>()} with logits up to {scale.item<float>()}");
        Assert.Equal(network.Layers.Select(l => l.Name), folded.Layers.Select(l => l.Name));
        Assert.Equal([.. network.Layers.Select(l => false).SkipLast(1), true], folded.Layers.Select(l => l.IsOutputLayer));
        PruningTestModels.AssertSameSnapshot(before, PruningTestModels.Snapshot(network));
    }

    [Fact]
    public void FoldedWeightIsTheHandFoldOfConvAndBatchNorm()
    {
        using var network = RandomModel(ModelZoo.VggTiny, 3);
        using var folded = FoldedNetwork.Fold(network);
        var conv = (TorchSharp.Modules.Conv2d)network.ModuleNamed("stage2.conv1");
        var norm = (TorchSharp.Modules.BatchNorm)network.ModuleNamed("stage2.bn1");
        using var noGrad = no_grad();
        var layer = folded.Layer("stage2.conv1");
        for (var c = 0; c < 3; c++)
        {
            var gamma = norm.weight![c].item<float>();
            var beta = norm.bias![c].item<float>();
            var mean = norm.running_mean![c].item<float>();
            var variance = norm.running_var![c].item<float>();
            var factor = gamma / Math.Sqrt(variance + 1e-5);
            Assert.Equal(conv.weight![c, 2, 1, 0].item<float>() * factor, layer.Weight[c, 2, 1, 0].item<float>(), 5);
            Assert.Equal(beta - (mean * factor), layer.Bias[c].item<float>(), 5);
        }
        // A layer without BatchNorm keeps its own weight and bias.
        var fc = (TorchSharp.Modules.Linear)network.ModuleNamed("classifier.fc");
        using var same = folded.Layer("classifier.fc").Weight.eq(fc.weight!).all();
        Assert.True(same.item<bool>());
    }

    private sealed class Recorder(Func<string, Tensor, Tensor>? replace = null) : IFoldedObserver
    {
        public List<(string Layer, string Role, long[] Shape, double Min)> Seen { get; } = [];

        public Tensor Input(string layer, Tensor x)
        {
            Seen.Add((layer, "input", x.shape, x.min().item<float>()));
            return replace?.Invoke(layer, x) ?? x;
        }

        public void Output(string layer, Tensor y) => Seen.Add((layer, "output", y.shape, y.min().item<float>()));
    }

    [Fact]
    public void ObserverSeesEveryLayersInputAndOutputInOrderAndCanReplaceTheInput()
    {
        using var network = RandomModel(ModelZoo.Lenet5, 5);
        using var folded = FoldedNetwork.Fold(network);
        using var images = randn(4, 1, 28, 28);
        var recorder = new Recorder();
        using var plain = folded.Forward(images);
        using var observed = folded.Forward(images, recorder);
        using var same = plain.eq(observed).all();
        Assert.True(same.item<bool>());
        Assert.Equal(
            network.Layers.SelectMany(l => new[] { (l.Name, "input"), (l.Name, "output") }),
            recorder.Seen.Select(s => (s.Layer, s.Role)));
        Assert.Equal([4L, 1, 28, 28], recorder.Seen[0].Shape);
        Assert.Equal([4L, 6, 28, 28], recorder.Seen[1].Shape);       // stage1.conv1 output, before ReLU
        Assert.True(recorder.Seen[1].Min < 0);                      // pre-ReLU values are seen
        Assert.True(recorder.Seen[2].Min >= 0);                     // stage2.conv1 input: after ReLU and pool

        // Replacing the output layer's input by zeros leaves its bias as the logits.
        var zeroing = new Recorder((layer, x) => layer == "classifier.fc" ? zeros_like(x) : x);
        using var logits = folded.Forward(images, zeroing);
        using var bias = folded.Layer("classifier.fc").Bias.expand(4, -1);
        using var equal = logits.eq(bias).all();
        Assert.True(equal.item<bool>());
        // The caller's images are never modified.
        using var again = folded.Forward(images);
        using var unchanged = again.eq(plain).all();
        Assert.True(unchanged.item<bool>());
    }

    [Fact]
    public void WithWeightsReplacesWeightsAndKeepsBiases()
    {
        using var network = RandomModel(ModelZoo.VggTiny, 7);
        using var folded = FoldedNetwork.Fold(network);
        using var images = randn(3, 1, 28, 28);
        using var copy = folded.WithWeights(l => l.Weight);
        using var a = folded.Forward(images);
        using var b = copy.Forward(images);
        using var same = a.eq(b).all();
        Assert.True(same.item<bool>());

        using var zeroed = folded.WithWeights(l => l.IsOutputLayer ? zeros_like(l.Weight) : l.Weight);
        using var logits = zeroed.Forward(images);
        using var bias = folded.Layer("classifier.fc").Bias.expand(3, -1);
        using var equal = logits.eq(bias).all();
        Assert.True(equal.item<bool>());
        // The original is unaffected by its copies being disposed.
        copy.Dispose();
        using var c = folded.Forward(images);
        using var still = c.eq(a).all();
        Assert.True(still.item<bool>());
        Assert.Throws<ArgumentException>(() => folded.WithWeights(l => zeros(2, 2)));
    }
}
