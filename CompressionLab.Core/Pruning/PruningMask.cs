using System.Collections.Immutable;
using CompressionLab.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// Which units of one layer are zero: single weights (flat row-major indices) for
/// <see cref="PruningCriterion.Element"/>, output filters for <see cref="PruningCriterion.Filter"/>.
/// Immutable; it never holds or changes the weights themselves.
/// </summary>
/// <remarks>
/// What a filter mask silences: the filter's weights, its bias, and, when a BatchNorm normalises the
/// layer's output channels (found through the network's <see cref="LayerGraph"/>), that BatchNorm's
/// gamma and beta for the channel. Zeroing the conv alone would
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

    /// <summary>
    /// True for each pruned unit, a 1-D bool tensor of <see cref="UnitCount"/>. Built from a managed array rather than
    /// index_fill_(…, true): an implicit Scalar is a temporary the GC may finalize while the native call still reads it.
    /// </summary>
    internal Tensor UnitMask()
    {
        var rows = new bool[UnitCount];
        foreach (var unit in _prunedUnits) rows[unit] = true;
        return tensor(rows);
    }

    /// <summary>True where the weight is zeroed, in the weight's shape.</summary>
    public Tensor PrunedWeights()
    {
        using var scope = NewDisposeScope();
        var shape = WeightShape.ToArray();
        Tensor pruned;
        if (Criterion == PruningCriterion.Element)
        {
            pruned = UnitMask().view(shape);
        }
        else
        {
            var rows = UnitMask();
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
    /// for bit. All or nothing: when a step fails (a tensor of an unexpected shape, say), what was
    /// already zeroed is restored before the exception leaves, so the network is exactly as before.
    /// </summary>
    public AppliedPruningMask ApplyTo(ClassifierNetwork network)
    {
        var layer = PrunableLayer.Of(network, LayerName);
        var applied = new AppliedPruningMask(this);
        try
        {
            using var noGrad = no_grad();
            using var index = UnitIndexTensor();
            // Kept alive across the native calls (see UnitMask).
            using var zero = 0.0.ToScalar();
            if (!layer.Weight.shape.SequenceEqual(WeightShape))
                throw new ArgumentException($"Mask for {LayerName} expects weight shape [{string.Join(", ", WeightShape)}] but the network's is [{string.Join(", ", layer.Weight.shape)}].");
            if (Criterion == PruningCriterion.Element)
            {
                applied.Save(layer.Weight);
                using var flat = layer.Weight.detach().view(-1);
                if (PrunedCount > 0) flat.index_fill_(0, index, zero);
            }
            else
            {
                foreach (var (name, target) in layer.FilterTargets())
                {
                    if (target.shape[0] != UnitCount)
                        throw new ArgumentException($"Mask for {LayerName} removes rows of {UnitCount} filters, but {name} has shape [{string.Join(", ", target.shape)}].");
                    applied.Save(target);
                    using var live = target.detach();
                    if (PrunedCount > 0) live.index_fill_(0, index, zero);
                }
            }
        }
        catch
        {
            applied.Dispose();
            throw;
        }
        return applied;
    }

    public override string ToString() =>
        $"{LayerName} {PruningCriterionText.Name(Criterion)} {PrunedCount}/{UnitCount}";
}

/// <summary>A mask in force on a network's live parameters; <see cref="Dispose"/> restores the dense values.</summary>
public sealed class AppliedPruningMask : IDisposable
{
    private readonly List<(Tensor Live, Tensor Saved)> _changed = [];
    private bool _restored;

    internal AppliedPruningMask(PruningMask mask) => Mask = mask;

    public PruningMask Mask { get; }

    /// <summary>Keeps a copy of <paramref name="target"/> before it is changed, so that disposing puts it back.</summary>
    internal void Save(Tensor target) => _changed.Add((target, target.detach().clone()));

    /// <summary>Copies the dense values back (a plain copy, so they are bit-identical to before), last change first.</summary>
    public void Dispose()
    {
        if (_restored) return;
        _restored = true;
        using var noGrad = no_grad();
        for (var i = _changed.Count - 1; i >= 0; i--)
        {
            using var live = _changed[i].Live.detach();
            live.copy_(_changed[i].Saved);
            _changed[i].Saved.Dispose();
        }
    }
}
