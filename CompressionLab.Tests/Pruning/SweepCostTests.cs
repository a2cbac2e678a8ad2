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
    public void WeightedByEachBlocksMacsTheCostRatioIsTheFlopRatio()
    {
        using var network = ModelZoo.Create(ModelZoo.VggSmall);
        var settings = new SweepSettings();
        var blockMacs = Enumerable.Range(0, network.Blocks.Count)
            .Select(block => (double)network.Layers.Where(l => l.BlockIndex == block).Sum(l => l.MacsPerSample)).ToArray();

        Assert.Equal(SweepCost.Of(network, settings).FlopRatio, SweepCost.CostRatio(network, settings, blockMacs), 12);
    }

    [Fact]
    public void CostRatioByHand()
    {
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        Assert.Equal(3, network.Blocks.Count);
        var settings = new SweepSettings { Layers = ["hidden.fc2", "classifier.fc"], Levels = [0, 0.5] };

        // Block costs 4, 2, 1 (a full pass 7). Naive: baseline + 2 cells of 7 = 21.
        // Cached: baseline from hidden.fc2's block (2 + 1), the chain up to classifier.fc's block (4 + 2), one suffix per cell (3, then 1) = 13.
        Assert.Equal(21.0 / 13.0, SweepCost.CostRatio(network, settings, [4, 2, 1]), 12);
        Assert.Equal(21.0 / 13.0, SweepCost.CostRatio(network, settings, [8, 4, 2]), 12); // the unit does not matter
        // Where the first block dominates, the cached way skips it in every cell: 36 against 2 + 11 + 2 + 1.
        Assert.Equal((3.0 * 12) / (2 + 11 + 2 + 1), SweepCost.CostRatio(network, settings, [10, 1, 1]), 12);
    }

    [Fact]
    public void CostRatioNeedsOneFiniteCostPerBlock()
    {
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var settings = new SweepSettings();

        var error = Assert.Throws<ArgumentException>(() => SweepCost.CostRatio(network, settings, [1, 2]));
        Assert.Contains("lenet-300-100 has 3 blocks but 2 block costs were given", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SweepCost.CostRatio(network, settings, [1, double.NaN, 1]));
        Assert.Throws<ArgumentException>(() => SweepCost.CostRatio(network, settings, [1, -1, 1]));
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
