using System.Globalization;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// Automated gradual pruning (Zhu &amp; Gupta 2017, "To prune, or not to prune"): the sparsity at time t rises
/// from <see cref="InitialSparsity"/> to <see cref="FinalSparsity"/> over n pruning steps of length Δt from t0 as
/// <c>s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(nΔt))³</c> — fast at first, while there are redundant weights to
/// lose, slowly at the end. Time is in whatever unit the caller counts (epochs, or optimizer steps).
/// </summary>
/// <remarks>
/// Outside [t0, t0 + nΔt] the schedule holds its end values: s_i before the start (pass 0 to start from the
/// dense model) and s_f after the end. Distiller's <c>AutomatedGradualPruner</c> uses the same formula with
/// nΔt = the policy's span rounded down to its frequency. Masks take levels of at most four decimals, so
/// <see cref="LevelAt"/> rounds the schedule to one (half away from zero, in decimal as the masks' own rule); the
/// rounded schedule never passes s_f, because s_f is itself such a level.
/// </remarks>
public sealed record AgpSchedule
{
    public AgpSchedule(double initialSparsity, double finalSparsity, double start, int steps, double stepLength)
    {
        if (PruningPlan.LevelProblem("The initial sparsity", initialSparsity) is { } initial) throw new ArgumentOutOfRangeException(nameof(initialSparsity), initialSparsity, initial);
        if (PruningPlan.LevelProblem("The final sparsity", finalSparsity) is { } final) throw new ArgumentOutOfRangeException(nameof(finalSparsity), finalSparsity, final);
        if (initialSparsity > finalSparsity)
            throw new ArgumentOutOfRangeException(nameof(initialSparsity), initialSparsity,
                $"The initial sparsity {Text(initialSparsity)} is above the final {Text(finalSparsity)}: gradual pruning only removes weights.");
        if (!double.IsFinite(start)) throw new ArgumentOutOfRangeException(nameof(start), start, "The start time must be a finite number.");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        if (!(stepLength > 0 && double.IsFinite(stepLength)))
            throw new ArgumentOutOfRangeException(nameof(stepLength), stepLength, $"The step length Δt must be a positive number, not {Text(stepLength)}.");
        InitialSparsity = initialSparsity;
        FinalSparsity = finalSparsity;
        Start = start;
        Steps = steps;
        StepLength = stepLength;
    }

    /// <summary>s_i, the sparsity at t0.</summary>
    public double InitialSparsity { get; }

    /// <summary>s_f, the sparsity from t0 + nΔt on.</summary>
    public double FinalSparsity { get; }

    /// <summary>t0.</summary>
    public double Start { get; }

    /// <summary>n, the number of pruning steps.</summary>
    public int Steps { get; }

    /// <summary>Δt, the time between two pruning steps.</summary>
    public double StepLength { get; }

    /// <summary>t0 + nΔt, when the final sparsity is reached.</summary>
    public double End => Start + (Steps * StepLength);

    /// <summary>The schedule's sparsity at time <paramref name="t"/> (exact formula, not rounded).</summary>
    public double SparsityAt(double t)
    {
        if (double.IsNaN(t)) throw new ArgumentOutOfRangeException(nameof(t), t, "The time is not a number.");
        var progress = (t - Start) / (Steps * StepLength);
        // The ends exactly: the formula gives s_f + (s_i − s_f), which is s_i only up to rounding.
        if (progress <= 0) return InitialSparsity;
        if (progress >= 1) return FinalSparsity;
        var remaining = 1 - progress;
        return FinalSparsity + ((InitialSparsity - FinalSparsity) * remaining * remaining * remaining);
    }

    /// <summary>The sparsity at <paramref name="t"/> as a mask level: rounded to four decimals.</summary>
    public double LevelAt(double t) =>
        (double)Math.Round((decimal)SparsityAt(t), SweepLevels.MaxDecimals, MidpointRounding.AwayFromZero);

    /// <summary>The levels of the n + 1 pruning steps, at t0, t0 + Δt, …, t0 + nΔt.</summary>
    public IReadOnlyList<double> StepLevels => [.. Enumerable.Range(0, Steps + 1).Select(k => LevelAt(Start + (k * StepLength)))];

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
