using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>The AGP cubic schedule s_t = s_f + (s_i − s_f)(1 − (t − t0)/(nΔt))³, by hand.</summary>
public class AgpScheduleTests
{
    [Fact]
    public void FromDenseToEightyPercentInFourSteps()
    {
        // s_i = 0, s_f = 0.8, t0 = 0, n = 4, Δt = 1: 0.8 − 0.8·(1 − t/4)³.
        // t = 1: 0.8 − 0.8·0.421875 = 0.4625; t = 2: 0.8 − 0.8·0.125 = 0.7; t = 3: 0.8 − 0.8·0.015625 = 0.7875.
        var schedule = new AgpSchedule(0, 0.8, start: 0, steps: 4, stepLength: 1);

        Assert.Equal([0, 0.4625, 0.7, 0.7875, 0.8], schedule.StepLevels);
        Assert.Equal(0.4625, schedule.SparsityAt(1), 15);
        Assert.Equal(0.7875, schedule.SparsityAt(3), 15);
        // Between steps: t = 0.5 gives 0.8 − 0.8·0.875³ = 0.2640625, level 0.2641.
        Assert.Equal(0.2640625, schedule.SparsityAt(0.5), 15);
        Assert.Equal(0.2641, schedule.LevelAt(0.5));
        Assert.Equal(4, schedule.End);
    }

    [Fact]
    public void OutsideItsWindowTheScheduleHoldsItsEnds()
    {
        var schedule = new AgpSchedule(0.05, 0.6, start: 2, steps: 2, stepLength: 3);

        Assert.Equal(0.05, schedule.SparsityAt(-10));
        Assert.Equal(0.05, schedule.SparsityAt(2));
        // t = 5 is half-way through nΔt = 6: 0.6 − 0.55·0.125 = 0.53125, which rounds half away from zero to 0.5313.
        Assert.Equal(0.53125, schedule.SparsityAt(5), 15);
        Assert.Equal(0.5313, schedule.LevelAt(5));
        Assert.Equal(0.6, schedule.SparsityAt(8));
        Assert.Equal(0.6, schedule.LevelAt(100));
    }

    [Fact]
    public void LevelsNeverFallAndNeverPassTheFinalSparsity()
    {
        var schedule = new AgpSchedule(0, 0.9137, start: 1, steps: 7, stepLength: 0.37);
        var levels = Enumerable.Range(0, 400).Select(i => schedule.LevelAt(i * 0.01)).ToArray();
        Assert.All(levels.Zip(levels.Skip(1)), pair => Assert.True(pair.First <= pair.Second));
        Assert.All(levels, level => Assert.Null(PruningPlan.LevelProblem("level", level)));
        Assert.Equal(0.9137, levels.Max());
    }

    [Fact]
    public void BadSettingsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new AgpSchedule(0.5, 0.4, 0, 4, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AgpSchedule(0, 1, 0, 4, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AgpSchedule(0, 0.5, 0, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AgpSchedule(0, 0.5, 0, 4, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AgpSchedule(0, 0.5, double.NaN, 4, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AgpSchedule(0, 0.5, 0, 4, 1).SparsityAt(double.NaN));
    }
}
