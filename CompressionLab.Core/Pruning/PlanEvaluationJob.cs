using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Pruning;

/// <summary>Which plan to measure on which model (of the workspace, or a checkpoint file), on a catalog dataset's validation subset.</summary>
/// <param name="Plan">The plan; it is resolved against the model's layer table when the job loads it.</param>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="SubsetSize">Validation images (<see cref="AnalysisSubset"/>): the sweep's images for the same size, so measured and predicted compare.</param>
public sealed record PlanEvaluationRequest(ModelSource Model, PruningPlan Plan, string? Dataset = null, int SubsetSize = AnalysisSubset.DefaultSize)
{
    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense; the plan's own settings are checked against the model's layers when the job loads it.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model whose plan to evaluate.");
        Model.Validate();
        if (Plan is null || Plan.Stages.Count == 0) throw new InvalidRequestException(nameof(Plan), "Give a plan with at least one stage.");
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to evaluate on.");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The subset needs at least one image (got {SubsetSize}).");
    }
}

/// <summary>First partial result of a plan evaluation: the plan resolved, what it is predicted to give (before any image is evaluated).</summary>
/// <param name="Prediction">From the workspace's sweep curves of these weights and images; null when no sweep measured their baseline.</param>
public sealed record PlanPredicted(PlanEvaluationKey Key, ResolvedPlan Plan, PlanSize Dense, PlanSize Pruned, PlanPrediction? Prediction) : JobPartial;

/// <summary>A measured plan beside its prediction.</summary>
/// <param name="ModelId">Null: a checkpoint file the workspace does not hold.</param>
/// <param name="Prediction">Null when the workspace has no sweep of these weights on these images (nothing to predict from).</param>
/// <param name="FromStore">The measurement was read back from the workspace (the same plan on the same weights and images was measured before).</param>
public sealed record PlanEvaluationOutcome(
    Guid? ModelId,
    string ModelName,
    string Architecture,
    PlanEvaluationKey Key,
    int SubsetSize,
    ResolvedPlan Plan,
    PlanSize Dense,
    PlanSize Pruned,
    PlanPrediction? Prediction,
    PlanMeasurement Measured,
    bool FromStore)
{
    public PlanEvaluationJobResult Summary() => new(
        ModelId, ModelName, Architecture, Key.ModelHash, Key.Dataset, Key.Subset, SubsetSize, Key.PlanHash, Pruned.Sparsity,
        Pruned.Network.Parameters, Pruned.Network.MacsPerSample, Measured.Top1, Measured.Top5, Measured.Loss,
        Prediction?.PredictedTop1, Prediction?.BaselineTop1, Prediction?.LayersWithoutCurve ?? [], FromStore, Measured.Seconds);
}

/// <summary>A finished plan evaluation job's JSON result (fractions); the measurement is kept in the workspace's plan evaluations.</summary>
public sealed record PlanEvaluationJobResult(
    Guid? ModelId,
    string ModelName,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string Subset,
    int SubsetSize,
    string PlanHash,
    double Sparsity,
    long Parameters,
    long MacsPerSample,
    double Top1,
    double Top5,
    double Loss,
    double? PredictedTop1,
    double? BaselineTop1,
    IReadOnlyList<string> LayersWithoutCurve,
    bool FromStore,
    double Seconds)
{
    public static PlanEvaluationJobResult FromJson(string json) => ModelJobJson.Read<PlanEvaluationJobResult>(json);
}

/// <summary>
/// Evaluates a pruning plan as a job: loads the model and the validation subset, resolves the plan against the model's
/// layers, predicts it from the workspace's sweep curves (published as <see cref="PlanPredicted"/>), then applies every
/// layer's mask at once (<see cref="PlanMasks"/>), measures through the one evaluation path (<see cref="Evaluator"/>),
/// restores the weights, and keeps the measurement in the workspace (<see cref="PlanEvaluationStore"/>). The same plan on
/// the same weights and images is read back instead of measured again.
/// </summary>
public static class PlanEvaluationJob
{
    public const string Kind = "plan-evaluate";

    public static string Title(ResolvedModel model, PlanEvaluationRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return $"Evaluate plan · {model.DisplayName} · {request.Dataset ?? model.Dataset}";
    }

