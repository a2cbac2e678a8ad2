using System.Diagnostics;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// Per-layer pruning sensitivity (Distiller's sensitivity analysis, done right for any level order):
/// for each layer and sparsity level, prune that layer alone from its dense weights, evaluate, record
/// top-1, top-5 and loss.
/// </summary>
/// <remarks>
/// Every cell starts from the dense weights (masks are applied to copies, or applied and restored),
/// so no pruning accumulates and a cell does not depend on which cells ran before it. In
/// <see cref="SweepMode.Cached"/> mode the input of each layer's block is computed once for all
/// images (advancing from the previous layer's, so the prefixes together cost one forward pass),
/// held only while that layer's levels run, and each level runs the network from there on.
/// </remarks>
public static class SensitivitySweep
{
    public static SensitivityResult Run(
        ClassifierNetwork network,
        LabeledImages images,
        SweepSettings settings,
        IProgress<SweepProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        Run(network, images, settings, store: null, identity: null, progress, cancellationToken);

    /// <summary>
    /// Runs a sweep, taking cells already in <paramref name="store"/> (for this identity) as they are
    /// and saving each computed cell there as soon as it is finished.
    /// </summary>
    public static SensitivityResult Run(
        ClassifierNetwork network,
        LabeledImages images,
        SweepSettings settings,
        ISweepCellStore? store,
        SweepIdentity? identity,
        IProgress<SweepProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(images);
        if (store is not null && identity is null)
            throw new ArgumentNullException(nameof(identity), "A cell store needs the sweep's identity (model hash, dataset, subset) to key its cells.");
        if (images.Height != network.InputHeight || images.Width != network.InputWidth)
            throw new ArgumentException($"{images.Name}: images are {images.Height}×{images.Width} but model {network.Architecture} takes {network.InputHeight}×{network.InputWidth}.", nameof(images));
        if (images.ClassCount > network.ClassCount)
            throw new ArgumentException($"{images.Name} has {images.ClassCount} classes but model {network.Architecture} outputs {network.ClassCount}.", nameof(images));

        var plan = settings.Normalize(network);
        var stopwatch = Stopwatch.StartNew();
        var wasTraining = network.training;
        network.eval();
        try
        {
            var run = new SweepRun(network, images, plan, store, identity, progress, cancellationToken);
            var (baseline, cells) = run.Execute();
            return new SensitivityResult(network.Architecture, plan, images.Count, baseline, cells, stopwatch.Elapsed.TotalSeconds, run.CellsComputed, run.CellsFromStore);
        }
        finally
        {
            if (wasTraining) network.train();
        }
    }

    /// <summary>One sweep's state: which cells are known, which must be computed, and the cached block input.</summary>
    private sealed class SweepRun(
        ClassifierNetwork network,
        LabeledImages images,
        SweepSettings plan,
        ISweepCellStore? store,
        SweepIdentity? identity,
        IProgress<SweepProgress>? progress,
        CancellationToken cancellationToken)
    {
        private readonly LayerInfo[] _layers = plan.Layers!.Select(network.Layer).ToArray();
        private readonly long _fullMacs = network.Layers.Sum(l => l.MacsPerSample);
        private int _cellsDone;
        private long _costDone;
        private long _costTotal;

        public int CellsComputed { get; private set; }
        public int CellsFromStore { get; private set; }

        public (SweepMetrics Baseline, IReadOnlyList<SweepCell> Cells) Execute()
        {
            var criterion = plan.CriterionKey;
            var stored = new Dictionary<(string, double), SweepCell>();
            var missing = new Dictionary<string, List<double>>();
            foreach (var layer in _layers)
            {
                var todo = new List<double>();
                foreach (var level in plan.Levels.Where(l => l > 0))
                {
                    if (store is not null && store.TryGet(SweepCellKey.For(identity!, criterion, layer.Name, level), out var cell))
                        stored[(layer.Name, level)] = cell;
                    else
                        todo.Add(level);
                }
                missing[layer.Name] = todo;
                _costTotal += todo.Count * CellCost(layer);
            }

            SweepMetrics? baseline = null;
            if (store is not null && store.TryGet(SweepCellKey.Baseline(identity!), out var storedBaseline))
                baseline = storedBaseline.Metrics;

            using var noGrad = no_grad();
            using var inputs = new SweepInputs(images);
            using IPrunableForward forward = plan.FoldBatchNorm ? new FoldedForward(network) : new ModuleForward(network);
            var totalCells = _layers.Length * plan.Levels.Count;
            var cells = new List<SweepCell>(totalCells);

            // The block input currently held (cached mode); block 0's is the image tensor itself.
            var cacheBlock = 0;
            var cache = inputs.Images;
            try
            {
                var firstWork = Array.FindIndex(_layers, l => missing[l.Name].Count > 0);
                if (baseline is null)
                {
                    var from = 0;
                    if (plan.Mode == SweepMode.Cached && firstWork >= 0)
                    {
                        MoveCache(_layers[firstWork].BlockIndex);
                        from = cacheBlock;
                    }
                    baseline = SweepEvaluation.Evaluate(forward, from, from == 0 ? inputs.Images : cache, inputs.Labels, plan.BatchSize, cancellationToken);
                    store?.Save(SweepCellKey.Baseline(identity!), SweepCell.From("", 0, 0, baseline, baseline));
                }

                foreach (var layer in _layers)
                {
                    var todo = missing[layer.Name];
                    PruningRanking? ranking = null;
                    if (todo.Count > 0)
                    {
                        ranking = PruningRanking.For(network, layer.Name, plan.Criterion, plan.Norm);
                        if (plan.Mode == SweepMode.Cached) MoveCache(layer.BlockIndex);
                    }
                    foreach (var level in plan.Levels)
                    {
                        SweepCell cell;
                        var fromStore = false;
                        if (level == 0)
                        {
                            cell = SweepCell.From(layer.Name, 0, 0, baseline, baseline);
                        }
                        else if (stored.TryGetValue((layer.Name, level), out var known))
                        {
                            cell = known;
                            fromStore = true;
                            CellsFromStore++;
                        }
                        else
                        {
                            var mask = ranking!.MaskAt(level);
                            SweepMetrics metrics;
                            using (forward.Prune(mask))
                            {
                                metrics = plan.Mode == SweepMode.Cached
                                    ? SweepEvaluation.Evaluate(forward, layer.BlockIndex, cache, inputs.Labels, plan.BatchSize, cancellationToken)
                                    : SweepEvaluation.Evaluate(forward, 0, inputs.Images, inputs.Labels, plan.BatchSize, cancellationToken);
                            }
                            cell = SweepCell.From(layer.Name, level, mask.Sparsity, metrics, baseline);
                            store?.Save(SweepCellKey.For(identity!, criterion, layer.Name, level), cell);
                            CellsComputed++;
                            _costDone += CellCost(layer);
                        }
                        cells.Add(cell);
                        _cellsDone++;
                        var fraction = _costTotal == 0 ? (double)_cellsDone / totalCells : (double)_costDone / _costTotal;
                        progress?.Report(new SweepProgress(cell, fromStore, _cellsDone, totalCells, fraction, baseline));
                    }
                }
            }
            finally
            {
                if (!ReferenceEquals(cache, inputs.Images)) cache.Dispose();
            }
            return (baseline, cells);

            // Advances the held block input to a later block, releasing the earlier one.
            void MoveCache(int block)
            {
                if (block == cacheBlock) return;
                var next = SweepEvaluation.Advance(forward, cache, cacheBlock, block, plan.BatchSize, cancellationToken);
                if (!ReferenceEquals(cache, inputs.Images)) cache.Dispose();
                cache = next;
                cacheBlock = block;
            }
        }

        private long CellCost(LayerInfo layer) => plan.Mode == SweepMode.Naive
            ? _fullMacs
            : network.Layers.Where(l => l.BlockIndex >= layer.BlockIndex).Sum(l => l.MacsPerSample);
    }
}
