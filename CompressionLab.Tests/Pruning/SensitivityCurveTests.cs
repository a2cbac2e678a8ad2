using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// Interpolated drops, the largest level within a tolerated drop, and the monotonic fit, on curves whose
/// accuracies are binary fractions (so every expected value below is exact, boundaries included).
/// </summary>
public class SensitivityCurveTests
{
    // Drops 0, 1/128, 1/16, 1/4 at levels 0, 0.25, 0.5, 0.75.
    private static readonly SensitivityCurve Curve = SensitivityCurve.Create("stage1.conv1", PruningMethod.Element, 0.875,
        [new(0.75, 0.625), new(0.25, 0.8671875), new(0.5, 0.8125)]);

    [Fact]
    public void PointsAreSortedAndStartAtTheDenseBaseline()
    {
        Assert.Equal([0, 0.25, 0.5, 0.75], Curve.Points.Select(p => p.Level));
        Assert.Equal([0, 0.0078125, 0.0625, 0.25], Curve.Drops);
        Assert.Equal(0.75, Curve.HighestLevel);
    }

    [Fact]
    public void DropsAreInterpolatedLinearlyBetweenMeasuredLevels()
    {
        Assert.Equal(0, Curve.DropAt(0));
        Assert.Equal(0.0625, Curve.DropAt(0.5));
        // Halfway between 1/128 and 1/16.
        Assert.Equal(0.03515625, Curve.DropAt(0.375));
        // 0.1 is 0.4 of the way to 0.25: 0.4 / 128 = 0.003125 (up to the rounding of 0.1 itself).
        Assert.Equal(0.003125, Curve.DropAt(0.1), 15);
        Assert.True(Curve.Covers(0.75));
        // Beyond the highest level: the highest level's drop, and the curve says it does not cover the level.
        Assert.Equal(0.25, Curve.DropAt(0.9));
        Assert.False(Curve.Covers(0.9));
    }

    [Fact]
    public void TheLargestLevelWithinATolerance()
    {
        Assert.Equal(0.5, Curve.LargestLevelWithin(0.0625));
        Assert.Equal(0.25, Curve.LargestLevelWithin(0.0624));
        Assert.Equal(0, Curve.LargestLevelWithin(0.0078));
        Assert.Equal(0, Curve.LargestLevelWithin(0));
        Assert.Equal(0.75, Curve.LargestLevelWithin(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Curve.LargestLevelWithin(-0.01));
        Assert.Throws<ArgumentOutOfRangeException>(() => Curve.LargestLevelWithin(double.NaN));
    }

    [Fact]
    public void ALevelThatRecoversAfterAFailedOneIsNotTaken()
    {
        // Drop 1/8 at 0.25 but 0 at 0.5 (noise): within 1/16, only level 0 is safe.
        var noisy = SensitivityCurve.Create("x", PruningMethod.Element, 0.875, [new(0.25, 0.75), new(0.5, 0.875)]);
        Assert.Equal(0, noisy.LargestLevelWithin(0.0625));
    }

    [Fact]
    public void TheMonotoneFitPoolsViolatorsAndNeverGoesBelowZero()
    {
        // Drops at 0.25, 0.5, 0.75, 0.9: −1/64, 1/16, 1/32, 1/4. PAV pools 1/16 and 1/32 to 3/64; the gain at 0.25 is clipped to 0.
        var curve = SensitivityCurve.Create("x", PruningMethod.FilterL1, 0.875,
            [new(0, 0.875), new(0.25, 0.890625), new(0.5, 0.8125), new(0.75, 0.84375), new(0.9, 0.625)]);

        var fit = curve.MonotoneFit();

        Assert.Equal([0, 0, 0.046875, 0.046875, 0.25], fit.Drops);
        Assert.Equal([0, 0.25, 0.5, 0.75, 0.9], fit.Points.Select(p => p.Level));
        Assert.Equal((curve.Layer, curve.Method, curve.BaselineTop1), (fit.Layer, fit.Method, fit.BaselineTop1));
    }

    [Fact]
    public void BadCurvesAreRefusedNamingWhatIsWrong()
    {
        Assert.Contains("level 0 is the dense model", Assert.Throws<ArgumentException>(() =>
            SensitivityCurve.Create("x", PruningMethod.Element, 0.9, [new(0, 0.8)])).Message, StringComparison.Ordinal);
        Assert.Contains("two points at level 0.5", Assert.Throws<ArgumentException>(() =>
            SensitivityCurve.Create("x", PruningMethod.Element, 0.9, [new(0.5, 0.8), new(0.5, 0.7)])).Message, StringComparison.Ordinal);
        // Percent where a fraction belongs.
        Assert.Contains("accuracies are fractions", Assert.Throws<ArgumentOutOfRangeException>(() =>
            SensitivityCurve.Create("x", PruningMethod.Element, 90, [])).Message, StringComparison.Ordinal);
        Assert.Contains("curve level 1 is outside [0, 1)", Assert.Throws<ArgumentException>(() =>
            SensitivityCurve.Create("x", PruningMethod.Element, 0.9, [new(1, 0.1)])).Message, StringComparison.Ordinal);
    }
}
