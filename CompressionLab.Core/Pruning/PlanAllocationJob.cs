using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Pruning;

/// <summary>What an allocation is asked to reach, with budgets as fractions of the dense model (known before the model is loaded).</summary>
/// <param name="Value">
/// <see cref="AllocationGoal.Sparsity"/>: overall weight sparsity; <see cref="AllocationGoal.Parameters"/> and
/// <see cref="AllocationGoal.Macs"/>: the fraction of the dense model's parameters or MACs to keep at most (0.6: at most 60 %);
/// <see cref="AllocationGoal.MaxDrop"/>: the largest predicted top-1 drop, a fraction (0.01 is one point).
/// </param>
public sealed record AllocationRequestTarget(AllocationGoal Goal, double Value)
{
    /// <summary>What is wrong with the value for its goal, or null.</summary>
    public string? Problem() => Goal switch
    {
        AllocationGoal.Sparsity => PruningPlan.LevelProblem("The target sparsity", Value),
        AllocationGoal.Parameters or AllocationGoal.Macs when !(Value > 0 && Value <= 1) =>
            $"The {(Goal == AllocationGoal.Macs ? "MAC" : "parameter")} budget is a fraction of the dense model's to keep, above 0 and at most 1 (got {Value.ToString("R", CultureInfo.InvariantCulture)}).",
        AllocationGoal.MaxDrop when !(Value >= 0 && Value < 1) =>
            $"The maximum drop is a fraction of top-1 from 0 to below 1, 0.01 being one point (got {Value.ToString("R", CultureInfo.InvariantCulture)}).",
        AllocationGoal.Sparsity or AllocationGoal.Parameters or AllocationGoal.Macs or AllocationGoal.MaxDrop => null,
        _ => $"Unknown allocation goal {Goal}.",
    };

    /// <summary>The allocator's target for a network of this dense size (budgets rounded down: "at most").</summary>
    public AllocationTarget For(PlanSize dense)
    {
        ArgumentNullException.ThrowIfNull(dense);
        return Goal switch
        {
            AllocationGoal.Sparsity => AllocationTarget.Sparsity(Value),
            AllocationGoal.Parameters => AllocationTarget.ParameterBudget((long)Math.Floor((decimal)Value * dense.Network.Parameters)),
            AllocationGoal.Macs => AllocationTarget.MacBudget((long)Math.Floor((decimal)Value * dense.Network.MacsPerSample)),
            _ => AllocationTarget.MaxDrop(Value),
        };
    }
}

/// <summary>Per-layer levels to propose for a model (of the workspace, or a checkpoint file) from its sweeps on a validation subset.</summary>
/// <param name="Plan">The plan to allocate into (its stages, methods and exclusions); null: the zoo's stages by <paramref name="Method"/>, output layer excluded.</param>
/// <param name="Levels">The levels of a sweep run for layers without a curve; null: <see cref="SweepLevels.Default"/>.</param>
/// <param name="SweepMissing">Run the missing sweep (through the sweep job's body) when a layer to allocate has no curve; false: such layers are held dense and listed.</param>
public sealed record PlanAllocationRequest(
    ModelSource Model,
    AllocationRequestTarget Target,
    string? Dataset = null,
    PruningMethod Method = default,
    int SubsetSize = AnalysisSubset.DefaultSize,
    PruningPlan? Plan = null,
    IReadOnlyList<double>? Levels = null,
    bool SweepMissing = true)
{
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to allocate a plan for.");
        Model.Validate();
        if (Target is null) throw new InvalidRequestException(nameof(Target), "Choose a target: overall sparsity, a parameter or MAC budget, or a maximum drop.");
        if (Target.Problem() is { } problem) throw new InvalidRequestException(nameof(Target), problem);
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset.");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The subset needs at least one image (got {SubsetSize}).");
        if (Plan is { Stages.Count: 0 }) throw new InvalidRequestException(nameof(Plan), "Give a plan with at least one stage.");
        try
        {
            SweepLevels.Normalize(Levels ?? SweepLevels.Default);
        }
        catch (ArgumentException e)
        {
            throw InvalidRequestException.For(nameof(Levels), e);
        }
    }
}

