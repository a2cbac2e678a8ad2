using System.Collections.Concurrent;
using System.Diagnostics;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;

namespace CompressionLab.Web.Components.Pages.Pruning;

/// <summary>A set of sweep cells a plan can be predicted from: one model's weights measured on one set of images.</summary>
/// <param name="SubsetSize">Validation images of the subset; a plan evaluated on as many images is measured on the same ones.</param>
public sealed record SweepChoice(SweepIdentity Identity, int SubsetSize, DateTimeOffset Newest, IReadOnlyList<string> Criteria);

/// <summary>One layer of the plan as the table shows it: its setting three ways and what the prediction says of it.</summary>
/// <param name="Magnitude">The threshold the level gives (|w| or the filter norm below it is pruned); null for an excluded layer.</param>
/// <param name="StdMultiple">Distiller's s in threshold = s·std(w), for element pruning; null otherwise.</param>
/// <param name="CurveDrop">The drop read off the layer's curve at its level (a fraction); null without a curve or when excluded.</param>
/// <param name="Weights">Weights left (including inputs removed with the previous layer's filters); null while the plan has problems.</param>
public sealed record PlanLayerRow(
    LayerInfo Info,
    PlannedLayer Planned,
    MagnitudeSetting? Magnitude,
    double? StdMultiple,
    bool HasCurve,
    double? CurveDrop,
    bool BeyondCurve,
    LayerWeights? Weights)
{
    public string Name => Info.Name;
}

/// <summary>A finished allocation's two proposals, as editable plans.</summary>
public sealed record AllocationProposals(PlanAllocationJobResult Result, PruningPlan Allocated, PruningPlan Uniform);

/// <summary>
/// Everything the Pruning plan page shows and does, without a renderer: the model and the sweep cells chosen, the plan
/// being edited (stage rates and methods, per-layer overrides and exclusions), its live prediction, the evaluation and
/// allocation jobs it follows, and the plans of the model measured so far. The page binds its markup to this and
/// forwards input; tests drive it directly (see README, Dashboard internals).
/// </summary>
/// <remarks>
/// Every edit resolves and predicts the plan at once on the server (<see cref="PlanPredictor"/>: microseconds on
/// vgg-small), so the numbers follow a slider as it moves. The model's weights are read once, when it is chosen
/// (<see cref="PlanModelProfile"/>), so that thresholds and s·std convert without touching them again.
/// Threading as <c>SensitivityPageModel</c>: job updates are queued on the worker's thread; everything else runs on the
/// page's dispatcher, one call at a time.
/// </remarks>
public sealed class PruningPageModel : IDisposable
{
    private readonly IJobScheduler scheduler;
    private readonly ModelStore store;
    private readonly SweepHistory history;
    private readonly SqliteSweepCellStore cells;
    private readonly PlanJobs plans;
    private readonly Func<ResolvedModel, PlanModelProfile> loadProfile;
    private readonly ConcurrentQueue<JobUpdate> updates = new();
    private readonly IDisposable subscription;
    private PlanPredictor? predictor;

