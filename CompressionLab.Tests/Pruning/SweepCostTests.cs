using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

public class SweepCostTests
{
    [Fact]
    public void VggSmallFullSweepCostFromTheLayerTable()
    {
        using var network = ModelZoo.Create(ModelZoo.VggSmall);
        var cost = SweepCost.Of(network, new SweepSettings());

        // MACs: conv1 32·9·784, conv2 32·32·9·784, s2 64·32·9·196 and 64·64·9·196, s3 128·64·9·49 and 128·128·9·49, fc 10·1152.
        long[] macs = [225_792, 7_225_344, 3_612_672, 7_225_344, 3_612_672, 7_225_344, 11_520];
        var full = macs.Sum();
        var suffixes = Enumerable.Range(0, 7).Select(i => macs.Skip(i).Sum()).ToArray();
        Assert.Equal(29_138_688, full);
        Assert.Equal(7 * 19, cost.PrunedCells);
        Assert.Equal(full * (1 + (7 * 19)), cost.NaiveMacs);
        // Baseline from stage1.conv1's input (a full pass), block inputs chained up to classifier.fc's, 19 suffixes per layer.
        Assert.Equal(full + (full - 11_520) + (19 * suffixes.Sum()), cost.CachedMacs);
        Assert.Equal(1.7272, cost.FlopRatio, 4);
        Assert.Equal(1.7597, cost.PerCellFlopRatio, 4);
        Assert.True(cost.FlopRatio < 2, "A VGG with cost spread evenly over its stages cannot gain 2× from caching.");
    }

    [Fact]
    public void OnlyTheLastLayerCostsAlmostNothingPerCell()
    {
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var cost = SweepCost.Of(network, new SweepSettings { Layers = ["classifier.fc"], Levels = [0, 0.5, 0.9] });
        // lenet-300-100: 784·300 + 300·100 + 100·10 MACs; the fc's input comes from a chain that costs the first two layers once.
        Assert.Equal(266_200, cost.FullMacs);
        Assert.Equal(3 * 266_200, cost.NaiveMacs);
        Assert.Equal(1_000 + 265_200 + (2 * 1_000), cost.CachedMacs);
    }
}
