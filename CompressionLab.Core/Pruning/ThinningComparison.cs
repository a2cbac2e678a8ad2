using System.Diagnostics;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// A filter plan thinned two ways — exactly, and with each layer's kept channels rounded up to a multiple of
/// <paramref name="RoundTo"/> (oneDNN's fast kernels want multiples of 8) — each measured on the validation subset and
/// timed against the dense model, so a person sees what the rounding costs in accuracy and gains in speed.
/// </summary>
/// <param name="SubsetSize">Validation images (<see cref="AnalysisSubset"/>): a plan evaluation of that size measures the same ones.</param>
/// <param name="Repeats">Timed repeats per network (<see cref="ThinningBenchmark"/>); few, so that the comparison takes seconds.</param>
public sealed record ThinningComparisonRequest(
    ModelSource Model,
    PruningPlan Plan,
    string? Dataset = null,
    int SubsetSize = AnalysisSubset.DefaultSize,
    int RoundTo = ThinningComparisonRequest.DefaultRoundTo,
    int Repeats = ThinningComparisonRequest.DefaultRepeats,
    int BatchSize = 64)
{
    public const int DefaultRoundTo = 8;
    public const int DefaultRepeats = 7;
    public const int MaxRepeats = 101;

    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to thin.");
        Model.Validate();
        if (Plan is null || Plan.Stages.Count == 0) throw new InvalidRequestException(nameof(Plan), "Give a filter plan with at least one stage.");
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to measure on.");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The subset needs at least one image (got {SubsetSize}).");
        if (RoundTo is < 2 or > ThinningRequest.MaxRoundTo)
            throw new InvalidRequestException(nameof(RoundTo), $"The rounded choice rounds kept channels up to a multiple of 2 to {ThinningRequest.MaxRoundTo} (got {RoundTo}).");
        if (Repeats is < 1 or > MaxRepeats) throw new InvalidRequestException(nameof(Repeats), $"Repeats must be between 1 and {MaxRepeats} (got {Repeats}).");
        if (BatchSize is < 1 or > FineTuneRequest.MaxBatchSize) throw new InvalidRequestException(nameof(BatchSize), $"The batch size must be between 1 and {FineTuneRequest.MaxBatchSize} (got {BatchSize}).");
    }
}

/// <summary>One way of thinning the plan, measured.</summary>
/// <param name="RoundTo">1: exactly the plan; otherwise the kept channels rounded up to a multiple of it.</param>
/// <param name="Top1">On the validation subset (a fraction).</param>
/// <param name="Speedup">Dense median time over this network's (measured).</param>
/// <param name="MacRatio">Dense MACs over this network's (what the arithmetic allows).</param>
/// <param name="MaxDifference">Largest |logit difference| from the dense model with the same filter masks (should be ~1e-5).</param>
public sealed record ThinningChoice(
    string Name,
    int RoundTo,
    IReadOnlyList<ThinningChoiceLayer> Layers,
    long Parameters,
    long Macs,
    double Top1,
    double MedianSeconds,
    double Speedup,
    double MacRatio,
    double MaxDifference);

/// <summary>A thinned layer's output channels before and after.</summary>
public sealed record ThinningChoiceLayer(string Name, int Before, int After);

/// <summary>What a thinning comparison measured (its JSON result); accuracies are fractions.</summary>
public sealed record ThinningComparisonResult(
    string ModelName,
    string Architecture,
    string Dataset,
    string WeightsHash,
    string PlanHash,
    int SubsetSize,
    double DenseTop1,
    long DenseParameters,
    long DenseMacs,
    double DenseMedianSeconds,
    int BatchSize,
    int Threads,
    int Repeats,
    IReadOnlyList<ThinningChoice> Choices,
    double Seconds)
{
    public static ThinningComparisonResult FromJson(string json) => ModelJobJson.Read<ThinningComparisonResult>(json);
}

/// <summary>Stores one thinning of a plan as a new workspace model (a checkpoint with widths).</summary>
/// <param name="RoundTo">1: exactly the plan; otherwise rounded up to a multiple of it.</param>
/// <param name="DisplayName">Null: derived from the parent's name, the plan and the rounding.</param>
public sealed record ThinningSaveRequest(ModelSource Model, PruningPlan Plan, int RoundTo, string? Dataset = null, string? DisplayName = null)
{
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to thin.");
        Model.Validate();
        if (Plan is null || Plan.Stages.Count == 0) throw new InvalidRequestException(nameof(Plan), "Give a filter plan with at least one stage.");
        if (RoundTo is < 1 or > ThinningRequest.MaxRoundTo)
            throw new InvalidRequestException(nameof(RoundTo), $"Channel counts are rounded up to a multiple of 1 (no rounding) to {ThinningRequest.MaxRoundTo} (got {RoundTo}).");
    }
}