    /// <param name="loadProfile">Reads a model's layers and weight scores (<see cref="PlanModelProfile.Load"/>; tests give their own).</param>
    /// <param name="updatesWaiting">Called on the scheduler's thread when job updates wait for <see cref="ApplyUpdates"/>.</param>
    public PruningPageModel(
        IJobScheduler scheduler,
        ModelStore store,
        SweepHistory history,
        SqliteSweepCellStore cells,
        PlanJobs plans,
        Func<ResolvedModel, PlanModelProfile> loadProfile,
        Action updatesWaiting)
    {
        this.scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        this.store = store ?? throw new ArgumentNullException(nameof(store));
        this.history = history ?? throw new ArgumentNullException(nameof(history));
        this.cells = cells ?? throw new ArgumentNullException(nameof(cells));
        this.plans = plans ?? throw new ArgumentNullException(nameof(plans));
        this.loadProfile = loadProfile ?? throw new ArgumentNullException(nameof(loadProfile));
        ArgumentNullException.ThrowIfNull(updatesWaiting);
        subscription = scheduler.Subscribe(update =>
        {
            if (update.Job.Kind is PlanEvaluationJob.Kind or PlanAllocationJob.Kind)
            {
                updates.Enqueue(update);
                updatesWaiting();
            }
        });
        // Jobs started before the page opened (another tab, or before a reload) are followed as if started here.
        var unfinished = scheduler.List().Where(j => !j.IsFinished).OrderBy(j => j.CreatedAt).ToList();
        Evaluation = unfinished.LastOrDefault(j => j.Kind == PlanEvaluationJob.Kind);
        Allocation = unfinished.LastOrDefault(j => j.Kind == PlanAllocationJob.Kind);
        Models = store.List();
        // The model swept last is the one a plan is most likely wanted for.
        var swept = history.List().Select(s => s.ModelId).FirstOrDefault(id => id is { } m && Models.Any(x => x.Id == m));
        if ((swept is { } id ? Models.First(m => m.Id == id) : Models.FirstOrDefault()) is { } first)
        {
            LoadError = SelectModel(first.Id);
        }
    }

    /// <summary>Models of the workspace, newest first.</summary>
    public IReadOnlyList<ModelRecord> Models { get; private set; }

    public ModelRecord? Model { get; private set; }

    /// <summary>Why the chosen model could not be read (shown instead of the editor), or null.</summary>
    public string? LoadError { get; private set; }

    public PlanModelProfile? Profile { get; private set; }

    /// <summary>The sweep cells of the chosen model's weights, per set of images, newest first.</summary>
    public IReadOnlyList<SweepChoice> Sweeps { get; private set; } = [];

    /// <summary>The cells the prediction reads; null when the model has never been swept.</summary>
    public SweepChoice? Sweep { get; private set; }

    /// <summary>The curves of <see cref="Sweep"/> for every method; null without a sweep.</summary>
    public SweepCurves? Curves { get; private set; }

    public bool HasSweep => Curves is not null;

    public PruningPlan? Plan { get; private set; }

    /// <summary>What is wrong with the plan as edited (the prediction waits until it is empty).</summary>
    public IReadOnlyList<PlanProblem> Problems { get; private set; } = [];

    /// <summary>The plan's prediction after the last edit; null while it has problems.</summary>
    public PlanPrediction? Prediction { get; private set; }

    /// <summary>How long the last edit took to resolve and predict, in milliseconds (shown, so the "live" claim can be checked).</summary>
    public double PredictionMilliseconds { get; private set; }

    public IReadOnlyList<PlanLayerRow> Rows { get; private set; } = [];

    /// <summary>Layers to be pruned (not excluded) whose current method has no sweep curve: their drop is not predicted.</summary>
    public IReadOnlyList<string> LayersWithoutSweep { get; private set; } = [];

    /// <summary>The curves chart's lines: each layer's curve for its method, then its chosen level as a marker on it. A new list after every edit.</summary>
    public IReadOnlyList<LineSeries> CurveSeries { get; private set; } = [];

    /// <summary>Accuracy against parameters of the evaluated plans (<see cref="FrontierSeries"/>), rebuilt when they or the plan change.</summary>
    public IReadOnlyList<LineSeries> ParameterChart { get; private set; } = [];

    /// <summary>Accuracy against MACs, as <see cref="ParameterChart"/>.</summary>
    public IReadOnlyList<LineSeries> MacChart { get; private set; } = [];

    /// <summary>Evaluated plans of this model's weights (on the chosen sweep's images when there is one), newest first.</summary>
    public IReadOnlyList<StoredPlanEvaluation> Evaluations { get; private set; } = [];

