using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Pruning;

/// <summary>What sweep to run: a model (of the workspace or a checkpoint file), a catalog dataset's validation subset, a criterion and levels.</summary>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="Norm">How filters are ranked; only for the filter criterion (null: L1).</param>
/// <param name="Levels">Null: <see cref="SweepLevels.Default"/>.</param>
/// <param name="SubsetSize">Validation images per cell (<see cref="AnalysisSubset"/>).</param>
/// <param name="Layers">Null: every layer the criterion applies to (the others are named in the result's <c>LeftOut</c>).</param>
/// <param name="BatchSize">Images per forward pass (<see cref="SweepSettings.BatchSize"/>; part of the cells' key).</param>
public sealed record SweepRequest(
    ModelSource Model,
    string? Dataset = null,
    PruningCriterion Criterion = PruningCriterion.Element,
    FilterNorm? Norm = null,
    IReadOnlyList<double>? Levels = null,
    int SubsetSize = AnalysisSubset.DefaultSize,
    IReadOnlyList<string>? Layers = null,
    int BatchSize = SweepRequest.DefaultBatchSize)
{
    /// <summary>As evaluation's, so a sweep's dense baseline is an evaluation of the same images bit for bit.</summary>
    public const int DefaultBatchSize = Evaluator.DefaultBatchSize;

    /// <summary>The largest batch a sweep takes: far beyond any subset worth a batch, and its activations still fit in memory.</summary>
    public const int MaxBatchSize = 65_536;

    /// <summary><c>element</c>, <c>filter-l1</c> or <c>filter-l2</c>.</summary>
    public string CriterionKey => PruningCriterionText.Describe(Criterion, Norm ?? FilterNorm.L1);

    /// <summary>
    /// Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense (levels included);
    /// what depends on the model or the dataset (layer names, the subset's size) is checked when the job loads them.
    /// </summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to sweep.");
        Model.Validate();
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to sweep on.");
        if (!Enum.IsDefined(Criterion)) throw new InvalidRequestException(nameof(Criterion), $"Unknown pruning criterion {Criterion}.");
        if (Norm is { } norm && !Enum.IsDefined(norm)) throw new InvalidRequestException(nameof(Norm), $"Unknown filter norm {norm}.");
        if (Norm is not null && Criterion != PruningCriterion.Filter)
            throw new InvalidRequestException(nameof(Norm), "A norm only applies to the filter criterion (element pruning ranks single weights by |w|).");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The subset needs at least one image (got {SubsetSize}).");
        if (BatchSize is < 1 or > MaxBatchSize)
            throw new InvalidRequestException(nameof(BatchSize), string.Create(CultureInfo.InvariantCulture,
                $"The batch takes 1 to {MaxBatchSize:N0} images (got {BatchSize})."));
        try
        {
            SweepLevels.Normalize(Levels ?? SweepLevels.Default);
        }
        catch (ArgumentException e)
        {
            throw InvalidRequestException.For(nameof(Levels), e);
        }
        if (Layers is { Count: 0 }) throw new InvalidRequestException(nameof(Layers), "Choose at least one layer, or leave the layers empty for all.");
    }

    /// <summary>The engine's settings for this request; layers stay as asked (null: all), the engine resolves them.</summary>
    public SweepSettings Settings() => new()
    {
        Criterion = Criterion,
        Norm = Norm ?? FilterNorm.L1,
        Levels = Levels ?? SweepLevels.Default,
        Layers = Layers,
        BatchSize = BatchSize,
    };
}

/// <summary>First partial result of a sweep job: what will be swept (layers, levels), before any cell.</summary>
/// <param name="Baseline">The dense model's metrics when the store already had them; otherwise they come with the first cell.</param>
public sealed record SweepStarted(SweepRecord Sweep, SweepMetrics? Baseline) : JobPartial
{
    /// <summary>The layers the sweep leaves out and why (<see cref="PreparedSweep.LeftOut"/>), known with the plan.</summary>
    public IReadOnlyList<LeftOutLayer> LeftOut { get; init; } = [];
}

