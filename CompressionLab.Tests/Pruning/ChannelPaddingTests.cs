using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// The inference forward runs a conv whose output channels are not a multiple of 8 with zero filters added
/// (<see cref="ChannelPadding"/>): a speed choice only, so every output, whole or up to any block, must be the
/// network's own, in shape and to float rounding, also with a mask in force on a padded layer.
/// </summary>
[Collection(SerialCollection.Name)]
public class ChannelPaddingTests
{
    [Theory]
    [InlineData(18, 1, 24)]
    [InlineData(20, 1, 24)]
    [InlineData(41, 1, 48)]
    [InlineData(36, 1, 40)]
    [InlineData(24, 1, 24)]
    [InlineData(96, 1, 96)]
    [InlineData(6, 1, 6)] // no wider than one block: nothing to gain
    [InlineData(18, 2, 18)] // grouped convs are left alone
    public void RunOutputsRoundsUpToAMultipleOf8(long outputs, long groups, long expected) =>
        Assert.Equal(expected, ChannelPadding.RunOutputs(outputs, groups));

    [Fact]
    public void PadRowsAppendsZeroRowsAndKeepsTheRest()
    {
        using var scope = NewDisposeScope();
        var w = randn(3, 2, 3, 3);
        var padded = ChannelPadding.PadRows(w, 8);
        Assert.Equal([8L, 2, 3, 3], padded.shape);
        Assert.True(padded[..3].allclose(w, rtol: 0, atol: 0));
        Assert.Equal(0, padded[3..].abs().sum().item<float>());
    }

    [Fact]
    public void ThinWidthsGiveTheModulesOutputsWholeAndPerBlock()
    {
        // Widths as a thinning leaves them: none of the convs' counts is a multiple of 8 except stage3.conv1.
        var widths = new Dictionary<string, int>
        {
            ["stage1.conv1"] = 18, ["stage1.conv2"] = 20, ["stage2.conv1"] = 36, ["stage2.conv2"] = 41, ["stage3.conv1"] = 72, ["stage3.conv2"] = 45,
        };
        manual_seed(21);
        using var network = ModelZoo.Create(ModelZoo.VggSmall, widths: widths);
        PruningTestModels.RandomiseNorms(network);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = randn(5, 1, 28, 28);
        using var folded = new FoldedForward(network);
        using var modules = new ModuleForward(network);

        var expected = network.call(images);
        var actual = folded.ForwardRange(0, folded.BlockCount, images);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-5));

        // Up to every block boundary, and from it: the activations handed between blocks have the layer's own channels.
        for (var b = 1; b < folded.BlockCount; b++)
        {
            var head = network.ForwardRange(0, b, images);
            var foldedHead = folded.ForwardRange(0, b, images);
            Assert.Equal(head.shape, foldedHead.shape);
            Assert.True(foldedHead.allclose(head, rtol: 1e-4, atol: 1e-5), $"blocks 0..{b}");
            Assert.True(folded.ForwardRange(b, folded.BlockCount, head).allclose(expected, rtol: 1e-4, atol: 1e-5), $"blocks {b}..");
        }

        // A mask on a padded layer (filters and elements) is applied to the real filters only.
        foreach (var (layer, criterion) in new[] { ("stage1.conv2", PruningCriterion.Filter), ("stage2.conv2", PruningCriterion.Element) })
        {
            var mask = PruningRanking.For(network, layer, criterion).MaskAt(0.5);
            Tensor masked, foldedMasked;
            using (modules.Prune(mask)) masked = modules.ForwardRange(0, modules.BlockCount, images);
            using (folded.Prune(mask)) foldedMasked = folded.ForwardRange(0, folded.BlockCount, images);
            Assert.True(foldedMasked.allclose(masked, rtol: 1e-4, atol: 1e-5), $"{layer} {criterion}");
            Assert.False(foldedMasked.allclose(expected, rtol: 1e-3, atol: 1e-3), $"{layer} {criterion} should change the output.");
        }
        Assert.True(folded.ForwardRange(0, folded.BlockCount, images).allclose(expected, rtol: 1e-4, atol: 1e-5), "the dense layer is back");
    }
}
