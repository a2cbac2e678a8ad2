using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

public class PruningMaskTests
{
    [Fact]
    public void ElementMaskZeroesExactlyItsUnitsAndRestoresBitForBit()
    {
        manual_seed(5);
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var before = PruningTestModels.Snapshot(network);
        var dense = network.LayerWeight("hidden.fc2").detach().clone().view(-1).data<float>().ToArray();
        var mask = PruningRanking.For(network, "hidden.fc2", PruningCriterion.Element).MaskAt(0.3);
        Assert.Equal(9000, mask.PrunedCount); // 0.3 × 30,000

        using (mask.ApplyTo(network))
        {
            var live = network.LayerWeight("hidden.fc2").detach().view(-1).data<float>().ToArray();
            for (var i = 0; i < live.Length; i++)
                Assert.Equal(mask.IsPruned(i) ? 0f : dense[i], live[i]);
            // Every pruned weight is no larger than every kept one.
            var maxPruned = mask.PrunedUnits.Max(i => Math.Abs(dense[i]));
            var minKept = Enumerable.Range(0, dense.Length).Where(i => !mask.IsPruned(i)).Min(i => Math.Abs(dense[i]));
            Assert.True(maxPruned <= minKept);
            // The bias is not part of an element mask.
            Assert.True(before["hidden.fc2.bias"].AsSpan().SequenceEqual(network.state_dict()["hidden.fc2.bias"].bytes));
        }

        PruningTestModels.AssertSameSnapshot(before, PruningTestModels.Snapshot(network));
    }

    [Fact]
    public void HighThenLowLevelEqualsLowLevelAlone()
    {
        manual_seed(6);
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        var ranking = PruningRanking.For(network, "classifier.fc1", PruningCriterion.Element);
        byte[] lowAlone;
        using (ranking.MaskAt(0.2).ApplyTo(network))
            lowAlone = network.LayerWeight("classifier.fc1").bytes.ToArray();
        using (ranking.MaskAt(0.9).ApplyTo(network))
        {
        }
        using (ranking.MaskAt(0.2).ApplyTo(network))
            Assert.True(lowAlone.AsSpan().SequenceEqual(network.LayerWeight("classifier.fc1").bytes));
    }

    [Fact]
    public void FilterMaskOnLinearZeroesRowsAndTheirBias()
    {
        manual_seed(7);
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var mask = PruningRanking.For(network, "hidden.fc2", PruningCriterion.Filter, FilterNorm.L2).MaskAt(0.25);
        Assert.Equal(25, mask.PrunedCount);
        using (mask.ApplyTo(network))
        {
            var weight = network.LayerWeight("hidden.fc2");
            var bias = network.state_dict()["hidden.fc2.bias"];
            for (var row = 0; row < 100; row++)
            {
                var zeroRow = weight[row].abs().sum().item<float>() == 0 && bias[row].item<float>() == 0;
                Assert.Equal(mask.IsPruned(row), zeroRow);
            }
        }
    }

    [Fact]
    public void PrunedWeightsTensorMatchesTheUnits()
    {
        using var weight = tensor(new float[] { 1, 1, 1, 1, 3, 0, 0, 0, -1, -1, -1, -1 }).view(3, 4);
        var filter = PruningRanking.ByFilterNorm("fc", weight, FilterNorm.L1).MaskAt(0.3); // 0.9 -> 1 filter: f1
        using var filterPruned = filter.PrunedWeights();
        Assert.Equal([3L, 4], filterPruned.shape);
        Assert.Equal([false, false, false, false, true, true, true, true, false, false, false, false], filterPruned.view(-1).data<bool>().ToArray());

        var element = PruningMask.FromUnits("fc", PruningCriterion.Element, [3, 4], [11, 0]);
        Assert.Equal([0, 11], element.PrunedUnits);
        using var elementPruned = element.PrunedWeights();
        Assert.Equal(2, elementPruned.sum().item<long>());
        Assert.True(elementPruned[2, 3].item<bool>());
    }

    [Fact]
    public void FromUnitsRejectsUnitsOutsideTheLayer()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => PruningMask.FromUnits("stage1.conv1", PruningCriterion.Filter, [32, 1, 3, 3], [32]));
        Assert.Contains("stage1.conv1", error.Message);
        Assert.Contains("32 filters", error.Message);
    }

    [Fact]
    public void MaskOfAnotherShapeIsRefused()
    {
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var mask = PruningMask.FromUnits("stage1.conv1", PruningCriterion.Filter, [32, 1, 3, 3], [0]);
        var error = Assert.Throws<ArgumentException>(() => mask.ApplyTo(network));
        Assert.Contains("stage1.conv1", error.Message);
    }

    [Fact]
    public void AFailureHalfWayLeavesTheNetworkExactlyAsBefore()
    {
        // vgg-tiny with stage1.bn1's γ swapped for one of 3 channels after the network (and its graph) was built:
        // a filter mask zeroes conv1's filters first, then finds γ the wrong shape and must undo the filters.
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 15);
        var norm = (TorchSharp.Modules.BatchNorm)network.ModuleNamed("stage1.bn1");
        norm.weight = new TorchSharp.Modules.Parameter(ones(3));
        var before = PruningTestModels.Snapshot(network);
        var mask = PruningMask.FromUnits("stage1.conv1", PruningCriterion.Filter, [8, 1, 3, 3], [0, 2, 5]);

        var error = Assert.Throws<ArgumentException>(() => mask.ApplyTo(network));

        Assert.Contains("stage1.bn1.weight", error.Message); // it got past the conv's weight, which it had zeroed
        PruningTestModels.AssertSameSnapshot(before, PruningTestModels.Snapshot(network));
        Assert.NotEqual(0f, network.LayerWeight("stage1.conv1")[2].abs().sum().item<float>());
    }

    [Fact]
    public void TheBatchNormIsFoundThroughTheGraphNotByPosition()
    {
        // conv1 → relu1 | bn1 in the next block: the BatchNorm is neither next to the conv nor in its block.
        using var network = Models.PruningShapes.ConvReluThenNorm();
        var norm = (TorchSharp.Modules.BatchNorm)network.ModuleNamed("stage1.bn1");
        using (no_grad())
        {
            norm.running_mean!.copy_(tensor(new float[] { 0.5f, -0.2f, 0.1f, 0.3f }));
            norm.bias!.copy_(tensor(new float[] { 0.7f, 0.4f, -0.3f, 0.2f }));
        }
        network.eval();
        var mask = PruningMask.FromUnits("stage1.conv1", PruningCriterion.Filter, [4, 1, 1, 1], [1, 2]);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = randn(5, 1, 2, 2);
        using (mask.ApplyTo(network))
        {
            var normalised = network.ForwardRange(0, 2, images); // conv1, relu1, bn1
            for (var channel = 0; channel < 4; channel++)
                Assert.Equal(mask.IsPruned(channel), normalised[.., channel].abs().max().item<float>() == 0);
        }
        // FoldedForward cannot fold a BatchNorm behind a ReLU, and says so instead of masking differently.
        var error = Assert.Throws<NotSupportedException>(() => new FoldedForward(network));
        Assert.Contains("stage1.bn1", error.Message);
    }
}