    /// <summary>The measurement of exactly the plan in the editor (same masks, same images), if it was evaluated.</summary>
    public StoredPlanEvaluation? Measured { get; private set; }

    /// <summary>The evaluation job started last from this page.</summary>
    public JobSnapshot? Evaluation { get; private set; }

    /// <summary>The allocation job started last from this page.</summary>
    public JobSnapshot? Allocation { get; private set; }

    public AllocationProposals? Proposals { get; private set; }

    /// <summary>Chooses a model: reads its layers and weight scores, its sweeps and evaluations, and starts from the default plan (the output layer excluded).</summary>
    /// <returns>Why it could not be read, or null.</returns>
    public string? SelectModel(Guid modelId)
    {
        if (Models.FirstOrDefault(m => m.Id == modelId) is not { } model)
        {
            Models = store.List();
            model = Models.FirstOrDefault(m => m.Id == modelId);
            if (model is null) return "That model is no longer in the workspace.";
        }
        try
        {
            Profile = loadProfile(ResolvedModel.Of(model));
        }
        catch (Exception e) when (e is CheckpointException or IOException or ArgumentException or InvalidOperationException)
        {
            Model = model;
            Profile = null;
            Plan = null;
            // Nothing of the previous model may stay on screen under this one's name.
            predictor = null;
            Sweeps = [];
            Sweep = null;
            Curves = null;
            Evaluations = [];
            Measured = null;
            Proposals = null;
            Problems = [];
            Prediction = null;
            Rows = [];
            LayersWithoutSweep = [];
            CurveSeries = [];
            ParameterChart = [];
            MacChart = [];
            LoadError = $"{model.DisplayName} could not be read: {e.Message}";
            return LoadError;
        }
        Model = model;
        LoadError = null;
        Proposals = null;
        Plan = PruningPlan.Default(Profile.Layers, PruningMethod.Element);
        ListSweeps();
        ChooseSweep(Sweeps.FirstOrDefault());
        return null;
    }

    /// <summary>The sweeps of the chosen model's weights, newest first (none without a readable model).</summary>
    private void ListSweeps()
    {
        Sweeps = Profile is null ? [] : [.. history.List()
            .Where(s => s.ModelHash == Profile.Model.WeightsHash)
            .GroupBy(s => s.Identity)
            .Select(g => new SweepChoice(g.Key, g.First().SubsetSize, g.Max(s => s.CreatedAt), [.. g.Select(s => s.Criterion).Distinct().Order()]))
            .OrderByDescending(c => c.Newest)];
    }

    /// <summary>
    /// After an allocation or a sweep: the model may have been swept for the first time or for another criterion, so
    /// the sweeps are listed again and the chosen one kept (or the first taken when none was chosen).
    /// </summary>
    private void ReloadSweeps()
    {
        if (Profile is null) return; // another model, one that could not be read, was chosen meanwhile
        ListSweeps();
        ChooseSweep(Sweeps.FirstOrDefault(s => s.Identity == Sweep?.Identity) ?? Sweeps.FirstOrDefault());
    }

    /// <summary>Reads the workspace's models again (e.g. after a fine-tuning stored a new one), keeping the chosen model.</summary>
    public void RefreshModels() => Models = store.List();

    /// <summary>Predicts from another set of sweep cells of the same weights.</summary>
    public void SelectSweep(SweepIdentity identity) => ChooseSweep(Sweeps.FirstOrDefault(s => s.Identity == identity));

    /// <summary>Lists the sweeps and reads the curves again (e.g. after a sweep finished elsewhere, perhaps the model's first).</summary>
    public void ReloadCurves() => ReloadSweeps();

    public void SetStageRate(string stage, double rate) => Edit(Plan!.WithStageRate(stage, Math.Round(rate, SweepLevels.MaxDecimals)));

    public void SetStageMethod(string stage, PruningMethod method) => Edit(Plan!.WithStageMethod(stage, method));