    public static JobWork Create(PlanEvaluationRequest request, DatasetCatalog catalog, ModelStore store, SqliteSweepCellStore cells, PlanEvaluationStore evaluations)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, cells, evaluations, job, cancellationToken).Summary()));
    }

    /// <param name="job">The running job: its id is recorded with the measurement, its progress gets the prediction.</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset (the plan, the subset size, the image size).</exception>
    public static PlanEvaluationOutcome Run(
        PlanEvaluationRequest request,
        DatasetCatalog catalog,
        ModelStore store,
        SqliteSweepCellStore cells,
        PlanEvaluationStore evaluations,
        JobContext job,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(evaluations);
        ArgumentNullException.ThrowIfNull(job);
        request.Validate();
        var progress = job.Progress;

        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, request.SubsetSize, nameof(PlanEvaluationRequest.SubsetSize));
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.05, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = model.Load(subset.Images, dataset.Name, "evaluated");
        var network = checkpoint.Model;
        var plan = Resolve(request.Plan, network);
        var identity = new SweepIdentity(checkpoint.Metadata.ContentHash, dataset.Name, subset.Key);
        var key = new PlanEvaluationKey(identity.ModelHash, identity.Dataset, identity.Subset, PlanContent.Hash(plan));

        var dense = PlanSize.Dense(network.Graph);
        var pruned = PlanSize.Of(network.Graph, plan.Layers);
        var prediction = Predict(cells, identity, network.Graph, plan);
        progress.Publish(new PlanPredicted(key, plan, dense, pruned, prediction));

        var stored = evaluations.Find(key);
        PlanMeasurement measured;
        if (stored is not null)
        {
            measured = stored.Measured;
        }
        else
        {
            progress.Report(0.1, string.Create(CultureInfo.InvariantCulture,
                $"Evaluating the plan ({pruned.Sparsity * 100:0.0}% of the weights pruned) on {subset.Count:N0} validation images"));
            var masks = PlanMasks.For(network, plan);
            EvaluationResult result;
            using (masks.ApplyTo(network))
            {
                result = Evaluator.Evaluate(network, subset.Images, cancellationToken: cancellationToken);
            }
            measured = new PlanMeasurement(result.Top1, result.Top5, result.Loss, result.Samples, result.Seconds);
            evaluations.Save(new StoredPlanEvaluation(key, model.DisplayName, model.Architecture, subset.Count, PlanContent.Levels(plan), measured,
                pruned.Sparsity, pruned.Network.Parameters, pruned.Network.MacsPerSample, job.Id, DateTimeOffset.UtcNow));
        }

        var predicted = prediction is null ? "no sweep to predict from" : string.Create(CultureInfo.InvariantCulture, $"predicted {prediction.PredictedTop1 * 100:0.00}%");
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Top-1 {measured.Top1 * 100:0.00}% measured ({predicted}){(stored is null ? "" : ", read from the workspace")}"));
        return new PlanEvaluationOutcome(model.ModelId, model.DisplayName, model.Architecture, key, subset.Count, plan, dense, pruned, prediction,
            measured, stored is not null);
    }

    /// <summary>
    /// The plan's prediction from the workspace's sweep curves of these weights and images, for the methods the plan
    /// uses; null when no sweep measured the dense baseline there.
    /// </summary>
    public static PlanPrediction? Predict(SqliteSweepCellStore cells, SweepIdentity identity, LayerGraph graph, ResolvedPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var curves = StoredSweepCurves.Read(cells, identity, plan.Layers.Select(l => l.Method));
        return curves is null ? null : new PlanPredictor(graph, curves.BaselineTop1, curves.Curves).Predict(plan);
    }

    private static ResolvedPlan Resolve(PruningPlan plan, ClassifierNetwork network)
    {
        var problems = plan.Problems(network.Layers);
        if (problems.Count > 0)
            throw new InvalidRequestException(nameof(PlanEvaluationRequest.Plan), string.Join(" ", problems.Select(p => p.Message)));
        return plan.Resolve(network.Layers);
    }

}

/// <summary>Starts plan evaluation and allocation jobs with their parameters recorded, so the dashboard and any other front end start them the same way.</summary>
public sealed class PlanJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, SqliteSweepCellStore cells, PlanEvaluationStore evaluations, SweepHistory history)
{
    public PlanEvaluationStore Evaluations => evaluations;

    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense.</exception>
    public JobSnapshot StartEvaluation(PlanEvaluationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return Enqueue(request.Model, request.Dataset, request.SubsetSize, model => (PlanEvaluationJob.Kind, PlanEvaluationJob.Title(model, request),
            PlanParameters(request.Plan), PlanEvaluationJob.Create(request, catalog, store, cells, evaluations)));
    }

    /// <summary>Queues an allocation (<see cref="PlanAllocationJob"/>): iso-accuracy and uniform proposals for the target, sweeping first what has no curve.</summary>
    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense.</exception>
    public JobSnapshot StartAllocation(PlanAllocationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        // With a plan, its stages' methods, overrides and exclusions are what the allocation uses (request.Method only
        // makes the default plan when none is given): record those, not the unused method.
        return Enqueue(request.Model, request.Dataset, request.SubsetSize, model => (PlanAllocationJob.Kind, PlanAllocationJob.Title(model, request),
            (object)new
            {
                target = new { goal = request.Target.Goal.ToString(), value = request.Target.Value },
                method = request.Plan is null ? request.Method.Key : null,
                plan = request.Plan is { } plan ? PlanParameters(plan) : null,
                request.Levels,
                request.SweepMissing,
            }, PlanAllocationJob.Create(request, catalog, store, cells, history)));
    }

    /// <summary>
    /// The one way both jobs are queued: the model resolved in the workspace, the parameters every plan job records
    /// (model, dataset, subset) followed by the job's own.
    /// </summary>
    private JobSnapshot Enqueue(ModelSource source, string? dataset, int subsetSize, Func<ResolvedModel, (string Kind, string Title, object Own, JobWork Work)> job)
    {
        var model = source.Resolve(store);
        var (kind, title, own, work) = job(model);
        var parameters = new System.Text.Json.Nodes.JsonObject
        {
            // As the base type, so that its "source" discriminator is written.
            ["model"] = System.Text.Json.JsonSerializer.SerializeToNode<ModelSource>(source, ModelJobJson.Options),
            ["dataset"] = dataset ?? model.Dataset,
            ["subsetSize"] = subsetSize,
        };
        foreach (var (name, value) in System.Text.Json.JsonSerializer.SerializeToNode(own, ModelJobJson.Options)!.AsObject().ToList())
            parameters[name] = value?.DeepClone();
        return scheduler.Enqueue(kind, title, parameters.ToJsonString(ModelJobJson.Options), work);
    }

    private static object PlanParameters(PruningPlan plan) => new
    {
        stages = plan.Stages.Select(s => new { s.Name, s.Rate, method = s.Method.Key, s.Layers }),
        overrides = plan.Overrides.Select(o => new { o.Layer, o.Level, method = o.Method?.Key }),
        plan.Exclusions,
    };
}