/// <summary>A partial result of a sweep job: one finished cell (computed, or read from the store).</summary>
public sealed record SweepCellFinished(Guid SweepId, SweepCell Cell, bool FromStore, int CellsDone, int CellsTotal, SweepMetrics Baseline) : JobPartial;

/// <summary>A finished sweep job's JSON result; the whole sweep is in the workspace's sweep history under <see cref="SweepId"/>.</summary>
/// <param name="ModelId">Null: a checkpoint file the workspace does not hold.</param>
public sealed record SweepJobResult(
    Guid SweepId,
    Guid? ModelId,
    string ModelName,
    string Architecture,
    string Dataset,
    string Subset,
    int SubsetSize,
    string Criterion,
    int Cells,
    int CellsComputed,
    int CellsFromStore,
    SweepMetrics Baseline,
    double Seconds)
{
    public static SweepJobResult FromJson(string json) => ModelJobJson.Read<SweepJobResult>(json);
}

/// <summary>A sweep ready to run (<see cref="SweepJob.Prepare"/>); disposing it frees the loaded checkpoint.</summary>
/// <param name="Subset">The validation images every cell is measured on.</param>
/// <param name="Identity">What keys the sweep's cells: the weights' hash, the dataset and the subset.</param>
/// <param name="Asked">The request's settings as asked (layers null: every layer the criterion applies to).</param>
/// <param name="Settings">The same resolved against the model: levels sorted and distinct, layers named in table order.</param>
/// <param name="LeftOut">The layers a sweep of every layer leaves out, with the reason (none when the layers were named).</param>
public sealed record PreparedSweep(
    ResolvedModel Model,
    AnalysisSubset Subset,
    Checkpoint Checkpoint,
    SweepIdentity Identity,
    SweepSettings Asked,
    SweepSettings Settings,
    IReadOnlyList<LeftOutLayer> LeftOut) : IDisposable
{
    public void Dispose() => Checkpoint.Dispose();
}

/// <summary>What a sweep job did: its row in the history, the whole result, and the summary the job returns as JSON.</summary>
public sealed record SweepOutcome(SweepRecord Sweep, SensitivityResult Result, SweepJobResult Summary);

/// <summary>
/// Runs a sensitivity sweep of a model (of the workspace, or a checkpoint file) as a job: loads its checkpoint and the validation subset,
/// records the sweep in <see cref="SweepHistory"/>, runs <see cref="SensitivitySweep"/> with the SQLite cell
/// store (each cell persisted as it finishes, cells already there not recomputed), reports "layer · sparsity ·
/// top-1" with a MAC-weighted fraction, and publishes <see cref="SweepStarted"/> then one
/// <see cref="SweepCellFinished"/> per cell.
/// </summary>
public static class SweepJob
{
    public const string Kind = "sweep";

    /// <summary>Share of the bar for loading the data and the checkpoint.</summary>
    private const double LoadingShare = 0.02;

    public static string Title(ResolvedModel model, SweepRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return $"Sweep {model.DisplayName} · {request.CriterionKey} · {request.Dataset ?? model.Dataset}";
    }

