using System.Collections.Immutable;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// Which units of one layer are zero: single weights (flat row-major indices) for
/// <see cref="PruningCriterion.Element"/>, output filters for <see cref="PruningCriterion.Filter"/>.
/// Immutable; it never holds or changes the weights themselves.
/// </summary>
/// <remarks>
/// What a filter mask silences: the filter's weights, its bias, and, when a BatchNorm directly
/// follows the layer, that BatchNorm's gamma and beta for the channel. Zeroing the conv alone would
/// leave the channel at the constant beta − gamma·mean/sqrt(var + eps) after BN, which is not what
/// removing the channel does; with gamma and beta zeroed the channel is exactly 0 after BN and ReLU,
/// as in the thinned network. Element masks touch only the weight.
/// </remarks>
public sealed class PruningMask
{
    private readonly ImmutableArray<int> _prunedUnits;

    internal PruningMask(string layerName, PruningCriterion criterion, IReadOnlyList<long> weightShape, int unitCount, ImmutableArray<int> prunedUnits, double requestedSparsity)
    {
        LayerName = layerName;
        Criterion = criterion;
        WeightShape = weightShape;
        UnitCount = unitCount;
        _prunedUnits = prunedUnits;
        RequestedSparsity = requestedSparsity;
    }

    /// <summary>A mask from an explicit list of units (e.g. read back from a recipe).</summary>
    public static PruningMask FromUnits(string layerName, PruningCriterion criterion, IReadOnlyList<long> weightShape, IEnumerable<int> prunedUnits)
    {
        var unitCount = criterion == PruningCriterion.Filter
            ? (int)weightShape[0]
            : (int)weightShape.Aggregate(1L, (a, b) => a * b);
        var units = prunedUnits.Distinct().Order().ToArray();
        foreach (var unit in units)
            if ((uint)unit >= (uint)unitCount)
                throw new ArgumentOutOfRangeException(nameof(prunedUnits), $"Layer {layerName}: unit {unit} is outside its {unitCount} {(criterion == PruningCriterion.Filter ? "filters" : "weights")}.");
        return new PruningMask(layerName, criterion, weightShape, unitCount, [.. units], (double)units.Length / unitCount);
    }

    public string LayerName { get; }
    public PruningCriterion Criterion { get; }
    public IReadOnlyList<long> WeightShape { get; }

    /// <summary>Weights (element masks) or output filters (filter masks) of the layer.</summary>
    public int UnitCount { get; }

    /// <summary>Pruned units in ascending order.</summary>
    public IReadOnlyList<int> PrunedUnits => _prunedUnits;

    /// <summary>The sparsity level asked for; <see cref="Sparsity"/> is what rounding made of it.</summary>
    public double RequestedSparsity { get; }

    public int PrunedCount => _prunedUnits.Length;

    /// <summary>Fraction of the weight's elements that are zeroed (for filters: pruned filters / filters).</summary>
    public double Sparsity => UnitCount == 0 ? 0 : (double)PrunedCount / UnitCount;

    public bool IsPruned(int unit) => _prunedUnits.BinarySearch(unit) >= 0;

    /// <summary>Pruned units as an int64 index tensor (for index_fill_ along dim 0 or of the flat weight).</summary>
    internal Tensor UnitIndexTensor() => tensor(_prunedUnits.Select(u => (long)u).ToArray(), ScalarType.Int64);

    /// <summary>True where the weight is zeroed, in the weight's shape.</summary>
    public Tensor PrunedWeights()
    {
        using var scope = NewDisposeScope();
        using var index = UnitIndexTensor();
        var shape = WeightShape.ToArray();
        Tensor pruned;
        if (Criterion == PruningCriterion.Element)
        {
            pruned = zeros(UnitCount, ScalarType.Bool).index_fill_(0, index, true).view(shape);
        }
        else
        {
            var rows = zeros(UnitCount, ScalarType.Bool).index_fill_(0, index, true);
            var view = new long[shape.Length];
            Array.Fill(view, 1L);
            view[0] = UnitCount;
            pruned = rows.view(view).expand(shape).contiguous();
        }
        return pruned.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Zeroes the masked units in the live parameters of <paramref name="network"/> (see the remarks
    /// for what a filter mask covers); disposing the result copies the saved dense values back, bit
    /// for bit.
    /// </summary>
    public AppliedPruningMask ApplyTo(ClassifierNetwork network)
    {
        var layer = PrunableLayer.Of(network, LayerName);
        if (!layer.Weight.shape.SequenceEqual(WeightShape))
            throw new ArgumentException($"Mask for {LayerName} expects weight shape [{string.Join(", ", WeightShape)}] but the network's is [{string.Join(", ", layer.Weight.shape)}].");

        var targets = new List<Tensor> { layer.Weight };
        if (Criterion == PruningCriterion.Filter)
        {
            if (layer.Bias is not null) targets.Add(layer.Bias);
            if (layer.FollowingNorm is { } norm)
            {
                if (norm.weight is not null) targets.Add(norm.weight);
                if (norm.bias is not null) targets.Add(norm.bias);
            }
        }

        using var noGrad = no_grad();
        var saved = targets.Select(t => t.detach().clone()).ToList();
        if (PrunedCount > 0)
        {
            using var index = UnitIndexTensor();
            if (Criterion == PruningCriterion.Element)
            {
                using var flat = layer.Weight.detach().view(-1);
                flat.index_fill_(0, index, 0.0);
            }
            else
            {
                foreach (var target in targets)
                {
                    using var live = target.detach();
                    live.index_fill_(0, index, 0.0);
                }
            }
        }
        return new AppliedPruningMask(this, targets, saved);
    }

    public override string ToString() =>
        $"{LayerName} {PruningCriterionText.Name(Criterion)} {PrunedCount}/{UnitCount}";
}

/// <summary>A mask in force on a network's live parameters; <see cref="Dispose"/> restores the dense values.</summary>
public sealed class AppliedPruningMask : IDisposable
{
    private readonly IReadOnlyList<Tensor> _targets;
    private readonly IReadOnlyList<Tensor> _saved;
    private bool _restored;

    internal AppliedPruningMask(PruningMask mask, IReadOnlyList<Tensor> targets, IReadOnlyList<Tensor> saved)
    {
        Mask = mask;
        _targets = targets;
        _saved = saved;
    }

    public PruningMask Mask { get; }

    /// <summary>Copies the dense values back (a plain copy, so they are bit-identical to before).</summary>
    public void Dispose()
    {
        if (_restored) return;
        _restored = true;
        using var noGrad = no_grad();
        for (var i = 0; i < _targets.Count; i++)
        {
            using var live = _targets[i].detach();
            live.copy_(_saved[i]);
            _saved[i].Dispose();
        }
    }
}