    /// <summary>The stage under a new name (its layers, rate and method kept); Core's refusal in words, or null.</summary>
    public string? RenameStage(string from, string to) => EditStages(plan => plan.RenameStage(from, to));

    /// <summary>
    /// The layers of <paramref name="from"/> join <paramref name="into"/> at <paramref name="into"/>'s rate and method (Core's
    /// rule: "merge A into B" keeps B as it is, so the layers that were already in B do not move, and no blended rate that
    /// nobody chose appears). Overrides and exclusions belong to layers and stay. Core's refusal in words, or null.
    /// </summary>
    public string? MergeStages(string into, string from) => EditStages(plan => plan.MergeStages(into, from));

    /// <summary><paramref name="layers"/> leave <paramref name="stage"/> for a new stage right after it, at the same rate and method.</summary>
    public string? SplitStage(string stage, string newName, IEnumerable<string> layers) =>
        EditStages(plan => plan.SplitStage(stage, newName, layers ?? []));

    /// <summary>The layer at its own sparsity level (its method kept); the error in words, or null.</summary>
    public string? SetLevel(string layer, double level)
    {
        if (PruningPlan.LevelProblem($"{layer}: level", level) is { } problem) return problem;
        Edit(Plan!.WithOverride(layer, level, OverrideMethod(layer)));
        return null;
    }

    /// <summary>The layer at the level that prunes the units whose score (|w|, or the filter norm) is below <paramref name="threshold"/>.</summary>
    public string? SetThreshold(string layer, double threshold)
    {
        if (!(threshold >= 0 && double.IsFinite(threshold))) return $"{layer}: a threshold is a number ≥ 0.";
        var profile = ProfileOf(layer);
        return SetLevel(layer, profile.AtThreshold(threshold).Level);
    }

    /// <summary>Distiller's form for element pruning: threshold = <paramref name="multiple"/>·std(w).</summary>
    public string? SetStdMultiple(string layer, double multiple)
    {
        var profile = ProfileOf(layer);
        if (profile.WeightStd is null) return $"{layer}: s·std(w) is Distiller's form for element pruning; this layer is pruned by {profile.Method.Key}.";
        if (!(multiple >= 0 && double.IsFinite(multiple))) return $"{layer}: s is a number ≥ 0.";
        return SetLevel(layer, profile.AtStdMultiple(multiple).Level);
    }

    /// <summary>The largest swept level of the layer whose measured drop stays within <paramref name="maxDrop"/> (a fraction).</summary>
    public string? SetMaxDrop(string layer, double maxDrop)
    {
        var planned = Resolved(layer);
        if (Curves?.CurveOf(layer, planned.Method) is not { } curve) return $"{layer} has no {planned.Method.Key} sweep to read a tolerated drop from: sweep it on the Sensitivity page first.";
        if (!(maxDrop >= 0 && double.IsFinite(maxDrop))) return $"{layer}: a tolerated drop is a number of points ≥ 0.";
        return SetLevel(layer, curve.LargestLevelWithin(maxDrop));
    }

    /// <summary>The layer by its own method (at its current level).</summary>
    public void SetLayerMethod(string layer, PruningMethod method) => Edit(Plan!.WithOverride(layer, Resolved(layer).Level, method));

    public void ClearOverride(string layer) => Edit(Plan!.WithoutOverride(layer));

    public void Exclude(string layer, string reason) => Edit(Plan!.Excluding(layer, string.IsNullOrWhiteSpace(reason) ? "left dense by hand" : reason.Trim()));

    public void Include(string layer) => Edit(Plan!.Including(layer));

    /// <summary>Back to the default plan: every stage at 0 by element, the output layer excluded.</summary>
    public void Reset() => Edit(PruningPlan.Default(Profile!.Layers, PruningMethod.Element));

    /// <summary>A measured plan back in the editor (its levels on the zoo's stages).</summary>
    public void Load(StoredPlanEvaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        Edit(PlanContent.ToPlan(Profile!.Layers, evaluation.Levels));
    }

