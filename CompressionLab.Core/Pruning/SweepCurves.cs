namespace CompressionLab.Core.Pruning;

/// <summary>
/// A model's sensitivity curves as the workspace's sweep cells give them (accuracies are fractions there, as here): the
/// dense baseline and, per swept layer and method, the measured levels, all on one set of images and one batch size
/// (<see cref="Identity"/>). What <see cref="PlanPredictor"/> and
/// <see cref="PlanAllocator"/> take.
/// </summary>
/// <param name="BaselineTop1">The dense model's top-1 on the sweep's images, a fraction.</param>
/// <param name="Curves">At most one per (layer, method): layers without a stored cell for a method have none.</param>
public sealed record SweepCurves(SweepIdentity Identity, double BaselineTop1, IReadOnlyList<SensitivityCurve> Curves)
{
    /// <summary>
    /// Curves from a baseline and stored cells (any order; level 0 of a layer, when stored, is the baseline). Every
    /// level stored for a layer is a point, whichever sweep measured it: cells of one identity and criterion are the
    /// same measurement wherever they came from.
    /// </summary>
    public static SweepCurves From(SweepIdentity identity, SweepMetrics baseline, IEnumerable<(PruningMethod Method, SweepCell Cell)> cells)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(cells);
        var top1 = baseline.Top1;
        var curves = cells
            .Where(c => c.Cell.Sparsity > 0)
            .GroupBy(c => (c.Cell.Layer, c.Method))
            .Select(g => SensitivityCurve.Create(g.Key.Layer, g.Key.Method, top1,
                g.Select(c => new CurvePoint(c.Cell.Sparsity, c.Cell.Top1))))
            .ToArray();
        return new SweepCurves(identity, top1, curves);
    }

    public SensitivityCurve? CurveOf(string layer, PruningMethod method) => Curves.FirstOrDefault(c => c.Layer == layer && c.Method == method);

    /// <summary>The plan's pruned layers (not excluded, level above 0) that have no curve for their method, in table order.</summary>
    public IReadOnlyList<PlannedLayer> Missing(ResolvedPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return [.. plan.Layers.Where(l => !l.Excluded && l.Level > 0 && CurveOf(l.Layer, l.Method) is null)];
    }
}