/// <summary>What a stored thinning made.</summary>
public sealed record ThinningSaveResult(Guid ModelId, string DisplayName, int RoundTo, long Parameters, long Macs, double TestTop1, string WeightsHash)
{
    public static ThinningSaveResult FromJson(string json) => ModelJobJson.Read<ThinningSaveResult>(json);
}

/// <summary>
/// The thinning comparison and the storing of a thinned plan as jobs, one body for every front end. The parent is only
/// read; a cancelled or failed job stores nothing.
/// </summary>
public static class ThinningComparisonJob
{
    public const string Kind = "thin-compare";
    public const string SaveKind = "thin-save";

    public static string Title(ResolvedModel model) => $"Thin {model.DisplayName}: exact and rounded, measured";

    public static string SaveTitle(ResolvedModel model, int roundTo) =>
        $"Save {model.DisplayName} thinned {(roundTo == 1 ? "exactly" : $"(rounded to {roundTo})")}";

    /// <exception cref="InvalidRequestException">A setting does not fit: <c>Plan</c> when it prunes by element, prunes no filter, or does not fit the model.</exception>
    public static ThinningComparisonResult Run(ThinningComparisonRequest request, DatasetCatalog catalog, ModelStore? store, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var clock = Stopwatch.StartNew();
        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, request.SubsetSize, nameof(ThinningComparisonRequest.SubsetSize));
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.05, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = model.Load(subset.Images, dataset.Name, "thinned");
        var network = checkpoint.Model;
        var plan = ResolveFilterPlan(request.Plan, network, nameof(ThinningComparisonRequest.Plan));