    /// <param name="sweepId">
    /// The id the sweep gets in the history (known before the job starts, so the page can find it); when the history
    /// already has the same sweep, that row is used instead and <see cref="SweepStarted"/> names it.
    /// </param>
    public static JobWork Create(SweepRequest request, Guid sweepId, DatasetCatalog catalog, ModelStore store,
        SqliteSweepCellStore cells, SweepHistory history)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(request, sweepId, catalog, store, cells, history, job.Id, job.Progress, cancellationToken).Summary));
    }

    /// <param name="jobId">
    /// The scheduler's job running the sweep, recorded beside it so the page finds the row by its job; null when a front end
    /// runs the body without a scheduler (the CLI), so a row an earlier dashboard job filled keeps that job's id.
    /// </param>
    /// <param name="progress">Gets the plan, every cell and the fraction done.</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset (layers, subset size, image size).</exception>
    public static SweepOutcome Run(
        SweepRequest request,
        Guid sweepId,
        DatasetCatalog catalog,
        ModelStore store,
        SqliteSweepCellStore cells,
        SweepHistory history,
        Guid? jobId,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();

        using var sweep = Prepare(request, catalog, store, progress, cancellationToken);
        var (model, subset, network) = (sweep.Model, sweep.Subset, sweep.Checkpoint.Model);
        var identity = sweep.Identity;
        var layers = sweep.Settings.Layers!.Select(name => SweepLayer.From(network.Layer(name))).ToArray();
        var record = history.Begin(jobId, model.ModelId, model.DisplayName, model.Architecture, identity, subset.Count,
            sweep.Settings.CriterionKey, sweep.Settings.Levels, layers, sweepId);
        progress.Publish(new SweepStarted(record, cells.Baseline(identity)) { LeftOut = sweep.LeftOut });
        progress.Report(LoadingShare, string.Create(CultureInfo.InvariantCulture,
            $"Evaluating the dense model on {subset.Count:N0} validation images"));

        // As asked (layers null: all), so that the engine names what a sweep of every layer leaves out.
        var swept = SensitivitySweep.Run(network, subset.Images, sweep.Asked, cells, identity, new CellReporter(record.Id, progress), cancellationToken);
        var result = swept with
        {
            Source = new SweepSource(model.DisplayName, model.Architecture, identity.ModelHash, identity.Dataset, subset.Key, subset.Count),
        };
        history.Finish(record.Id, SensitivityExport.ToJson(result));
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"{result.Cells.Count} cells · {result.CellsComputed} computed, {result.CellsFromStore} from the workspace · baseline top-1 {result.Baseline.Top1 * 100:0.0}%"));
        return new SweepOutcome(record, result, new SweepJobResult(record.Id, model.ModelId, model.DisplayName, model.Architecture, identity.Dataset,
            subset.Key, subset.Count, sweep.Settings.CriterionKey, result.Cells.Count, result.CellsComputed, result.CellsFromStore, result.Baseline, result.Seconds));
    }

    /// <summary>
    /// The first half of a sweep job, for <see cref="Run"/> and for anything that runs the same sweep another way (the
    /// sweep benchmark): resolves the model, loads the dataset and the request's validation subset, loads the checkpoint
    /// and resolves the settings against it, each refusal an <see cref="InvalidRequestException"/> naming the request's setting.
    /// </summary>
    /// <param name="store">The workspace's models; null when there is none (the model is then a checkpoint file).</param>
    /// <param name="progress">Gets "Loading ..." reports; null: none.</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset (layers, subset size, image size).</exception>
    /// <exception cref="CheckpointException">The checkpoint is not usable.</exception>
    public static PreparedSweep Prepare(SweepRequest request, DatasetCatalog catalog, ModelStore? store, IJobProgress? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        request.Validate();

        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, request.SubsetSize, nameof(SweepRequest.SubsetSize));
        cancellationToken.ThrowIfCancellationRequested();

        progress?.Report(LoadingShare / 2, $"Loading the checkpoint of {model.DisplayName}");
        var checkpoint = model.Load(subset.Images, dataset.Name, "swept");
        try
        {
            var asked = request.Settings();
            var settings = asked.Normalize(checkpoint.Model);
            return new PreparedSweep(model, subset, checkpoint, new SweepIdentity(checkpoint.Metadata.ContentHash, dataset.Name, subset.Key, settings.BatchSize), asked,
                settings, asked.LeftOut(checkpoint.Model));
        }
        catch (Exception e)
        {
            checkpoint.Dispose();
            // Levels and batch size passed Validate: what the model refuses is the layers.
            if (e is ArgumentException problem) throw InvalidRequestException.For(nameof(SweepRequest.Layers), problem);
            throw;
        }
    }


    /// <summary>"stage2.conv1 · 35% · top-1 84.2%": the cell that just finished.</summary>
    public static string Describe(SweepCell cell)
    {
        ArgumentNullException.ThrowIfNull(cell);
        return string.Create(CultureInfo.InvariantCulture, $"{cell.Layer} · {SweepLevels.FormatPercent(cell.Sparsity)}% · top-1 {cell.Top1 * 100:0.0}%");
    }

    /// <summary>Turns the engine's per-cell reports into job progress and partial results, on the sweep's thread.</summary>
    private sealed class CellReporter(Guid sweepId, IJobProgress progress) : IProgress<SweepProgress>
    {
        public void Report(SweepProgress value)
        {
            progress.Publish(new SweepCellFinished(sweepId, value.Cell, value.FromStore, value.CellsDone, value.CellsTotal, value.Baseline));
            progress.Report(LoadingShare + ((1 - LoadingShare) * value.Fraction),
                string.Create(CultureInfo.InvariantCulture, $"{Describe(value.Cell)} · cell {value.CellsDone}/{value.CellsTotal}"));
        }
    }
}

