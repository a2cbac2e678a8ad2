using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// Filter pruning a conv that BatchNorm follows: zeroing the filter alone leaves the channel at
/// ReLU(β − γ·μ/√(σ²+ε)) after BN; the mask also zeroes γ and β, so the channel is really silent.
/// </summary>
public class BatchNormMaskingTests
{
    private const string Layer = "stage1.conv1";

    [Fact]
    public void ZeroingOnlyTheConvFilterLeavesAConstantChannel()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 11);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = randn(8, 1, 28, 28);
        var norm = (TorchSharp.Modules.BatchNorm)network.Blocks[0].Modules[1].Module;
        // The channel whose leftover constant ReLU(β − γ·μ/√(σ²+ε)) is largest.
        var constants = (norm.bias! - (norm.weight! * norm.running_mean! / (norm.running_var! + norm.eps).sqrt())).relu();
        var channel = (int)constants.argmax().item<long>();
        var expected = constants[channel].item<float>();
        Assert.True(expected > 0.05f, "The random BN statistics should make the constant visible.");
        network.LayerWeight(Layer)[channel].zero_();

        var output = network.ForwardRange(0, 1, images); // conv, bn, relu
        Assert.True(output[.., channel].allclose(full_like(output[.., channel], expected), rtol: 1e-5, atol: 1e-6));
        Assert.True(output[.., channel == 0 ? 1 : 0].std().item<float>() > 0); // other channels still vary
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FilterMaskSilencesTheChannelAfterBatchNormAndRelu(bool folded)
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 12);
        var mask = PruningRanking.For(network, Layer, PruningCriterion.Filter).MaskAt(0.5);
        Assert.Equal(4, mask.PrunedCount); // half of vgg-tiny's 8 first-stage filters
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = randn(8, 1, 28, 28);

        using IPrunableForward forward = folded ? new FoldedForward(network) : new ModuleForward(network);
        using (forward.Prune(mask))
        {
            var postRelu = forward.ForwardRange(0, 1, images); // conv1 → bn1 → relu1 (folded: conv1 with bn1 inside → relu1)
            for (var channel = 0; channel < 7; channel++)
                Assert.Equal(mask.IsPruned(channel), postRelu[.., channel].abs().max().item<float>() == 0);
            if (!folded)
            {
                // Before ReLU too, where a leftover constant could hide by being negative.
                var postBn = network.Blocks[0].Modules[1].Module.call(network.Blocks[0].Modules[0].Module.call(images));
                foreach (var channel in mask.PrunedUnits)
                    Assert.Equal(0f, postBn[.., channel].abs().max().item<float>());
            }
        }
    }

    [Fact]
    public void ModuleMaskZeroesGammaAndBetaOfThePrunedChannelsAndRestoresThem()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 13);
        var before = PruningTestModels.Snapshot(network);
        var mask = PruningRanking.For(network, "stage2.conv2", PruningCriterion.Filter, FilterNorm.L2).MaskAt(0.25); // 3.5 of 14, rounded away from zero: 4
        using (mask.ApplyTo(network))
        {
            var state = network.state_dict();
            var gamma = state["stage2.bn2.weight"].data<float>().ToArray();
            var beta = state["stage2.bn2.bias"].data<float>().ToArray();
            for (var c = 0; c < 14; c++)
            {
                Assert.Equal(mask.IsPruned(c), gamma[c] == 0 && beta[c] == 0);
            }
            Assert.Equal(4, mask.PrunedCount);
        }
        PruningTestModels.AssertSameSnapshot(before, PruningTestModels.Snapshot(network));
    }

    [Fact]
    public void FoldedForwardMatchesTheModulesDenseAndPruned()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggSmall, seed: 14);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = randn(6, 1, 28, 28);
        using var folded = new FoldedForward(network);
        using var modules = new ModuleForward(network);
        Assert.True(folded.ForwardRange(0, folded.BlockCount, images).allclose(network.call(images), rtol: 1e-4, atol: 1e-5));

        foreach (var (layer, criterion) in new[] { ("stage1.conv2", PruningCriterion.Element), ("stage2.conv1", PruningCriterion.Filter), ("classifier.fc", PruningCriterion.Filter) })
        {
            var mask = PruningRanking.For(network, layer, criterion).MaskAt(0.6);
            Tensor expected, actual;
            using (modules.Prune(mask)) expected = modules.ForwardRange(0, modules.BlockCount, images);
            using (folded.Prune(mask)) actual = folded.ForwardRange(0, folded.BlockCount, images);
            Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-5), $"{layer} {criterion}");
            Assert.False(actual.allclose(network.call(images), rtol: 1e-3, atol: 1e-3), $"{layer} {criterion} should change the output.");
        }
    }
}