    /// <summary>One of the allocation's proposals in the editor, to edit from there.</summary>
    public void Accept(bool uniform)
    {
        if (Proposals is { } proposals) Edit(uniform ? proposals.Uniform : proposals.Allocated);
    }

    /// <summary>The plan as a plan file (<see cref="PlanFile"/> JSON); null while it has problems.</summary>
    public string? PlanFileJson() =>
        Profile is null || Plan is null || Problems.Count > 0 ? null : PlanFile.ToJson(new PlanDocument(Profile.Model, Plan), Profile.Layers);

    public string PlanFileName => $"plan-{Profile?.Model.Architecture ?? "model"}.json";

    /// <summary>Queues the evaluation of the plan in the editor (on the sweep's images, so measured and predicted compare).</summary>
    public (JobSnapshot? Job, string? Error) Evaluate() => Evaluate(Plan);

    /// <summary>Queues the evaluation of one of the allocation's proposals.</summary>
    public (JobSnapshot? Job, string? Error) EvaluateProposal(bool uniform) =>
        Proposals is { } p ? Evaluate(uniform ? p.Uniform : p.Allocated) : (null, "There is no allocation to evaluate.");

    /// <summary>Queues an allocation for <paramref name="target"/> into the editor's stages, methods and exclusions (missing curves are swept first).</summary>
    public (JobSnapshot? Job, string? Error) Allocate(AllocationRequestTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (Model is null || Plan is null) return (null, "Choose a model first.");
        if (Problems.Count > 0) return (null, $"Fix the plan first: {Problems[0].Message}");
        try
        {
            var job = plans.StartAllocation(new PlanAllocationRequest(new StoredModel(Model.Id), target, Sweep?.Identity.Dataset ?? Model.Dataset,
                PruningMethod.Element, Sweep?.SubsetSize ?? AnalysisSubset.DefaultSize, Plan));
            Allocation = job;
            Proposals = null;
            return (job, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    public bool Cancel(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return scheduler.Cancel(job.Id);
    }

    /// <summary>The measurement of a proposal (same masks on the same images), if it was evaluated.</summary>
    public StoredPlanEvaluation? MeasuredOf(PruningPlan plan) => Profile is null ? null : Find(PlanContent.Hash(plan.Resolve(Profile.Layers)));

    /// <summary>
    /// Applies the job updates that arrived: progress of the followed evaluation and allocation, the evaluated plans
    /// when an evaluation ends, the proposals when an allocation ends. Returns a failure to show once, or null.
    /// </summary>
    public string? ApplyUpdates()
    {
        string? error = null;
        var evaluated = false;
        while (updates.TryDequeue(out var update))
        {
            var job = update.Job;
            if (job.Id == Evaluation?.Id)
            {
                Evaluation = job;
            }
            else if (job.Id == Allocation?.Id)
            {
                Allocation = job;
                if (job is { State: JobState.Succeeded, ResultJson: { } json }) TakeProposals(PlanAllocationJobResult.FromJson(json));
            }
            if (!job.IsFinished) continue;
            evaluated |= job.Kind == PlanEvaluationJob.Kind && job.State == JobState.Succeeded;
            if (job.Kind == PlanAllocationJob.Kind && job.State == JobState.Succeeded) ReloadSweeps(); // it may have swept missing layers, or the model for the first time
            if (job.State == JobState.Failed && (job.Id == Evaluation?.Id || job.Id == Allocation?.Id)) error = job.Error;
        }
        if (evaluated) RefreshEvaluations();
        return error;
    }

    /// <summary>Accuracy (%) against parameters or MACs of every evaluated plan, the frontier through them, the dense model and the plan in the editor (predicted).</summary>
    public IReadOnlyList<LineSeries> FrontierSeries(bool byMacs)
    {
        double X(long parameters, long macs) => byMacs ? macs : parameters;
        var points = Evaluations.Select(e => (X: X(e.Parameters, e.MacsPerSample), Y: e.Measured.Top1 * 100, Text: Describe(e))).ToList();
        var evaluated = new LineSeries("evaluated plans", [.. points.Select(p => p.X)], [.. points.Select(p => p.Y)])
        {
            MarkersOnly = true,
            MarkerSize = 10,
            Color = "#1f77b4",
            Text = [.. points.Select(p => p.Text)],
            HoverTemplate = "%{text}<br>%{y:.2f} %<extra></extra>",
        };
        LineSeries? dense = null;
        if (Curves is not null && predictor is not null)
        {
            points.Add((X(predictor.Dense.Network.Parameters, predictor.Dense.Network.MacsPerSample), Curves.BaselineTop1 * 100, "dense"));
            dense = new LineSeries("dense model", [points[^1].X], [points[^1].Y]) { MarkersOnly = true, MarkerSize = 11, Color = "#2ca02c" };
        }
        // The frontier first, so that the plans' own markers are drawn over its line.
        var frontier = Frontier(points.Select(p => (p.X, p.Y)));
        var lines = new List<LineSeries>
        {
            new("frontier", [.. frontier.Select(p => p.X)], [.. frontier.Select(p => p.Y)]) { Color = "#ff7f0e", Dashed = true, MarkerSize = 3 },
            evaluated,
        };
        if (dense is not null) lines.Add(dense);
        if (Prediction is { } prediction && HasSweep)
        {
            lines.Add(new LineSeries("this plan (predicted)", [X(prediction.Parameters, prediction.MacsPerSample)], [prediction.PredictedTop1 * 100])
            {
                MarkersOnly = true,
                MarkerSize = 12,
                Color = "#d62728",
            });
        }
        return lines;
    }

    /// <summary>
    /// The points no other point beats (fewer or as many parameters and a higher accuracy, or strictly fewer with as
    /// high), by ascending x: what a plan can reach for its size.
    /// </summary>
    public static IReadOnlyList<(double X, double Y)> Frontier(IEnumerable<(double X, double Y)> points)
    {
        var frontier = new List<(double X, double Y)>();
        foreach (var point in points.OrderBy(p => p.X).ThenByDescending(p => p.Y))
        {
            if (frontier.Count == 0 || point.Y > frontier[^1].Y) frontier.Add(point);
        }
        return frontier;
    }

    public void Dispose() => subscription.Dispose();

    private (JobSnapshot? Job, string? Error) Evaluate(PruningPlan? plan)
    {
        if (Model is null || plan is null) return (null, "Choose a model first.");
        if (plan.Problems(Profile!.Layers) is [var first, ..]) return (null, $"Fix the plan first: {first.Message}");
        try
        {
            var job = plans.StartEvaluation(new PlanEvaluationRequest(new StoredModel(Model.Id), plan, Sweep?.Identity.Dataset ?? Model.Dataset,
                Sweep?.SubsetSize ?? AnalysisSubset.DefaultSize));
            Evaluation = job;
            return (job, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    private void TakeProposals(PlanAllocationJobResult result)
    {
        if (Profile is null || result.WeightsHash != Profile.Model.WeightsHash) return; // another model was chosen meanwhile
        Proposals = new AllocationProposals(result, PlanContent.ToPlan(Profile.Layers, result.Allocated.Levels), PlanContent.ToPlan(Profile.Layers, result.Uniform.Levels));
    }

    private void ChooseSweep(SweepChoice? choice)
    {
        if (Profile is null || Plan is null) return; // the model could not be read: there is nothing to predict for
        Sweep = choice;
        Curves = choice is null ? null : StoredSweepCurves.Read(cells, choice.Identity, PlanModelProfile.Methods);
        predictor = new PlanPredictor(Profile!.Graph, Curves?.BaselineTop1 ?? 0, Curves?.Curves ?? []);
        RefreshEvaluations();
        Edit(Plan!);
    }

    private void RefreshEvaluations()
    {
        if (Profile is null) return;
        Evaluations = [.. plans.Evaluations.List(Profile.Model.WeightsHash)
            .Where(e => Sweep is null || (e.Key.Dataset == Sweep.Identity.Dataset && e.Key.Subset == Sweep.Identity.Subset))];
        Measured = Problems.Count == 0 && Plan is not null ? Find(PlanContent.Hash(Plan.Resolve(Profile.Layers))) : null;
        RedrawFrontiers();
    }

    private void RedrawFrontiers()
    {
        ParameterChart = FrontierSeries(byMacs: false);
        MacChart = FrontierSeries(byMacs: true);
    }

    /// <summary>What the curves predicted for a measured plan (null without a sweep, or with a pruned layer that has no curve).</summary>
    public double? PredictedTop1Of(StoredPlanEvaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        if (Profile is null || predictor is null || !HasSweep) return null;
        var prediction = predictor.Predict(PlanContent.ToPlan(Profile.Layers, evaluation.Levels).Resolve(Profile.Layers));
        return prediction.IsComplete ? prediction.PredictedTop1 : null;
    }

    private StoredPlanEvaluation? Find(string planHash) => Evaluations.FirstOrDefault(e => e.Key.PlanHash == planHash);

    /// <summary>
    /// A structural edit of the stages: Core checks its own arguments and throws; the refusal is returned in its words
    /// (without .NET's parameter suffix) and the plan in the editor stays as it was.
    /// </summary>
    private string? EditStages(Func<PruningPlan, PruningPlan> edit)
    {
        if (Plan is null) return "Choose a model first.";
        PruningPlan edited;
        try
        {
            edited = edit(Plan);
        }
        catch (ArgumentException e)
        {
            return InvalidRequestException.For("stages", e).Message;
        }
        Edit(edited);
        return null;
    }

    /// <summary>Every edit comes here: the plan checked, resolved and predicted, the table and the chart's lines rebuilt.</summary>
    private void Edit(PruningPlan plan)
    {
        var clock = Stopwatch.StartNew();
        var profile = Profile!;
        Plan = plan;
        Problems = plan.Problems(profile.Layers);
        var resolved = Problems.Count == 0 ? plan.Resolve(profile.Layers) : null;
        Prediction = resolved is null ? null : predictor!.Predict(resolved);
        var predicted = Prediction?.Layers.ToDictionary(l => l.Layer);
        Rows = [.. profile.Layers.Select(info =>
        {
            var planned = resolved?.Layer(info.Name) ?? Planned(plan, info);
            var layerPrediction = predicted?.GetValueOrDefault(info.Name);
            var curve = Curves?.CurveOf(info.Name, planned.Method);
            var magnitude = planned.Excluded ? null : profile.ProfileOf(info.Name, planned.Method)?.AtLevel(planned.Level);
            var std = planned.Method.Criterion == PruningCriterion.Element ? profile.ProfileOf(info.Name, planned.Method)?.WeightStd : null;
            return new PlanLayerRow(info, planned, magnitude, magnitude is not null && std is > 0 ? magnitude.Threshold / std : null, curve is not null,
                planned.Excluded || curve is null ? null : curve.DropAt(planned.Level), !planned.Excluded && curve is not null && !curve.Covers(planned.Level),
                layerPrediction?.Weights);
        })];
        LayersWithoutSweep = [.. Rows.Where(r => !r.Planned.Excluded && !r.HasCurve).Select(r => r.Name)];
        CurveSeries = BuildCurveSeries();
        Measured = resolved is null ? null : Find(PlanContent.Hash(resolved));
        PredictionMilliseconds = clock.Elapsed.TotalMilliseconds;
        RedrawFrontiers();
    }

    /// <summary>A layer's setting while the plan does not resolve: read straight from its stage, override or exclusion (levels may be bad).</summary>
    private static PlannedLayer Planned(PruningPlan plan, LayerInfo info)
    {
        var stage = plan.Stages.FirstOrDefault(s => s.Layers.Contains(info.Name));
        var method = stage?.Method ?? PruningMethod.Element;
        if (plan.Exclusions.FirstOrDefault(e => e.Layer == info.Name) is { } exclusion)
            return new PlannedLayer(info.Name, stage?.Name ?? "", 0, method, LevelSource.Excluded, exclusion.Reason);
        if (plan.Overrides.FirstOrDefault(o => o.Layer == info.Name) is { } over)
            return new PlannedLayer(info.Name, stage?.Name ?? "", Clamp(over.Level), over.Method ?? method, LevelSource.Override);
        return new PlannedLayer(info.Name, stage?.Name ?? "", Clamp(stage?.Rate ?? 0), method, LevelSource.Stage);
    }

    private static double Clamp(double level) => double.IsNaN(level) ? 0 : Math.Round(Math.Clamp(level, 0, 0.9999), SweepLevels.MaxDecimals);

    private IReadOnlyList<LineSeries> BuildCurveSeries()
    {
        if (Curves is null) return [];
        var colours = Colours(Profile!.Layers);
        var lines = new List<LineSeries>();
        var markers = new List<LineSeries>();
        foreach (var row in Rows.Where(r => r.HasCurve && !r.Planned.Excluded))
        {
            var curve = Curves.CurveOf(row.Name, row.Planned.Method)!;
            var colour = colours[row.Name];
            // The method is named only when it is not element, so the legend stays narrow.
            var name = row.Planned.Method == PruningMethod.Element ? row.Name : $"{row.Name} ({row.Planned.Method.Key})";
            lines.Add(new LineSeries(name, [.. curve.Points.Select(p => p.Level)], [.. curve.Points.Select(p => p.Top1 * 100)])
            {
                Color = colour,
                Group = row.Name,
                HoverTemplate = $"{row.Name}<br>level %{{x:.2f}}: %{{y:.2f}} %<extra></extra>",
            });
            var top1 = (curve.BaselineTop1 - (row.CurveDrop ?? 0)) * 100;
            markers.Add(new LineSeries($"{row.Name} chosen", [row.Planned.Level], [top1])
            {
                Color = colour,
                Group = row.Name,
                MarkersOnly = true,
                MarkerSize = 14,
                ShowLegend = false,
                HoverTemplate = $"{row.Name} chosen: level %{{x:.4f}}, predicted %{{y:.2f}} %<extra></extra>",
            });
        }
        return [.. lines, .. markers];
    }

    /// <summary>Each layer's colour: its stage's hue, darker for the stage's first layers (as the Sensitivity page).</summary>
    private static Dictionary<string, string> Colours(IReadOnlyList<LayerInfo> layers) =>
        new(Sensitivity.SensitivityChart.Colours([.. layers.Select(SweepLayer.From)]));

    private PlannedLayer Resolved(string layer) => Rows.First(r => r.Name == layer).Planned;

    /// <summary>An override keeps the method the layer has when it differs from its stage's.</summary>
    private PruningMethod? OverrideMethod(string layer) => Plan!.Overrides.FirstOrDefault(o => o.Layer == layer)?.Method;

    private MagnitudeProfile ProfileOf(string layer)
    {
        var method = Resolved(layer).Method;
        return Profile!.ProfileOf(layer, method) ?? throw new InvalidOperationException($"No {method.Key} scores for layer {layer}.");
    }

    private static string Describe(StoredPlanEvaluation e) =>
        string.Join(", ", e.Levels.Select(l => $"{l.Layer} {SweepLevels.Format(l.Level)}")) is { Length: > 0 } text ? text : "dense";
}
