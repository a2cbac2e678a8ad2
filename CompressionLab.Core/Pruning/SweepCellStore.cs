using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>What a sweep's results are about (the exact model, the data, the subset of it) and how they were batched.</summary>
/// <param name="ModelHash">Content hash of the model's weights (the checkpoint's hash).</param>
/// <param name="Dataset">Dataset name, e.g. <c>fashion-mnist</c>.</param>
/// <param name="Subset">Which images, described so that equal text means equal images (<see cref="AnalysisSubset.Key"/>).</param>
/// <param name="BatchSize">
/// Images per forward pass (<see cref="SweepSettings.BatchSize"/>): it can change a cell, so cells are keyed by it
/// (see <see cref="SweepCellKey"/>), and a sweep must run with the batch size its identity names.
/// </param>
public sealed record SweepIdentity(string ModelHash, string Dataset, string Subset, int BatchSize = Evaluator.DefaultBatchSize);

/// <summary>
/// Key of one persisted cell: everything that can change its numbers. The model's weights, the images, the criterion,
/// layer and level; the batch size, because the kernels' float rounding can depend on it (measured on a trained
/// vgg-small, 2,000 images: batches of 3, 7, 32, 64, 256 and 500, with 1 or 2 threads, gave bit-identical cells, but
/// batches of 1 changed every loss in the 7th digit — a single row takes another matrix-multiply path — so an image on
/// the edge can flip); and <see cref="Engine"/>, for the evaluation arithmetic itself. BN folding and cached/naive mode are left out: they
/// give bit-identical cells (the benchmark checks it on every run).
/// </summary>
/// <param name="Criterion"><c>element</c>, <c>filter-l1</c>, <c>filter-l2</c>; <c>dense</c> for the baseline.</param>
public sealed record SweepCellKey(string ModelHash, string Dataset, string Subset, int BatchSize, string Criterion, string Layer, double Level)
{
    public const string BaselineCriterion = "dense";

    /// <summary>
    /// The version of the arithmetic that turns a model, images and a mask into a cell. Bump it whenever a change can
    /// alter a stored cell's numbers or their meaning — normalisation, the forward pass or its folding, how metrics are
    /// counted or summed, units, rounding of levels to units — so old cells stop matching by key (no migration needed).
    /// 1: percent, the sweep's own normalisation and metrics. 2: fractions, <see cref="ImageTensors"/> and
    /// <see cref="ClassificationTally"/> shared with every evaluation.
    /// </summary>
    public const int CurrentEngine = 2;

    /// <summary>The engine version that computed the cell; <see cref="CurrentEngine"/> for every key the engine makes.</summary>
    public int Engine { get; init; } = CurrentEngine;

    public static SweepCellKey For(SweepIdentity identity, string criterion, string layer, double level)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return new(identity.ModelHash, identity.Dataset, identity.Subset, identity.BatchSize, criterion, layer, level);
    }

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
