using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// The folded inference path, and the network's own forward, free everything they make but their output: a tensor handle left to the GC keeps its
/// storage (megabytes of activations at batch 64) until a finalizer runs, so every pass would take fresh memory.
/// </summary>
public class FoldedForwardMemoryTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void APassLeavesNoTensorAliveButItsOutput(bool pruned)
    {
        // vgg-small: a single-channel first conv (im2col + matrix product), channels-last convs, pools, the classifier.
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggSmall, seed: 16);
        using var noGrad = no_grad();
        using var images = randn(4, 1, 28, 28);
        using var folded = new FoldedForward(network);
        using var mask = pruned ? folded.Prune(PruningRanking.For(network, "stage1.conv1", PruningCriterion.Filter).MaskAt(0.5)) : null;

        using var scope = NewDisposeScope();
        using var output = folded.ForwardRange(0, folded.BlockCount, images);

        // The scope holds what the pass created and did not dispose: only the output.
        Assert.Equal(1, scope.DisposablesCount);
        Assert.Equal([4L, network.Layers[^1].OutputChannels], output.shape);
    }

    [Fact]
    public void TheNetworksOwnForwardLeavesNoTensorAliveButItsOutput()
    {
        // The engine's forward (training and module evaluation): its first conv is SingleChannelConv's im2col path.
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggSmall, seed: 17);
        network.eval();
        using var noGrad = no_grad();
        using var images = randn(4, 1, 28, 28);

        using var scope = NewDisposeScope();
        using var output = network.call(images);

        Assert.Equal(1, scope.DisposablesCount);
    }
}