        progress.Report(0.1, string.Create(CultureInfo.InvariantCulture, $"Evaluating the dense model on {subset.Count:N0} validation images"));
        var denseTop1 = Evaluator.Evaluate(network, subset.Images, cancellationToken: cancellationToken).Top1;
        var roundings = new[] { 1, request.RoundTo };
        var thinned = new List<(string Name, ThinnedNetwork Network, double Top1)>();
        try
        {
            foreach (var roundTo in roundings)
            {
                var name = roundTo == 1 ? "exact" : $"rounded to {roundTo}";
                progress.Report(0.2 + (0.3 * thinned.Count), string.Create(CultureInfo.InvariantCulture, $"Thinning ({name}) and evaluating on {subset.Count:N0} validation images"));
                var thin = Thinning.Thin(network, Thinning.PlanFilterMasks(network, plan, roundTo));
                thinned.Add((name, thin, 0));
                thinned[^1] = (name, thin, Evaluator.Evaluate(thin.Model, subset.Images, cancellationToken: cancellationToken).Top1);
            }
            progress.Report(0.8, string.Create(CultureInfo.InvariantCulture, $"Timing the dense and the thin models ({request.Repeats} repeats, batch {request.BatchSize})"));
            // Short repeats: the page wants an answer in seconds; the interleaving keeps the comparison fair under load.
            var bench = ThinningBenchmark.Run(network, [.. thinned.Select(t => (t.Name, t.Network))], request.BatchSize, repeats: request.Repeats, targetSeconds: 0.05,
                cancellationToken: cancellationToken);
            var choices = thinned.Select((t, i) =>
            {
                var variant = bench.Thinned[i];
                return new ThinningChoice(t.Name, roundings[i], [.. t.Network.Layers.Select(l => new ThinningChoiceLayer(l.Name, l.ChannelsBefore, l.ChannelsAfter))],
                    variant.Parameters, variant.Macs, t.Top1, variant.MedianSeconds, ThinningBenchmarkResult.Speedup(bench.Dense, variant),
                    ThinningBenchmarkResult.MacRatio(bench.Dense, variant), variant.MaxDifference);
            }).ToArray();
            progress.Report(1, string.Join("; ", choices.Select(c => string.Create(CultureInfo.InvariantCulture,
                $"{c.Name}: top-1 {c.Top1 * 100:0.00}%, {c.Speedup:0.00}× faster (MAC ratio {c.MacRatio:0.00}×)"))));
            return new ThinningComparisonResult(model.DisplayName, network.Architecture, dataset.Name, checkpoint.Metadata.ContentHash, PlanContent.Hash(plan), subset.Count,
                denseTop1, bench.Dense.Parameters, bench.Dense.Macs, bench.Dense.MedianSeconds, bench.BatchSize, bench.Threads, bench.Repeats, choices, clock.Elapsed.TotalSeconds);
        }
        finally
        {
            foreach (var t in thinned) t.Network.Dispose();
        }
    }

    /// <summary>Thins the plan (exactly or rounded), measures it on the test split and stores it as a new workspace model with its lineage.</summary>
    public static ThinningSaveResult Save(ThinningSaveRequest request, DatasetCatalog catalog, ModelStore store, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        cancellationToken.ThrowIfCancellationRequested();
        using var checkpoint = model.Load(dataset.Test, dataset.Name, "thinned");
        var network = checkpoint.Model;
        var plan = ResolveFilterPlan(request.Plan, network, nameof(ThinningSaveRequest.Plan));
        progress.Report(0.2, "Thinning");
        using var thin = Thinning.Thin(network, Thinning.PlanFilterMasks(network, plan, request.RoundTo));
        progress.Report(0.3, string.Create(CultureInfo.InvariantCulture, $"Evaluating the thin model on the {dataset.Test.Count:N0} test images"));
        var test = Evaluator.Evaluate(thin.Model, dataset.Test, cancellationToken: cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();

        var planHash = PlanContent.Hash(plan);
        var parentHash = checkpoint.Metadata.ContentHash;
        var lineage = new CheckpointLineage("thin", parentHash, model.DisplayName, planHash,
            [.. PlanContent.Levels(plan).Select(l => new LineageLevel(l.Layer, l.Level, l.Method))], request.RoundTo == 1 ? "exact" : $"round-{request.RoundTo}");
        var name = string.IsNullOrWhiteSpace(request.DisplayName)
            ? string.Create(CultureInfo.InvariantCulture, $"{model.DisplayName} · thin {thin.MacFraction * 100:0}% MACs{(request.RoundTo == 1 ? "" : $" · ×{request.RoundTo}")}")
            : request.DisplayName.Trim();
        progress.Report(0.95, "Saving the thin model into the workspace");
        Directory.CreateDirectory(store.ModelsFolder);
        var temporary = Path.Combine(store.ModelsFolder, $".thin-{Guid.NewGuid():N}.tmp");
        try
        {
            var metadata = Checkpoint.Save(thin.Model, temporary, dataset.Name, dataset.Train.ClassNames, test.Top1, lineage: lineage);
            var details = ModelJobJson.Write(new
            {
                source = "thinned",
                parentModelId = model.ModelId,
                lineage,
                roundTo = request.RoundTo,
                widths = thin.Layers.ToDictionary(l => l.Name, l => l.ChannelsAfter),
                macs = thin.After.MacsPerSample,
                top5 = test.Top5,
                loss = test.Loss,
                weightsHash = metadata.ContentHash,
            });
            var record = store.Import(temporary, new ModelEntry(name, network.Architecture, dataset.Name, test.Top1, thin.After.Parameters, details));
            progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"Stored \"{record.DisplayName}\": test top-1 {test.Top1 * 100:0.00}%"));
            return new ThinningSaveResult(record.Id, record.DisplayName, request.RoundTo, thin.After.Parameters, thin.After.MacsPerSample, test.Top1, metadata.ContentHash);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>The plan on the network, refused when it does not fit, prunes by element, or removes no filter.</summary>
    public static ResolvedPlan ResolveFilterPlan(PruningPlan plan, ClassifierNetwork network, string setting)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(network);
        if (plan.Problems(network.Layers) is { Count: > 0 } problems) throw new InvalidRequestException(setting, string.Join(" ", problems.Select(p => p.Message)));
        var resolved = plan.Resolve(network.Layers);
        if (Thinning.ElementProblem(resolved) is { } element) throw new InvalidRequestException(setting, element);
        if (!resolved.Layers.Any(l => !l.Excluded && l.Level > 0))
            throw new InvalidRequestException(setting, "The plan removes no filter (every layer is at 0 or excluded): there is nothing to thin.");
        return resolved;
    }
}

/// <summary>Starts thinning comparisons and thin-model saves, with their parameters recorded.</summary>
public sealed class ThinningJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store)
{
    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense (<see cref="InvalidRequestException"/>).</exception>
    public JobSnapshot StartComparison(ThinningComparisonRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        return scheduler.Enqueue(ThinningComparisonJob.Kind, ThinningComparisonJob.Title(model), ModelJobJson.Write(request),
            (job, ct) => Task.FromResult<string?>(ModelJobJson.Write(ThinningComparisonJob.Run(request, catalog, store, job.Progress, ct))));
    }

    /// <exception cref="ArgumentException">As <see cref="StartComparison"/>.</exception>
    public JobSnapshot StartSave(ThinningSaveRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        return scheduler.Enqueue(ThinningComparisonJob.SaveKind, ThinningComparisonJob.SaveTitle(model, request.RoundTo), ModelJobJson.Write(request),
            (job, ct) => Task.FromResult<string?>(ModelJobJson.Write(ThinningComparisonJob.Save(request, catalog, store, job.Progress, ct))));
    }
}
