using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

public class SafeSparsityTests
{
    private static readonly SweepMetrics Baseline = new(0.80, 0.98, 0.6);

    private static readonly SweepLayer[] Layers =
    [
        new("hidden.fc1", "hidden", "linear", 235_500),
        new("hidden.fc2", "hidden", "linear", 30_100),
        new("classifier.fc", "classifier", "linear", 1_010),
    ];

    private static readonly double[] Levels = [0, 0.25, 0.5, 0.75];

    /// <summary>Cells of one layer whose top-1 drops (fractions) at <see cref="Levels"/> are given.</summary>
    private static IEnumerable<SweepCell> Drops(string layer, params double[] drops) =>
        drops.Select((drop, i) => SweepCell.From(layer, Levels[i], Levels[i], Baseline with { Top1 = Baseline.Top1 - drop }, Baseline));

    private static SweepCell[] KnownSweep() =>
    [
        .. Drops("hidden.fc1", 0, 0.005, 0.025, 0.04),
        .. Drops("hidden.fc2", 0, 0.015, 0.02, 0.025),
        .. Drops("classifier.fc", 0, 0.002, 0.004, 0.006),
    ];

    [Fact]
    public void EachLayerIsSafeUpToTheLastLevelBeforeItsDropFirstExceedsTheAllowedOne()
    {
        // One point (0.01): fc1 stays under it up to 0.25 (0.005; 0.025 at 0.5 is over), fc2 not even at 0.25 (0.015),
        // classifier.fc at every level (0.006 at most).
        var ranking = SafeSparsity.Rank(Layers, Levels, KnownSweep(), 0.01);

        Assert.Equal(["hidden.fc2", "hidden.fc1", "classifier.fc"], ranking.Select(r => r.Layer));
        Assert.Equal([0, 0.25, 0.75], ranking.Select(r => r.SafeSparsity));
        var fc1 = ranking[1];
        Assert.Equal(("hidden", 235_500L, 0.75, true), (fc1.Stage, fc1.Parameters, fc1.HighestLevel, fc1.Complete));
        Assert.Equal(0.04, fc1.DropAtHighest, 12);
    }

    [Fact]
    public void EqualSafeLevelsRankTheLargerDropAtTheHighestLevelFirstThenTableOrder()
    {
        // 0.0025: fc1 (0.005) and fc2 (0.015) fail at 0.25, so both are safe only at 0; fc1's final drop 0.04 > 0.025.
        Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], SafeSparsity.Rank(Layers, Levels, KnownSweep(), 0.0025).Select(r => r.Layer));

        // Two layers with the same drops everywhere keep table order.
        SweepCell[] twins = [.. Drops("hidden.fc1", 0, 0.03), .. Drops("hidden.fc2", 0, 0.03)];
        Assert.Equal(["hidden.fc1", "hidden.fc2"], SafeSparsity.Rank(Layers, Levels, twins, 0.01).Select(r => r.Layer));
    }

    [Fact]
    public void ADropThatComesBackDoesNotMakeAHigherLevelSafe()
    {
        var ranking = SafeSparsity.Rank(Layers, Levels, Drops("hidden.fc1", 0, 0.02, 0, 0), 0.01);

        Assert.Equal(0, Assert.Single(ranking).SafeSparsity);
    }

    [Fact]
    public void ADropOfExactlyTheAllowedOneIsSafeDespiteFloatSubtraction()
    {
        // 0.80 − 0.79 is 0.010000000000000009 in doubles: 20 images of 2,000, exactly one point.
        var baseline = new SweepMetrics(0.80, 0.99, 0.3);
        var cell = SweepCell.From("hidden.fc1", 0.5, 0.5, baseline with { Top1 = 0.79 }, baseline);
        Assert.True(cell.Top1Drop > 0.01);

        var ranking = SafeSparsity.Rank(Layers, [0, 0.5], [SweepCell.From("hidden.fc1", 0, 0, baseline, baseline), cell], 0.01);

        Assert.Equal(0.5, Assert.Single(ranking).SafeSparsity);
        // One image more (0.0105) is over it.
        var worse = SweepCell.From("hidden.fc1", 0.5, 0.5, baseline with { Top1 = 0.7895 }, baseline);
        Assert.Equal(0, Assert.Single(SafeSparsity.Rank(Layers, [0, 0.5], [worse], 0.01)).SafeSparsity);
    }

    [Fact]
    public void CellsInAnyOrderAndPartialSweepsAreRankedFromWhatIsMeasured()
    {
        var shuffled = KnownSweep().Reverse().ToArray();
        Assert.Equal(SafeSparsity.Rank(Layers, Levels, KnownSweep(), 0.01), SafeSparsity.Rank(Layers, Levels, shuffled, 0.01));

        // A running sweep: fc2 has only its dense cell (left out), classifier.fc two of four levels (not complete),
        // and a cell of a layer outside the sweep is ignored.
        SweepCell[] partial = [.. Drops("hidden.fc1", 0, 0.005, 0.025, 0.04), .. Drops("hidden.fc2", 0), .. Drops("classifier.fc", 0, 0.002), .. Drops("other.fc", 0, 0.5)];
        var ranking = SafeSparsity.Rank(Layers, Levels, partial, 0.01);

        Assert.Equal(["hidden.fc1", "classifier.fc"], ranking.Select(r => r.Layer));
        Assert.Equal((0.25, false, 0.002), (ranking[1].SafeSparsity, ranking[1].Complete, Math.Round(ranking[1].DropAtHighest, 12)));
        Assert.True(ranking[0].Complete);
    }

    [Fact]
    public void ANegativeOrMissingAllowedDropIsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SafeSparsity.Rank(Layers, Levels, KnownSweep(), -0.01));
        Assert.Throws<ArgumentOutOfRangeException>(() => SafeSparsity.Rank(Layers, Levels, KnownSweep(), double.NaN));
    }
}
