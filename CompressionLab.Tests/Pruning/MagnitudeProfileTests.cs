using CompressionLab.Core.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>Level ↔ magnitude threshold ↔ Distiller's s·std(w), worked by hand on eight binary-exact weights.</summary>
public class MagnitudeProfileTests
{
    // |w| sorted: 0, 0.125, 0.25, 0.375, 0.375, 0.5, 0.75, 1 (two weights tie at 0.375).
    private static readonly float[] Weights = [0.5f, -0.125f, 0.375f, -0.375f, 0f, 1f, -0.75f, 0.25f];
    private static readonly MagnitudeProfile Profile = MagnitudeProfile.OfWeights("stage1.conv1", Weights);

    [Fact]
    public void TheThresholdOfALevelIsTheFirstKeptMagnitude()
    {
        // 0.25 of 8 = 2 weights pruned (0 and 0.125): t = 0.25, and exactly 2 lie below it.
        Assert.Equal(new MagnitudeSetting("stage1.conv1", 0.25, 2, 0.25, 2, 8), Profile.AtLevel(0.25));
        // 0.4 of 8 = 3.2 → 3: t = 0.375.
        Assert.Equal(new MagnitudeSetting("stage1.conv1", 0.375, 3, 0.4, 3, 8), Profile.AtLevel(0.4));
    }

    [Fact]
    public void TiedMagnitudesAcrossTheCutAreReportedNotHidden()
    {
        // 0.5 of 8 = 4: the mask takes one of the two 0.375s (by index); a threshold takes both or neither.
        var setting = Profile.AtLevel(0.5);
        Assert.Equal((0.375, 3, 4), (setting.Threshold, setting.BelowThreshold, setting.PrunedAtLevel));
        Assert.False(setting.Agree);
        Assert.Equal((0.375, 0.5), (setting.ThresholdSparsity, setting.LevelSparsity));
    }

    [Fact]
    public void AThresholdGivesTheFractionBelowItAndTheNearestLevel()
    {
        Assert.Equal(new MagnitudeSetting("stage1.conv1", 0.3, 3, 0.375, 3, 8), Profile.AtThreshold(0.3));
        // Strictly below: 0.375 itself is kept.
        Assert.Equal(3, Profile.AtThreshold(0.375).BelowThreshold);
        Assert.Equal(new MagnitudeSetting("stage1.conv1", 0.376, 5, 0.625, 5, 8), Profile.AtThreshold(0.376));
        Assert.Equal(new MagnitudeSetting("stage1.conv1", -1, 0, 0, 0, 8), Profile.AtThreshold(-1));
        // Everything below: no level prunes all; 0.9999 keeps one weight.
        var all = Profile.AtThreshold(2);
        Assert.Equal((8, 0.9999, 7, false), (all.BelowThreshold, all.Level, all.PrunedAtLevel, all.Agree));
        Assert.Throws<ArgumentOutOfRangeException>(() => Profile.AtThreshold(double.NaN));
    }

    [Fact]
    public void DistillersFormUsesTheBesselCorrectedStdOfTheWeights()
    {
        // mean 0.875 / 8 = 0.109375; Σ(w − mean)² = 2.171875 − 8·0.109375² = 2.076171875; /7, sqrt → 0.5446062634.
        Assert.Equal(0.5446062634076633, Profile.WeightStd!.Value, 12);
        using (var values = tensor(Weights))
            Assert.Equal(values.std().item<float>(), Profile.WeightStd!.Value, 6);

        // s = 0.6: t = 0.32676 → 3 below (0, 0.125, 0.25). s = 1: t = 0.5446 → 6 below.
        var small = Profile.AtStdMultiple(0.6);
        Assert.Equal((3, 0.375, 0.6), (small.BelowThreshold, small.Level, small.StdMultiple));
        Assert.Equal(0.32676375804459795, small.Threshold, 12);
        Assert.Equal((6, 0.75), (Profile.AtStdMultiple(1).BelowThreshold, Profile.AtStdMultiple(1).Level));
        Assert.Throws<ArgumentOutOfRangeException>(() => Profile.AtStdMultiple(-1));
    }

    [Fact]
    public void FilterProfilesThresholdTheFilterNorms()
    {
        // L1 norms of the rows: |1| + |−1| = 2, 0.5, 4 → sorted 0.5, 2, 4.
        using var weight = tensor(new float[] { 1, -1, 0.5f, 0, 2, 2 }).reshape(3, 2);
        var profile = MagnitudeProfile.Of(PruningRanking.ByFilterNorm("hidden.fc1", weight, FilterNorm.L1));

        Assert.Equal([0.5, 2, 4], profile.SortedScores);
        Assert.Equal(PruningMethod.FilterL1, profile.Method);
        // 0.34 of 3 = 1.02 → 1 filter: t = 2.
        Assert.Equal(new MagnitudeSetting("hidden.fc1", 2, 1, 0.34, 1, 3), profile.AtLevel(0.34));
        Assert.Equal((2, 0.6667), (profile.AtThreshold(3).BelowThreshold, profile.AtThreshold(3).Level));
        Assert.Throws<InvalidOperationException>(() => profile.AtStdMultiple(1));
    }

    [Fact]
    public void TheNearestLevelHasFourDecimals()
    {
        Assert.Equal(0.375, MagnitudeProfile.NearestLevel(3, 8));
        Assert.Equal(0.3333, MagnitudeProfile.NearestLevel(1, 3));
        Assert.Equal(0.6667, MagnitudeProfile.NearestLevel(2, 3));
        // 5 of 82,944 weights is 0.0000603: the nearest level 0.0001 prunes round(8.29) = 8 of them.
        Assert.Equal(0.0001, MagnitudeProfile.NearestLevel(5, 82_944));
        Assert.Equal(8, PruningRanking.PrunedCount(0.0001, 82_944));
    }
}
