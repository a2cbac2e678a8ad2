using System.Globalization;

namespace CompressionLab.Core.Pruning;

/// <summary>How a fine-tuning reaches its plan's levels.</summary>
public enum FineTuneSchedule
{
    /// <summary>Gradual pruning: from the dense model to the plan's levels along AGP's cubic (<see cref="AgpSchedule"/>).</summary>
    Agp,

    /// <summary>The plan's masks, ranked on the dense weights, from the first step to the last.</summary>
    Fixed,
}

/// <summary>
/// When the masks of a masked fine-tuning change, in optimizer steps counted over the whole run from 0 (batch b of epoch
/// e is step (e − 1)·<see cref="BatchesPerEpoch"/> + b − 1), and which level each layer has from then on.
/// </summary>
/// <remarks>
/// <para><b>Fixed</b>: one update, at step 0, to every layer's final level.</para>
/// <para><b>AGP</b> (Zhu &amp; Gupta 2017): each layer's own cubic from 0 to its plan level, t0 = 0, Δt =
/// <see cref="Interval"/> steps (a tenth of an epoch: <see cref="UpdatesPerEpoch"/> mask updates per epoch, at least every
/// step), n = <see cref="Updates"/> updates reaching the final levels at <see cref="RampShare"/> of the run (rounded down
/// to whole intervals, at least one), so the last quarter trains the final masks only. At each update the masks are
/// ranked again by magnitude on the current weights (already-pruned weights are 0 and stay pruned).</para>
/// </remarks>
public sealed record MaskSchedule
{
    /// <summary>AGP's mask updates per epoch (Zhu &amp; Gupta prune every 100–1,000 steps of much longer runs; a tenth of an epoch keeps each increase small here).</summary>
    public const int UpdatesPerEpoch = 10;

    /// <summary>The share of the run over which AGP ramps up; the rest fine-tunes the final masks.</summary>
    public const double RampShare = 0.75;

    private MaskSchedule(FineTuneSchedule kind, int batchesPerEpoch, int epochs, int interval, int updates)
    {
        Kind = kind;
        BatchesPerEpoch = batchesPerEpoch;
        Epochs = epochs;
        Interval = interval;
        Updates = updates;
    }

    public FineTuneSchedule Kind { get; }
    public int BatchesPerEpoch { get; }
    public int Epochs { get; }

    /// <summary>Δt: steps between two mask updates (AGP); 0 for the fixed schedule.</summary>
    public int Interval { get; }

    /// <summary>n: AGP's pruning steps after step 0; 0 for the fixed schedule.</summary>
    public int Updates { get; }

    public long TotalSteps => (long)BatchesPerEpoch * Epochs;

    /// <summary>The step at which every layer has its final level.</summary>
    public long FinalStep => (long)Interval * Updates;

    public static MaskSchedule For(FineTuneSchedule kind, int batchesPerEpoch, int epochs)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchesPerEpoch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epochs);
        if (kind == FineTuneSchedule.Fixed) return new MaskSchedule(kind, batchesPerEpoch, epochs, 0, 0);
        var interval = Math.Max(1, batchesPerEpoch / UpdatesPerEpoch);
        var updates = (int)Math.Max(1, Math.Floor(RampShare * batchesPerEpoch * epochs / interval));
        return new MaskSchedule(kind, batchesPerEpoch, epochs, interval, updates);
    }

    /// <summary>Whether the masks are set (again) before step <paramref name="step"/>.</summary>
    public bool UpdatesAt(long step) => Kind == FineTuneSchedule.Fixed
        ? step == 0
        : step >= 0 && step % Interval == 0 && step / Interval <= Updates;

    /// <summary>The level a layer whose plan level is <paramref name="finalLevel"/> has from step <paramref name="step"/> on (until the next update).</summary>
    public double LevelAt(double finalLevel, long step)
    {
        if (Kind == FineTuneSchedule.Fixed || finalLevel == 0) return finalLevel;
        // The last update at or before the step: levels only change at updates.
        var update = Math.Min(Updates, Math.Max(0, step) / Interval);
        return new AgpSchedule(0, finalLevel, 0, Updates, Interval).LevelAt(update * (double)Interval);
    }

    /// <summary>"agp: masks updated every 43 steps, 30 updates, final levels from step 1,290 of 1,720" or "fixed: the plan's masks from step 0".</summary>
    public string Describe() => Kind == FineTuneSchedule.Fixed
        ? string.Create(CultureInfo.InvariantCulture, $"fixed: the plan's masks from step 0 of {TotalSteps:N0}")
        : string.Create(CultureInfo.InvariantCulture,
            $"agp: masks ranked again every {Interval} steps, {Updates} updates, final levels from step {FinalStep:N0} of {TotalSteps:N0}");

    public static string Name(FineTuneSchedule kind) => kind switch
    {
        FineTuneSchedule.Agp => "agp",
        FineTuneSchedule.Fixed => "fixed",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary><c>agp</c> or <c>fixed</c>.</summary>
    /// <exception cref="ArgumentException">Neither.</exception>
    public static FineTuneSchedule Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "agp" => FineTuneSchedule.Agp,
        "fixed" => FineTuneSchedule.Fixed,
        _ => throw new ArgumentException($"Unknown schedule '{text}'; use agp or fixed."),
    };
}