/// <summary>One proposal (iso-accuracy or uniform): the allocator's levels, the plan that carries them, and its prediction on the measured curves.</summary>
/// <param name="Plan">The input plan with the allocated levels as overrides (what "accept" gives, ready to edit or save).</param>
public sealed record ProposedPlan(Allocation Allocation, PruningPlan Plan, PlanPrediction Prediction);

/// <summary>What an allocation did: the two proposals and the sweeps it had to run first.</summary>
/// <param name="SweepsRun">Sweeps run for layers that had no curve (empty when the workspace had every curve).</param>
public sealed record PlanAllocationOutcome(
    Guid? ModelId,
    string ModelName,
    string Architecture,
    SweepIdentity Identity,
    int SubsetSize,
    AllocationTarget Target,
    ProposedPlan Allocated,
    ProposedPlan Uniform,
    IReadOnlyList<SweepOutcome> SweepsRun);

/// <summary>
/// Proposes a plan for a target from the workspace's sweep curves of a model's weights on a validation subset: AIMET's
/// iso-accuracy allocation and the uniform baseline (<see cref="PlanAllocator"/>), each predicted on the measured curves
/// (<see cref="PlanPredictor"/>). A layer to allocate without a curve for its method is swept first through the sweep
/// job's own body (<see cref="SweepJob.Run"/>: cells already stored are read back), unless the request says not to.
/// </summary>
public static class PlanAllocationJob
{
    public const string Kind = "plan-allocate";

    public static string Title(ResolvedModel model, PlanAllocationRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return $"Allocate plan · {model.DisplayName} · {request.Target.Goal} {request.Target.Value.ToString("0.####", CultureInfo.InvariantCulture)}";
    }

