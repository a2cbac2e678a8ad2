using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace CompressionLab.Core.Pruning;

/// <summary>What a sweep's results are about: the exact model, the data, and the subset of it.</summary>
/// <param name="ModelHash">Content hash of the model's weights (the checkpoint's hash).</param>
/// <param name="Dataset">Dataset name, e.g. <c>fashion-mnist</c>.</param>
/// <param name="Subset">Which images, described so that equal text means equal images (e.g. <c>test/stratified-2000-seed-0</c>).</param>
public sealed record SweepIdentity(string ModelHash, string Dataset, string Subset);

/// <summary>Key of one persisted cell. Batch size, BN folding and mode are left out: they do not change results.</summary>
/// <param name="Criterion"><c>element</c>, <c>filter-l1</c>, <c>filter-l2</c>; <c>dense</c> for the baseline.</param>
public sealed record SweepCellKey(string ModelHash, string Dataset, string Subset, string Criterion, string Layer, double Level)
{
    public const string BaselineCriterion = "dense";

    public static SweepCellKey For(SweepIdentity identity, string criterion, string layer, double level) =>
        new(identity.ModelHash, identity.Dataset, identity.Subset, criterion, layer, level);

    /// <summary>The unpruned model's evaluation is stored as a cell too, under this key (criterion <c>dense</c>, empty layer, level 0).</summary>
    public static SweepCellKey Baseline(SweepIdentity identity) => For(identity, BaselineCriterion, "", 0);

    public bool IsBaseline => Criterion == BaselineCriterion;
}

/// <summary>
/// Where finished cells are kept so that a repeated sweep is served at once and an interrupted one
/// computes only what is missing. Save is called as each cell finishes.
/// </summary>
public interface ISweepCellStore
{
    bool TryGet(SweepCellKey key, [NotNullWhen(true)] out SweepCell? cell);

    void Save(SweepCellKey key, SweepCell cell);
}

/// <summary>A cell store in memory (tests, and a single process's repeated requests).</summary>
public sealed class InMemorySweepCellStore : ISweepCellStore
{
    private readonly ConcurrentDictionary<SweepCellKey, SweepCell> _cells = new();

    public int Count => _cells.Count;

    public IReadOnlyCollection<SweepCellKey> Keys => _cells.Keys.ToArray();

    public bool TryGet(SweepCellKey key, [NotNullWhen(true)] out SweepCell? cell) => _cells.TryGetValue(key, out cell);

    public void Save(SweepCellKey key, SweepCell cell) => _cells[key] = cell;

    public bool Remove(SweepCellKey key) => _cells.TryRemove(key, out _);
}
