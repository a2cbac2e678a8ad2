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
        CancellationToken cancellationToken = default) =>
        Run(network, images, settings, store, identity, progress, twin: null, cancellationToken);

    /// <summary>
    /// A cached sweep that also evaluates every computed cell the naive way, alternating the two per
    /// cell and timing each (for <see cref="SweepBenchmark"/>: load that drifts during a long run then
    /// hits both ways alike instead of whichever half ran later).
    /// </summary>
    internal static (SensitivityResult Cached, NaiveTwin Naive) RunInterleaved(ClassifierNetwork network, LabeledImages images, SweepSettings settings, CancellationToken cancellationToken)
    {
        var twin = new NaiveTwin();
        var result = Run(network, images, settings with { Mode = SweepMode.Cached }, store: null, identity: null, progress: null, twin, cancellationToken);
        return (result, twin);
    }

    /// <summary>What the naive way gave and cost, measured beside a cached run.</summary>
    internal sealed class NaiveTwin
    {
        public Stopwatch NaiveTime { get; } = new();
        public Stopwatch CachedTime { get; } = new();
        public SweepMetrics? Baseline { get; set; }
        public List<SweepCell> Cells { get; } = [];
    }

    private static SensitivityResult Run(
        ClassifierNetwork network,
        LabeledImages images,
        SweepSettings settings,
        ISweepCellStore? store,
        SweepIdentity? identity,
        IProgress<SweepProgress>? progress,
        NaiveTwin? twin,
        CancellationToken cancellationToken)
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
        if (identity is not null && identity.BatchSize != plan.BatchSize)
            throw new ArgumentException($"The sweep's identity keys cells for batches of {identity.BatchSize} but the settings run batches of {plan.BatchSize}: cells would be stored under the wrong key.", nameof(identity));
        var stopwatch = Stopwatch.StartNew();
        var wasTraining = network.training;
        network.eval();
        try
        {
            var run = new SweepRun(network, images, plan, store, identity, progress, twin, cancellationToken);
            var (baseline, cells) = run.Execute();
            return new SensitivityResult(network.Architecture, plan, images.Count, baseline, cells, stopwatch.Elapsed.TotalSeconds, run.CellsComputed, run.CellsFromStore)
            {
                LeftOut = settings.LeftOut(network),
            };
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
        NaiveTwin? twin,
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
                    twin?.CachedTime.Start();
                    if (plan.Mode == SweepMode.Cached && firstWork >= 0)
                    {
                        MoveCache(_layers[firstWork].BlockIndex);
                        from = cacheBlock;
                    }
                    baseline = SweepEvaluation.Evaluate(forward, from, from == 0 ? inputs.Images : cache, inputs.Labels, network.ClassCount, plan.BatchSize, cancellationToken);
                    twin?.CachedTime.Stop();
                    store?.Save(SweepCellKey.Baseline(identity!), SweepCell.From("", 0, 0, baseline, baseline));
                }
                if (twin is not null)
                {
                    twin.NaiveTime.Start();
                    twin.Baseline = SweepEvaluation.Evaluate(forward, 0, inputs.Images, inputs.Labels, network.ClassCount, plan.BatchSize, cancellationToken);
                    twin.NaiveTime.Stop();
                }

                foreach (var layer in _layers)
                {
                    var todo = missing[layer.Name];
                    PruningRanking? ranking = null;
                    if (todo.Count > 0)
                    {
                        ranking = PruningRanking.For(network, layer.Name, plan.Criterion, plan.Norm);
                        twin?.CachedTime.Start();
                        if (plan.Mode == SweepMode.Cached) MoveCache(layer.BlockIndex);
                        twin?.CachedTime.Stop();
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
                            var naiveFirst = twin is not null && CellsComputed % 2 == 0;
                            if (naiveFirst) RunTwin(mask, layer, level, baseline);
                            twin?.CachedTime.Start();
                            SweepMetrics metrics;
                            using (forward.Prune(mask))
                            {
                                metrics = plan.Mode == SweepMode.Cached
                                    ? SweepEvaluation.Evaluate(forward, layer.BlockIndex, cache, inputs.Labels, network.ClassCount, plan.BatchSize, cancellationToken)
                                    : SweepEvaluation.Evaluate(forward, 0, inputs.Images, inputs.Labels, network.ClassCount, plan.BatchSize, cancellationToken);
                            }
                            twin?.CachedTime.Stop();
                            if (twin is not null && !naiveFirst) RunTwin(mask, layer, level, baseline);
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

            void RunTwin(PruningMask mask, LayerInfo layer, double level, SweepMetrics cachedBaseline)
            {
                twin!.NaiveTime.Start();
                SweepMetrics metrics;
                using (forward.Prune(mask))
                    metrics = SweepEvaluation.Evaluate(forward, 0, inputs.Images, inputs.Labels, network.ClassCount, plan.BatchSize, cancellationToken);
                twin.NaiveTime.Stop();
                twin.Cells.Add(SweepCell.From(layer.Name, level, mask.Sparsity, metrics, twin.Baseline ?? cachedBaseline));
            }

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