    /// <summary>The job body for a scheduler: <see cref="Run"/>, its result as <see cref="PlanAllocationJobResult"/> JSON.</summary>
    public static JobWork Create(PlanAllocationRequest request, DatasetCatalog catalog, ModelStore store, SqliteSweepCellStore cells, SweepHistory history)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(PlanAllocationJobResult.Of(Run(request, catalog, store, cells, history, job, cancellationToken))));
    }

    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset (the plan, the subset size, the image size).</exception>
    /// <exception cref="ArgumentException">No layer can be allocated (every one excluded, or without a curve when sweeping is off).</exception>
    public static PlanAllocationOutcome Run(
        PlanAllocationRequest request,
        DatasetCatalog catalog,
        ModelStore store,
        SqliteSweepCellStore cells,
        SweepHistory history,
        JobContext job,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(job);
        request.Validate();
        var progress = job.Progress;

        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, request.SubsetSize, nameof(PlanAllocationRequest.SubsetSize));
        using var checkpoint = model.Load(subset.Images, dataset.Name, "allocated");
        var network = checkpoint.Model;
        var plan = request.Plan ?? PruningPlan.Default(network.Layers, request.Method);
        var problems = plan.Problems(network.Layers);
        if (problems.Count > 0) throw new InvalidRequestException(nameof(PlanAllocationRequest.Plan), string.Join(" ", problems.Select(p => p.Message)));
        var resolved = plan.Resolve(network.Layers);
        var identity = new SweepIdentity(checkpoint.Metadata.ContentHash, dataset.Name, subset.Key);
        var methods = resolved.Layers.Select(l => l.Method).Distinct().ToArray();

        var curves = StoredSweepCurves.Read(cells, identity, methods);
        var sweeps = new List<SweepOutcome>();
        if (request.SweepMissing)
        {
            foreach (var group in WithoutCurve(resolved, curves).GroupBy(l => l.Method))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var norm = group.Key.Criterion == PruningCriterion.Filter ? group.Key.Norm : (FilterNorm?)null; // a norm only ranks filters
                var sweep = new SweepRequest(request.Model, dataset.Name, group.Key.Criterion, norm, request.Levels, request.SubsetSize,
                    [.. group.Select(l => l.Layer)]);
                // No job id beside the sweep row: the row is this allocation's side work, not a sweep job a page follows.
                sweeps.Add(SweepJob.Run(sweep, Guid.CreateVersion7(), catalog, store, cells, history, jobId: null, job.Progress, cancellationToken));
            }
            if (sweeps.Count > 0) curves = StoredSweepCurves.Read(cells, identity, methods);
        }
        if (curves is null)
            throw new ArgumentException($"The workspace has no sweep of {model.DisplayName} on these {subset.Count:N0} validation images of {dataset.Name}; run one first.");

        var dense = PlanSize.Dense(network.Graph);
        var target = request.Target.For(dense);
        var allocator = new PlanAllocator(network.Graph, curves.Curves);
        var predictor = new PlanPredictor(network.Graph, curves.BaselineTop1, curves.Curves);
        ProposedPlan Propose(Allocation allocation) => new(allocation, allocation.ApplyTo(plan), predictor.Predict(allocation.Plan));
        var allocated = Propose(allocator.IsoAccuracy(resolved, target));
        var uniform = Propose(allocator.Uniform(resolved, target));
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Allocated for {target}: predicted top-1 {allocated.Prediction.PredictedTop1 * 100:0.00}% (uniform {uniform.Prediction.PredictedTop1 * 100:0.00}%)"));
        return new PlanAllocationOutcome(model.ModelId, model.DisplayName, model.Architecture, identity, subset.Count, target, allocated, uniform, sweeps);
    }

    /// <summary>Layers the allocation may move (not excluded) that have no curve for their method.</summary>
    private static IEnumerable<PlannedLayer> WithoutCurve(ResolvedPlan plan, SweepCurves? curves) =>
        plan.Layers.Where(l => !l.Excluded && curves?.CurveOf(l.Layer, l.Method) is null);
}

/// <summary>One proposal as a finished allocation job states it: the levels it gives (<see cref="PlanContent.Levels"/>) and what they are predicted to give.</summary>
public sealed record ProposalSummary(
    IReadOnlyList<PlanLevel> Levels,
    double PredictedTop1,
    double Sparsity,
    long Parameters,
    long MacsPerSample,
    bool Met,
    double FittedDrop)
{
    public static ProposalSummary Of(ProposedPlan proposal)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        var prediction = proposal.Prediction;
        return new ProposalSummary(PlanContent.Levels(proposal.Allocation.Plan), prediction.PredictedTop1, prediction.Sparsity, prediction.Parameters,
            prediction.MacsPerSample, proposal.Allocation.Met, proposal.Allocation.FittedDrop);
    }
}

/// <summary>A finished allocation job's JSON result (fractions): both proposals, for a front end to show, evaluate and accept.</summary>
public sealed record PlanAllocationJobResult(
    Guid? ModelId,
    string ModelName,
    string WeightsHash,
    string Dataset,
    string Subset,
    int SubsetSize,
    AllocationGoal Goal,
    double TargetValue,
    ProposalSummary Allocated,
    ProposalSummary Uniform,
    int SweepsRun)
{
    public static PlanAllocationJobResult Of(PlanAllocationOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return new PlanAllocationJobResult(outcome.ModelId, outcome.ModelName, outcome.Identity.ModelHash, outcome.Identity.Dataset, outcome.Identity.Subset,
            outcome.SubsetSize, outcome.Target.Goal, outcome.Target.Value, ProposalSummary.Of(outcome.Allocated), ProposalSummary.Of(outcome.Uniform),
            outcome.SweepsRun.Count);
    }

    public static PlanAllocationJobResult FromJson(string json) => ModelJobJson.Read<PlanAllocationJobResult>(json);
}
