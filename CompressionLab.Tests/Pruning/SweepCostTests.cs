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

        // MACs: conv1 24·9·784, conv2 24·24·9·784, s2 48·24·9·196 and 48·48·9·196, s3 96·48·9·49 and 96·96·9·49, fc 10·864.
        long[] macs = [169_344, 4_064_256, 2_032_128, 4_064_256, 2_032_128, 4_064_256, 8_640];
        var full = macs.Sum();
        var suffixes = Enumerable.Range(0, 7).Select(i => macs.Skip(i).Sum()).ToArray();
        Assert.Equal(16_435_008, full);
        Assert.Equal(7 * 19, cost.PrunedCells);
        Assert.Equal(full * (1 + (7 * 19)), cost.NaiveMacs);
        // Baseline from stage1.conv1's input (a full pass), block inputs chained up to classifier.fc's, 19 suffixes per layer.
        Assert.Equal(full + (full - 8_640) + (19 * suffixes.Sum()), cost.CachedMacs);
        Assert.Equal(1.7303, cost.FlopRatio, 4);
        Assert.Equal(1.7629, cost.PerCellFlopRatio, 4);
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
