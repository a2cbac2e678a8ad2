using CompressionLab.Core.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

public class PruningRankingTests
{
    // |w| = 0.5, 0.1, 0.3, 0.1, 0.2, 0.0 (flat indices 0..5); 0.1 and -0.1 tie exactly in float.
    private static Tensor SmallWeight() => tensor(new float[] { 0.5f, -0.1f, 0.3f, 0.1f, -0.2f, 0f }).view(2, 3);

    [Fact]
    public void MagnitudeOrderIsSmallestFirstWithTiesByIndex()
    {
        using var weight = SmallWeight();
        var ranking = PruningRanking.ByMagnitude("layer", weight);
        Assert.Equal([5, 1, 3, 4, 2, 0], ranking.Order);
        Assert.Equal(0.1, ranking.Scores[1], 6);
    }

    [Theory]
    [InlineData(0.0, new int[0])]
    [InlineData(0.05, new int[0])]          // 0.3 rounds to 0
    [InlineData(0.1, new[] { 5 })]          // 0.6 -> 1
    [InlineData(0.25, new[] { 1, 5 })]      // 1.5 -> 2 (half away from zero)
    [InlineData(0.5, new[] { 1, 3, 5 })]    // the tie 1 / 3 both go
    [InlineData(0.75, new[] { 1, 2, 3, 4, 5 })] // 4.5 -> 5
    [InlineData(0.9, new[] { 1, 2, 3, 4, 5 })]  // 5.4 -> 5
    [InlineData(0.95, new[] { 1, 2, 3, 4, 5 })] // 5.7 rounds to all 6, capped at 5: the largest weight (index 0) stays
    public void ElementMaskAtEachLevel(double level, int[] expected)
    {
        using var weight = SmallWeight();
        var mask = PruningRanking.ByMagnitude("layer", weight).MaskAt(level);
        Assert.Equal(expected, mask.PrunedUnits);
        Assert.Equal(expected.Length / 6.0, mask.Sparsity, 12);
        Assert.Equal(level, mask.RequestedSparsity);
    }

    [Fact]
    public void TieAtTheCutIsBrokenByIndex()
    {
        // Four equal magnitudes; pruning two takes the two lowest indices, not all ties (Distiller's threshold rule would take four).
        using var weight = tensor(new float[] { 0.7f, -0.7f, 0.7f, -0.7f });
        Assert.Equal([0, 1], PruningRanking.ByMagnitude("tie", weight).MaskAt(0.5).PrunedUnits);
    }

    [Theory]
    [InlineData(0.45, 10, 5)]   // 4.5 in decimal -> 5, whatever binary noise 0.45 carries
    [InlineData(0.15, 10, 2)]
    [InlineData(0.05, 10, 1)]
    [InlineData(0.35, 20, 7)]
    [InlineData(0.95, 20, 19)]
    [InlineData(0.999, 10, 9)]  // 9.99 rounds to all 10; a level below 1 leaves one: 9
    [InlineData(0.95, 10, 9)]   // 9.5 rounds to 10, capped at 9
    [InlineData(0.9, 10, 9)]
    [InlineData(0.95, 7, 6)]    // a 7-filter layer (vgg-tiny's stage1.conv1 had 7): 6.65 rounds to 7, capped at 6
    [InlineData(0.9, 7, 6)]     // 6.3 -> 6 (no cap needed)
    [InlineData(0.05, 7, 0)]    // 0.35 -> 0: the low end still rounds to nothing
    [InlineData(0.0715, 7, 1)]  // 0.5005 -> 1
    [InlineData(0.95, 1, 0)]    // a single unit can never go
    [InlineData(0.0, 1000, 0)]
    public void PrunedCountRoundsHalfAwayFromZeroButLeavesAUnit(double level, int units, int expected) =>
        Assert.Equal(expected, PruningRanking.PrunedCount(level, units));

    [Fact]
    public void EveryValidLevelLeavesAtLeastOneUnitOfSmallLayers()
    {
        for (var units = 1; units <= 10; units++)
        {
            for (var step = 0; step < 10_000; step++)
            {
                var level = step / 10_000.0;
                var pruned = PruningRanking.PrunedCount(level, units);
                Assert.InRange(pruned, 0, units - 1);
                Assert.Equal((double)pruned / units, PruningRanking.ActualSparsity(level, units));
            }
        }
    }

