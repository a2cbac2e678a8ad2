using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace CompressionLab.Tests.Pruning;

/// <summary>Small networks and data with known contents for the pruning tests.</summary>
internal static class PruningTestModels
{
    /// <summary>fc1 weights of <see cref="HandMadeMlp"/>: row-major [2, 4].</summary>
    public static readonly float[] Fc1Weights = [2f, 0.5f, 0f, 0f, 0f, 0f, 1f, -3f];

    /// <summary>
    /// A 2×2-pixel, 2-class MLP with known weights and no biases: flatten → hidden.fc1 (4→2) → ReLU
    /// → classifier.fc (2→2, identity). Logit c is ReLU(fc1 row c · x).
    /// </summary>
    public static ClassifierNetwork HandMadeMlp()
    {
        var fc1 = Linear(4, 2, hasBias: false);
        var fc = Linear(2, 2, hasBias: false);
        using (no_grad())
        {
            fc1.weight!.copy_(tensor(Fc1Weights).view(2, 4));
            fc.weight!.copy_(tensor(new float[] { 1, 0, 0, 1 }).view(2, 2));
        }
        var specs = new List<BlockSpec>
        {
            new("hidden", "fc1", [("flatten", Flatten()), ("fc1", fc1), ("relu1", ReLU())]),
            new("classifier", "fc", [("fc", fc)]),
        };
        return new ClassifierNetwork("hand-made-mlp", 2, 2, 2, specs);
    }

    /// <summary>
    /// Four 2×2 images for <see cref="HandMadeMlp"/>; a bright pixel is 255, the rest 0.
    /// Labels: bright pixel 0 → class 0, bright pixel 2 → class 1, all dark → class 1, bright pixel 1 → class 0.
    /// </summary>
    public static LabeledImages HandMadeImages() => new(
        "hand-made",
        [255, 0, 0, 0, /**/ 0, 0, 255, 0, /**/ 0, 0, 0, 0, /**/ 0, 255, 0, 0],
        [0, 1, 1, 0],
        2, 2, ["zero", "one"]);

    /// <summary>A zoo model with random weights and random (but valid) BatchNorm statistics, so BN is not the identity.</summary>
    public static ClassifierNetwork RandomZooModel(string architecture, int seed)
    {
        manual_seed(seed);
        var network = ModelZoo.Create(architecture);
        RandomiseNorms(network);
        return network;
    }

    /// <summary>Random (but valid) BatchNorm statistics and affine parameters from the global generator, then eval mode.</summary>
    public static void RandomiseNorms(ClassifierNetwork network)
    {
        using var noGrad = no_grad();
        foreach (var module in network.modules())
        {
            if (module is not TorchSharp.Modules.BatchNorm norm) continue;
            var channels = norm.running_mean!.shape[0];
            norm.running_mean!.copy_(randn(channels) * 0.2);
            norm.running_var!.copy_(rand(channels) + 0.5);
            norm.weight!.copy_(1 + (randn(channels) * 0.2));
            norm.bias!.copy_(0.2 + (randn(channels) * 0.1));
        }
        network.eval();
    }

    /// <summary>The first <paramref name="count"/> Fashion-MNIST test images.</summary>
    public static LabeledImages FashionTest(int count) => TestData.FashionMnist.Test.Take(count);

    /// <summary>Every parameter and buffer as bytes, to check that something left the network bit-identical.</summary>
    public static Dictionary<string, byte[]> Snapshot(ClassifierNetwork network)
    {
        var snapshot = new Dictionary<string, byte[]>();
        foreach (var (name, value) in network.state_dict())
            snapshot[name] = value.detach().cpu().contiguous().bytes.ToArray();
        return snapshot;
    }

    public static void AssertSameSnapshot(Dictionary<string, byte[]> expected, Dictionary<string, byte[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, bytes) in expected)
            Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{name} changed.");
    }
}
