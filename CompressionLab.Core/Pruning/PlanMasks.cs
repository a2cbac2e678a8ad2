using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// The masks of a resolved plan: one <see cref="PruningMask"/> per pruned layer (not excluded, level above 0), each
/// from a <see cref="PruningRanking"/> of that layer's dense weights by the layer's method, so a layer gets exactly
/// the mask its sweep measured at the same level. Immutable; it never holds or changes weights.
/// </summary>
/// <remarks>
/// Every ranking is taken before any mask is applied. A mask changes only its own layer's weight (and, for filters,
/// its bias and BatchNorm channel), so the rankings would be the same in any order; taking them first makes that
/// independent of how masks are applied.
/// </remarks>
public sealed class PlanMasks
{
    private PlanMasks(IReadOnlyList<PruningMask> masks) => Masks = masks;

    /// <summary>The masks in the plan's (table) order.</summary>
    public IReadOnlyList<PruningMask> Masks { get; }

    /// <summary>Ranks every pruned layer of <paramref name="plan"/> on <paramref name="network"/>'s current (dense) weights.</summary>
    /// <exception cref="ArgumentException">A layer of the plan is not a layer of the network.</exception>
    public static PlanMasks For(ClassifierNetwork network, ResolvedPlan plan)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(plan);
        var masks = plan.Layers
            .Where(l => !l.Excluded && l.Level > 0)
            .Select(l => PruningRanking.For(network, l.Layer, l.Method.Criterion, l.Method.Norm).MaskAt(l.Level))
            .ToArray();
        return new PlanMasks(masks);
    }

    /// <summary>
    /// Zeroes every mask's units in the live parameters at once; disposing the result restores every parameter bit
    /// for bit. All or nothing: when a mask fails to apply, the ones already applied are restored before the exception leaves.
    /// </summary>
    public AppliedPlanMasks ApplyTo(ClassifierNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var applied = new List<AppliedPruningMask>(Masks.Count);
        try
        {
            foreach (var mask in Masks) applied.Add(mask.ApplyTo(network));
        }
        catch
        {
            new AppliedPlanMasks(applied).Dispose();
            throw;
        }
        return new AppliedPlanMasks(applied);
    }
}

/// <summary>A plan's masks in force on a network; <see cref="Dispose"/> restores the dense values, last mask first.</summary>
public sealed class AppliedPlanMasks : IDisposable
{
    private readonly IReadOnlyList<AppliedPruningMask> _applied;

    internal AppliedPlanMasks(IReadOnlyList<AppliedPruningMask> applied) => _applied = applied;

    public IReadOnlyList<PruningMask> Masks => [.. _applied.Select(a => a.Mask)];

    public void Dispose()
    {
        // Reverse order: masks that touch the same tensor (none do today) would then restore the oldest values last.
        for (var i = _applied.Count - 1; i >= 0; i--) _applied[i].Dispose();
    }
}