    [Fact]
    public void FilterMaskOfSevenFiltersAtTheTopLevelKeepsTheStrongestFilter()
    {
        // Seven filters whose L1 norms are 7, 6, ..., 1: filter 0 is the strongest and the only one left at 0.95.
        using var weight = tensor(Enumerable.Range(0, 7).SelectMany(f => Enumerable.Repeat((float)(7 - f) / 4, 4)).ToArray()).view(7, 1, 2, 2);
        var ranking = PruningRanking.ByFilterNorm("stage1.conv1", weight, FilterNorm.L1);
        var mask = ranking.MaskAt(0.95);
        Assert.Equal([1, 2, 3, 4, 5, 6], mask.PrunedUnits);
        Assert.Equal(6.0 / 7, mask.Sparsity, 12);
        Assert.Equal(0.95, mask.RequestedSparsity);
        Assert.Empty(ranking.MaskAt(0.05).PrunedUnits);
    }

    [Fact]
    public void FilterOrderDiffersBetweenL1AndL2()
    {
        // f0 = [1,1,1,1]: L1 4, L2 2.  f1 = [3,0,0,0]: L1 3, L2 3.  f2 = [-1,-1,-1,-1]: ties f0 in both norms.
        using var weight = tensor(new float[] { 1, 1, 1, 1, 3, 0, 0, 0, -1, -1, -1, -1 }).view(3, 4);
        var l1 = PruningRanking.ByFilterNorm("fc", weight, FilterNorm.L1);
        var l2 = PruningRanking.ByFilterNorm("fc", weight, FilterNorm.L2);
        Assert.Equal([1, 0, 2], l1.Order);
        Assert.Equal([0, 2, 1], l2.Order);
        Assert.Equal([4.0, 3.0, 4.0], l1.Scores);
        Assert.Equal([2.0, 3.0, 2.0], l2.Scores);
        Assert.Equal([0, 1], l1.MaskAt(0.5).PrunedUnits); // 1.5 filters -> 2
        Assert.Equal([0, 2], l2.MaskAt(0.5).PrunedUnits);
        Assert.Equal([1], l1.MaskAt(0.2).PrunedUnits);     // 0.6 -> 1
    }

    [Fact]
    public void ConvFilterL1RankingIsDistillersMeanAbsoluteRanking()
    {
        manual_seed(3);
        using var weight = randn(16, 8, 3, 3);
        var ranking = PruningRanking.ByFilterNorm("conv", weight, FilterNorm.L1);
        // Distiller: filters ranked by mean |w| over (in, kh, kw), ascending.
        using var mean = weight.abs().mean([1, 2, 3]);
        var distiller = mean.data<float>().ToArray().Select((v, i) => (v, i)).OrderBy(p => p.v).ThenBy(p => p.i).Select(p => p.i);
        Assert.Equal(distiller, ranking.Order);
        for (var f = 0; f < 16; f++) Assert.Equal(mean[f].item<float>() * 72, ranking.Scores[f], 3);
    }

    [Fact]
    public void MasksOfOneRankingAreNested()
    {
        manual_seed(4);
        using var weight = randn(50, 20);
        var ranking = PruningRanking.ByMagnitude("fc", weight);
        var previous = ranking.MaskAt(0);
        foreach (var level in SweepLevels.Default.Skip(1))
        {
            var mask = ranking.MaskAt(level);
            Assert.Equal(PruningRanking.PrunedCount(level, 1000), mask.PrunedCount);
            Assert.Superset(previous.PrunedUnits.ToHashSet(), mask.PrunedUnits.ToHashSet());
            previous = mask;
        }
    }

    [Fact]
    public void FilterRankingRejectsAVector()
    {
        using var bias = ones(4);
        var error = Assert.Throws<ArgumentException>(() => PruningRanking.ByFilterNorm("stage1.bn1", bias, FilterNorm.L1));
        Assert.Contains("stage1.bn1", error.Message);
    }
}