/// <summary>Starts sweep jobs with their parameters recorded, so the dashboard and any other front end start them the same way.</summary>
public sealed class SweepJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, SqliteSweepCellStore cells, SweepHistory history)
{
    public SqliteSweepCellStore Cells => cells;

    public SweepHistory History => history;

    /// <param name="sweepId">The history row to use (e.g. a sweep being resumed); null: a new one, unless the history has the same sweep.</param>
    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense.</exception>
    public JobSnapshot StartSweep(SweepRequest request, Guid? sweepId = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        var id = sweepId ?? Guid.CreateVersion7();
        var parameters = ModelJobJson.Write(new
        {
            request.Model,
            dataset = request.Dataset ?? model.Dataset,
            criterion = request.CriterionKey,
            levels = SweepLevels.Normalize(request.Levels ?? SweepLevels.Default),
            request.SubsetSize,
            request.Layers,
            request.BatchSize,
        });
        return scheduler.Enqueue(SweepJob.Kind, SweepJob.Title(model, request), parameters,
            SweepJob.Create(request, id, catalog, store, cells, history), new JobLinks(Subject: id));
    }

    /// <summary>
    /// Queues a recorded sweep again with its own settings (model, dataset, subset size, criterion and norm, levels,
    /// layers, batch size) under its own id: the cells already stored are read back, only the missing ones are computed, and the
    /// row shows done once all exist.
    /// </summary>
    /// <exception cref="ArgumentException">The sweep is not in the history, or its model is not (or no longer) in the workspace.</exception>
    public JobSnapshot Resume(Guid sweepId)
    {
        var record = history.Get(sweepId) ?? throw new ArgumentException($"There is no sweep {sweepId} in the workspace.");
        return StartSweep(ResumeRequest(record), record.Id);
    }

    /// <summary>The request that runs a recorded sweep again; throws when its checkpoint is not a workspace model (a CLI sweep of a file).</summary>
    public static SweepRequest ResumeRequest(SweepRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.ModelId is not { } modelId)
            throw new ArgumentException($"Sweep of {record.ModelName} was run by the CLI on a checkpoint file outside the workspace; run the same sweep command again to resume it.");
        var (criterion, norm) = SavedSweep.ParseCriterion(record.Criterion);
        // A filter sweep recorded before the output layer was left out of filter sweeps names it; resuming drops it
        // (its cells were removed by the workspace upgrade) instead of failing on it.
        var layers = record.Layers.Select(l => l.Name).ToArray();
        if (criterion == PruningCriterion.Filter)
        {
            using var network = ModelZoo.Create(record.Architecture); // only its layer table is read: names do not depend on sizes
            var output = SweepCandidates.OutputLayer(network).Name;
            layers = layers.Where(name => name != output).ToArray();
        }
        return new SweepRequest(modelId, record.Dataset, criterion, criterion == PruningCriterion.Filter ? norm : null, record.Levels, record.SubsetSize, layers, record.BatchSize);
    }
}
