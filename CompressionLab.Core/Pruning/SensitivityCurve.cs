using System.Collections.Immutable;
using System.Globalization;

namespace CompressionLab.Core.Pruning;

/// <summary>One measured point of a layer's sensitivity curve.</summary>
/// <param name="Level">The sparsity level asked for (rounded to whole units by the masks' rule when applied).</param>
/// <param name="Top1">Top-1 accuracy with only this layer pruned at this level, as a fraction (0.9345).</param>
public readonly record struct CurvePoint(double Level, double Top1);

/// <summary>
/// How one layer's top-1 falls as it alone is pruned by one method: the dense baseline and a sweep's
/// points, levels ascending, with the dense point (0, baseline) always first. Accuracies and drops are
/// fractions (a drop of 0.012 is 1.2 points).
/// </summary>
/// <remarks>
/// Levels are the levels asked for, not the sparsity rounding made of them: a plan's level on the same
/// layer is rounded by the same rule (<see cref="PruningRanking.PrunedCount"/>), so equal levels mean equal
/// masks and interpolating in requested levels is interpolating between real masks.
/// </remarks>
public sealed class SensitivityCurve
{
    private readonly ImmutableArray<CurvePoint> _points;

    private SensitivityCurve(string layer, PruningMethod method, double baselineTop1, ImmutableArray<CurvePoint> points)
    {
        Layer = layer;
        Method = method;
        BaselineTop1 = baselineTop1;
        _points = points;
    }

    public string Layer { get; }
    public PruningMethod Method { get; }
    public double BaselineTop1 { get; }

    /// <summary>Points by ascending level; the first is (0, <see cref="BaselineTop1"/>).</summary>
    public IReadOnlyList<CurvePoint> Points => _points;

    /// <summary>The highest level measured: beyond it the curve is not known.</summary>
    public double HighestLevel => _points[^1].Level;

    /// <summary>
    /// A curve from a sweep's points, in any order. A point at level 0 must equal the baseline (a sweep's
    /// level 0 is the dense model); when there is none, the baseline is that point.
    /// </summary>
    public static SensitivityCurve Create(string layer, PruningMethod method, double baselineTop1, IEnumerable<CurvePoint> points)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(layer);
        ArgumentNullException.ThrowIfNull(points);
        CheckAccuracy(layer, "baseline top-1", baselineTop1);
        var sorted = points.OrderBy(p => p.Level).ToList();
        for (var i = 0; i < sorted.Count; i++)
        {
            var point = sorted[i];
            if (PruningPlan.LevelProblem($"Layer {layer}: curve level", point.Level) is { } problem) throw new ArgumentException(problem, nameof(points));
            CheckAccuracy(layer, $"top-1 at level {SweepLevels.Format(point.Level)}", point.Top1);
            if (i > 0 && sorted[i - 1].Level == point.Level)
                throw new ArgumentException($"Layer {layer}: the curve has two points at level {SweepLevels.Format(point.Level)}.", nameof(points));
        }
        if (sorted.Count > 0 && sorted[0].Level == 0)
        {
            // Both come from the same evaluation of the dense model in a sweep; a difference means two different measurements.
            if (Math.Abs(sorted[0].Top1 - baselineTop1) > 1e-9)
                throw new ArgumentException(
                    $"Layer {layer}: the curve's level 0 has top-1 {Text(sorted[0].Top1)} but the baseline is {Text(baselineTop1)}; level 0 is the dense model.", nameof(points));
            sorted.RemoveAt(0);
        }
        return new SensitivityCurve(layer, method, baselineTop1, [new CurvePoint(0, baselineTop1), .. sorted]);
    }

    /// <summary>Baseline minus top-1 at each point (the first is 0).</summary>
    public IReadOnlyList<double> Drops => [.. _points.Select(p => BaselineTop1 - p.Top1)];

    /// <summary>True when <paramref name="level"/> lies within the measured levels (no extrapolation needed).</summary>
    public bool Covers(double level) => level <= HighestLevel;

    /// <summary>
    /// Predicted top-1 drop at a level: linear between the two measured levels around it, exact at a
    /// measured level. Beyond <see cref="HighestLevel"/> the drop of the highest level is returned (see
    /// <see cref="Covers"/>: the caller says so; curves only grow, so it is a lower bound there).
    /// </summary>
    public double DropAt(double level)
    {
        if (PruningPlan.LevelProblem("Level", level) is { } problem) throw new ArgumentOutOfRangeException(nameof(level), level, problem);
        var upper = 1;
        while (upper < _points.Length && _points[upper].Level < level) upper++;
        if (upper == _points.Length) return BaselineTop1 - _points[^1].Top1;
        var (a, b) = (_points[upper - 1], _points[upper]);
        var t = (level - a.Level) / (b.Level - a.Level);
        return BaselineTop1 - (a.Top1 + (t * (b.Top1 - a.Top1)));
    }

    /// <summary>
    /// The largest measured level up to which every measured drop stays within <paramref name="maxDrop"/>
    /// (a fraction): levels are read upwards and the first one over the tolerance stops the reading, so a
    /// noisy point that happens to recover above a failed level is not taken. 0 when even the first
    /// pruned level exceeds it.
    /// </summary>
    public double LargestLevelWithin(double maxDrop)
    {
        CheckTolerance(maxDrop);
        var level = 0.0;
        foreach (var point in _points)
        {
            if (BaselineTop1 - point.Top1 > maxDrop) break;
            level = point.Level;
        }
        return level;
    }

    /// <summary>
    /// The same layer with a monotonic drop: the least-squares non-decreasing fit (<see cref="IsotonicRegression"/>)
    /// of the drops at the pruned levels, clipped at 0, with level 0 kept at drop 0. Clipping the unbounded fit
    /// is the least-squares fit under the bound (isotonic regression with box constraints): a measured gain
    /// from pruning is taken as noise, not as a reason to prune more.
    /// </summary>
    public SensitivityCurve MonotoneFit()
    {
        var pruned = _points.Skip(1).ToArray();
        var fitted = IsotonicRegression.NonDecreasing([.. pruned.Select(p => BaselineTop1 - p.Top1)]);
        var points = pruned.Select((p, i) => new CurvePoint(p.Level, BaselineTop1 - Math.Max(0, fitted[i])));
        return new SensitivityCurve(Layer, Method, BaselineTop1, [_points[0], .. points]);
    }

    /// <summary>Throws unless a tolerated drop is a number ≥ 0 (a fraction: 0.01 is one point).</summary>
    public static void CheckTolerance(double maxDrop)
    {
        if (double.IsNaN(maxDrop) || maxDrop < 0)
            throw new ArgumentOutOfRangeException(nameof(maxDrop), maxDrop,
                $"A tolerated top-1 drop must be a fraction of at least 0 (0.01 is one point), not {Text(maxDrop)}.");
    }

    private static void CheckAccuracy(string layer, string what, double value)
    {
        if (!(value >= 0 && value <= 1))
            throw new ArgumentOutOfRangeException(what, value, $"Layer {layer}: {what} is {Text(value)}; accuracies are fractions from 0 to 1.");
    }

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
