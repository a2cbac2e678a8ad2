using System.Collections.Immutable;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// The order in which a criterion removes the units (single weights, or output filters) of one
/// layer: the mask at any sparsity is the first <see cref="PrunedCount"/> units of this order, so masks of one
/// ranking are nested. Ranked once from the dense weights and reused for every level of a sweep.
/// </summary>
/// <remarks>
/// Ties are broken by the lower unit index going first (flat row-major index for elements, filter
/// index for filters), so the masks never depend on the sort algorithm. Norms are summed in double
/// in index order on the CPU, so rankings do not depend on thread count either. Unlike Distiller's
/// threshold rule, which zeroes every weight equal to the threshold, exactly the requested count is
/// removed.
/// </remarks>
public sealed class PruningRanking
{
    private readonly ImmutableArray<int> _order;
    private readonly ImmutableArray<double> _scores;

    private PruningRanking(string layerName, PruningCriterion criterion, FilterNorm norm, IReadOnlyList<long> weightShape, ImmutableArray<int> order, ImmutableArray<double> scores)
    {
        LayerName = layerName;
        Criterion = criterion;
        Norm = norm;
        WeightShape = weightShape;
        _order = order;
        _scores = scores;
    }

    public string LayerName { get; }
    public PruningCriterion Criterion { get; }

    /// <summary>The filter norm used (meaningless for <see cref="PruningCriterion.Element"/>).</summary>
    public FilterNorm Norm { get; }

    public IReadOnlyList<long> WeightShape { get; }

    /// <summary>Units in the order they are pruned: <c>Order[0]</c> goes first.</summary>
    public IReadOnlyList<int> Order => _order;

    /// <summary>Score of each unit, indexed by unit: |w| for elements, the L1 or L2 norm for filters.</summary>
    public IReadOnlyList<double> Scores => _scores;

    public int UnitCount => _order.Length;

    /// <summary>Ranks a layer of a network by a criterion, from its current (dense) weights.</summary>
    public static PruningRanking For(ClassifierNetwork network, string layerName, PruningCriterion criterion, FilterNorm norm = FilterNorm.L1)
    {
        var weight = network.LayerWeight(layerName);
        return criterion switch
        {
            PruningCriterion.Element => ByMagnitude(layerName, weight),
            PruningCriterion.Filter => ByFilterNorm(layerName, weight, norm),
            _ => throw new ArgumentOutOfRangeException(nameof(criterion), criterion, null),
        };
    }

    /// <summary>Element-wise magnitude ranking: smallest |w| first.</summary>
    public static PruningRanking ByMagnitude(string layerName, Tensor weight)
    {
        var values = ReadValues(layerName, weight);
        var scores = new double[values.Length];
        for (var i = 0; i < values.Length; i++) scores[i] = Math.Abs((double)values[i]);
        return new PruningRanking(layerName, PruningCriterion.Element, FilterNorm.L1, weight.shape, SortUnits(scores), [.. scores]);
    }

    /// <summary>
    /// Filter-wise ranking of output filters (dimension 0) by L1 norm (sum |w|) or L2 norm
    /// (sqrt of sum w²), smallest first. Distiller's mean-|w| is the L1 norm over a constant.
    /// </summary>
    public static PruningRanking ByFilterNorm(string layerName, Tensor weight, FilterNorm norm)
    {
        if (weight.dim() < 2)
            throw new ArgumentException($"Layer {layerName}: filter pruning needs a 2-D or 4-D weight, not shape [{string.Join(", ", weight.shape)}].");
        var values = ReadValues(layerName, weight);
        var filters = (int)weight.shape[0];
        var perFilter = values.Length / filters;
        var scores = new double[filters];
        for (var f = 0; f < filters; f++)
        {
            double sum = 0;
            for (var j = f * perFilter; j < (f + 1) * perFilter; j++)
                sum += norm == FilterNorm.L1 ? Math.Abs((double)values[j]) : (double)values[j] * values[j];
            scores[f] = norm == FilterNorm.L1 ? sum : Math.Sqrt(sum);
        }
        return new PruningRanking(layerName, PruningCriterion.Filter, norm, weight.shape, SortUnits(scores), [.. scores]);
    }

    /// <summary>
    /// Units pruned at a sparsity: round half away from zero of sparsity × units, computed in
    /// decimal so that a level typed as 0.45 on 10 units removes 5 (binary noise cannot tip it),
    /// and never all of them: a level is below 1, so at least one unit stays (0.95 of 7 filters
    /// rounds to 7 and is capped at 6). <see cref="PruningMask.Sparsity"/> is the fraction that results.
    /// </summary>
    /// <remarks>
    /// Distiller's ranked-structure pruners and NNI's sparsity allocators truncate, int(sparsity × units),
    /// which also never reaches all units below 1 but removes nothing from 7 filters until 1/7 ≈ 0.143
    /// and always under-shoots. Rounding lands nearest to the level asked for; the cap only acts
    /// on levels above 1 − 1/(2·units).
    /// </remarks>
    public static int PrunedCount(double sparsity, int unitCount)
    {
        SweepLevels.Validate(sparsity);
        ArgumentOutOfRangeException.ThrowIfNegative(unitCount);
        var rounded = (int)Math.Round((decimal)sparsity * unitCount, MidpointRounding.AwayFromZero);
        return Math.Min(rounded, Math.Max(unitCount - 1, 0));
    }

    /// <summary>Pruned units / units at a level: the sparsity a layer of <paramref name="unitCount"/> units really gets.</summary>
    public static double ActualSparsity(double sparsity, int unitCount) =>
        unitCount == 0 ? 0 : (double)PrunedCount(sparsity, unitCount) / unitCount;

    /// <summary>The mask that removes the first <see cref="PrunedCount"/> units of this ranking.</summary>
    public PruningMask MaskAt(double sparsity)
    {
        var count = PrunedCount(sparsity, UnitCount);
        var pruned = _order.AsSpan(0, count).ToArray();
        Array.Sort(pruned);
        return new PruningMask(LayerName, Criterion, WeightShape, UnitCount, [.. pruned], sparsity);
    }

    private static float[] ReadValues(string layerName, Tensor weight)
    {
        if (weight.numel() == 0) throw new ArgumentException($"Layer {layerName} has an empty weight.");
        using var scope = NewDisposeScope();
        return weight.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
    }

    private static ImmutableArray<int> SortUnits(double[] scores)
    {
        var order = new int[scores.Length];
        for (var i = 0; i < order.Length; i++) order[i] = i;
        // A total order (score, then index): the result does not depend on the sort's stability.
        Array.Sort(order, (a, b) =>
        {
            var byScore = scores[a].CompareTo(scores[b]);
            return byScore != 0 ? byScore : a.CompareTo(b);
        });
        return [.. order];
    }
}
