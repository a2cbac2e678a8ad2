using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Pruning;
using CompressionLab.Web.Components.Pages.Pruning;
using Microsoft.Extensions.DependencyInjection;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Pruning plan page's model without a renderer, on PlanPredictionTests' tiny CNN (conv1 [4,1,3,3] + bias → bn1 →
/// pool → fc [3,16] + bias: 99 parameters, 624 MACs) with hand-made weights and curves, a real temporary workspace and
/// the fake scheduler playing the worker. Every number below is worked out by hand in its comment.
/// </summary>
public sealed class PruningPageModelTests : IDisposable
{
    /// <summary>
    /// conv1's |w| are 0.01, 0.02, …, 0.36, odd ones negative: mean (342 − 324)/3600 = 0.005, Σw² = 36·37·73/6 / 10⁴ = 1.6206,
    /// so std with Bessel's correction is √((1.6206 − 36·0.005²)/35) = √(1.6197/35).
    /// </summary>
    internal static readonly float[] Conv1Weights = [.. Enumerable.Range(1, 36).Select(i => (i % 2 == 0 ? 1 : -1) * i / 100f)];

    internal static readonly LayerInfo[] Layers =
    [
        new("conv1", LayerKind.Conv, [4, 1, 3, 3], 4, 4, "stage1", 40, 576, 0),
        new("fc", LayerKind.Linear, [3, 16], 1, 1, "classifier", 51, 48, 1),
    ];

    internal const string WeightsHash = "tinyweights";

    internal static readonly SweepIdentity Identity = new(WeightsHash, SyntheticDataset.Name, "validation/stratified-64/abc");

    private static readonly SweepMetrics Baseline = new(0.875, 0.99, 0.4);

    private readonly PageWorkspace workspace = new();
    private readonly FakeJobScheduler scheduler = new();
    private readonly PlanJobs plans;
    private readonly ModelRecord model;

    public PruningPageModelTests()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IJobScheduler>(scheduler);
        workspace.AddPlanJobs(services);
        plans = services.BuildServiceProvider().GetRequiredService<PlanJobs>();
        model = Seed(workspace);
    }

    public void Dispose() => workspace.Dispose();

    /// <summary>The tiny model in the store, its sweep in the history and its element cells (conv1 and fc) in the cell store.</summary>
    internal static ModelRecord Seed(PageWorkspace workspace)
    {
        var file = Path.Combine(workspace.Workspace.Root, "tiny.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        var record = workspace.Store.Import(file, new ModelEntry("tiny", ModelZoo.VggTiny, SyntheticDataset.Name, 0.9, 99));
        workspace.History.Begin(null, record.Id, "tiny", ModelZoo.VggTiny, Identity, 64, "element", [0, 0.25, 0.5, 0.75], [.. Layers.Select(SweepLayer.From)]);
        workspace.Cells.Save(SweepCellKey.Baseline(Identity), SweepCell.From("", 0, 0, Baseline, Baseline));
        // conv1: drops 0.015625 at 0.25 and 0.0625 at 0.5; fc: no drop at 0.25, 0.125 at 0.75.
        foreach (var (layer, level, top1) in new[] { ("conv1", 0.25, 0.859375), ("conv1", 0.5, 0.8125), ("fc", 0.25, 0.875), ("fc", 0.75, 0.75) })
            workspace.Cells.Save(SweepCellKey.For(Identity, "element", layer, level), SweepCell.From(layer, level, level, Baseline with { Top1 = top1 }, Baseline));
        return record;
    }

    /// <summary>The profile the page would read from the checkpoint: element scores of both layers (filter scores left out).</summary>
    internal static PlanModelProfile Profile(ResolvedModel _) => new(
        new PlanModel(ModelZoo.VggTiny, WeightsHash, "tiny"),
        Layers,
        PlanPredictionTests.TinyCnn(),
        new Dictionary<(string, PruningMethod), MagnitudeProfile>
        {
            [("conv1", PruningMethod.Element)] = MagnitudeProfile.OfWeights("conv1", Conv1Weights),
            [("fc", PruningMethod.Element)] = MagnitudeProfile.OfWeights("fc", [.. Enumerable.Range(1, 48).Select(i => i / 100f)]),
        });

    private PruningPageModel Open() => new(scheduler, workspace.Store, workspace.History, workspace.Cells, plans, Profile, () => { });

    [Fact]
    public void TheDefaultPlanExcludesTheOutputLayerWithItsReasonAndPredictsTheDenseModel()
    {
        using var page = Open();

        Assert.Equal(model.Id, page.Model!.Id);
        Assert.Equal(Identity, page.Sweep!.Identity);
        Assert.Equal(64, page.Sweep.SubsetSize);
        Assert.Equal(["stage1", "classifier"], page.Plan!.Stages.Select(s => s.Name));
        var fc = page.Rows[1];
        Assert.True(fc.Planned.Excluded);
        Assert.Contains("output layer", fc.Planned.ExclusionReason);
        // fc holds 48 of the 84 weights: 57.1 %.
        Assert.Contains("57.1 % of the weights", fc.Planned.ExclusionReason);
        Assert.Null(fc.Magnitude);

        var prediction = page.Prediction!;
        Assert.Equal(0.875, prediction.PredictedTop1);
        Assert.Equal(0, prediction.Sparsity);
        Assert.Equal((99L, 624L), (prediction.Parameters, prediction.MacsPerSample));
        Assert.Empty(page.LayersWithoutSweep);
        // One curve (conv1's; fc is excluded) and its marker at level 0 on the baseline.
        Assert.Equal(2, page.CurveSeries.Count);
        Assert.Equal([0.0], page.CurveSeries[1].X);
        Assert.Equal([87.5], page.CurveSeries[1].Y);
    }

    [Fact]
    public void AStageRateChangesTheSparsityCountsSizesPredictionAndMarker()
    {
        using var page = Open();
        var chartBefore = page.CurveSeries;

        page.SetStageRate("stage1", 0.5);

        // conv1 keeps 18 of 36 weights: sparsity 18/84; parameters 99 − 18 = 81; MACs 624 − 18·16 = 336.
        var prediction = page.Prediction!;
        Assert.Equal(18.0 / 84, prediction.Sparsity, 12);
        Assert.Equal((81L, 336L), (prediction.Parameters, prediction.MacsPerSample));
        // Dense float32 bytes are unchanged (zeros kept): 4·99 = 396. CSR float32: conv1 8·18 + 4·5 = 164, fc 8·48 + 4·4 = 400,
        // other parameters 4 + 8 + 3 = 15 → 60 bytes: 624.
        Assert.Equal((396L, 624L), (prediction.Pruned.Bytes.DenseFloat32, prediction.Pruned.Bytes.CsrFloat32));
        // conv1's measured drop at 0.5 is 0.0625: predicted 0.875 − 0.0625.
        Assert.Equal(0.8125, prediction.PredictedTop1, 12);
        var conv1 = page.Rows[0];
        Assert.Equal(0.5, conv1.Planned.Level);
        Assert.Equal(0.5, conv1.Weights!.Sparsity);
        Assert.Equal(0.0625, conv1.CurveDrop!.Value, 12);
        // The mask prunes the 18 smallest |w| (0.01 … 0.18): the threshold is the first kept, 0.19; s = 0.19 / √(1.6197/35).
        Assert.Equal(0.19, conv1.Magnitude!.Threshold, 6);
        Assert.Equal(0.19 / Math.Sqrt(1.6197 / 35), conv1.StdMultiple!.Value, 5);
        Assert.NotSame(chartBefore, page.CurveSeries);
        Assert.Equal([0.5], page.CurveSeries[1].X);
        Assert.Equal(81.25, page.CurveSeries[1].Y.Single(), 9);

        // Between measured levels the drop is interpolated: 0.375 is half way from 0.015625 to 0.0625.
        page.SetStageRate("stage1", 0.375);
        Assert.Equal(0.875 - 0.0390625, page.Prediction!.PredictedTop1, 12);
        // A slider's 0.07000000000000001 is a level of four decimals.
        page.SetStageRate("stage1", 0.07000000000000001);
        Assert.Equal(0.07, page.Plan!.Stage("stage1").Rate);
        Assert.Empty(page.Problems);
    }

    [Fact]
    public void ARenamedStageKeepsItsRateLayersAndPrediction()
    {
        using var page = Open();
        page.SetStageRate("stage1", 0.5);

        Assert.Null(page.RenameStage("stage1", " features "));

        Assert.Equal(["features", "classifier"], page.Plan!.Stages.Select(s => s.Name));
        var features = page.Plan.Stage("features");
        Assert.Equal((0.5, PruningMethod.Element), (features.Rate, features.Method));
        Assert.Equal(["conv1"], features.Layers);
        Assert.Equal(("features", 0.5), (page.Rows[0].Planned.Stage, page.Rows[0].Planned.Level));
        // conv1 still at 0.5: 0.875 − 0.0625, as before the rename.
        Assert.Equal(0.8125, page.Prediction!.PredictedTop1, 12);
        page.SetStageRate("features", 0.25);
        Assert.Equal(0.875 - 0.015625, page.Prediction!.PredictedTop1, 12);
    }

    [Fact]
    public void AMergedStageTakesTheRateOfTheStageItJoins()
    {
        using var page = Open();
        page.Include("fc");
        page.SetStageRate("stage1", 0.5);
        page.SetStageRate("classifier", 0.25);
        // conv1 at 0.5 drops 0.0625, fc at 0.25 drops 0.
        Assert.Equal(0.8125, page.Prediction!.PredictedTop1, 12);

        // "Merge classifier into stage1": stage1 stays as it was (name, rate 0.5, method) and fc joins it at 0.5.
        Assert.Null(page.MergeStages(into: "stage1", from: "classifier"));

        var merged = Assert.Single(page.Plan!.Stages);
        Assert.Equal(("stage1", 0.5), (merged.Name, merged.Rate));
        Assert.Equal(["conv1", "fc"], merged.Layers);
        Assert.Equal(("stage1", 0.5, LevelSource.Stage), (page.Rows[1].Planned.Stage, page.Rows[1].Planned.Level, page.Rows[1].Planned.Source));
        // fc at 0.5 is half way between its drops 0 (0.25) and 0.125 (0.75): 0.0625; with conv1's 0.0625, 0.875 − 0.125.
        Assert.Equal(0.75, page.Prediction!.PredictedTop1, 12);

        // The other way round the target's rate wins too: conv1 joins the classifier at 0.25 (drop 0.015625), fc stays at 0.25 (0).
        using var other = Open();
        other.Include("fc");
        other.SetStageRate("stage1", 0.5);
        other.SetStageRate("classifier", 0.25);
        Assert.Null(other.MergeStages(into: "classifier", from: "stage1"));
        Assert.Equal(("classifier", 0.25), (other.Plan!.Stages.Single().Name, other.Plan.Stages.Single().Rate));
        Assert.Equal(0.875 - 0.015625, other.Prediction!.PredictedTop1, 12);
    }

    [Fact]
    public void AMergeKeepsTheLayersOwnSettings()
    {
        using var page = Open();
        page.SetStageRate("classifier", 0.25);
        Assert.Null(page.SetLevel("conv1", 0.5));

        Assert.Null(page.MergeStages(into: "classifier", from: "stage1"));

        // An override belongs to its layer: conv1 stays at 0.5; fc stays excluded, with its reason.
        Assert.Equal((0.5, LevelSource.Override, "classifier"), (page.Rows[0].Planned.Level, page.Rows[0].Planned.Source, page.Rows[0].Planned.Stage));
        Assert.True(page.Rows[1].Planned.Excluded);
        Assert.Equal(0.8125, page.Prediction!.PredictedTop1, 12);
    }

    [Fact]
    public void ASplitStageHoldsTheLayersMovedAtTheOldRate()
    {
        using var page = Open();
        page.Include("fc");
        page.SetStageRate("stage1", 0.5);
        Assert.Null(page.MergeStages(into: "stage1", from: "classifier"));
        Assert.Equal(0.75, page.Prediction!.PredictedTop1, 12);

        Assert.Null(page.SplitStage("stage1", "head", ["fc"]));

        Assert.Equal(["stage1", "head"], page.Plan!.Stages.Select(s => s.Name));
        var head = page.Plan.Stage("head");
        Assert.Equal(["fc"], head.Layers);
        Assert.Equal((0.5, PruningMethod.Element), (head.Rate, head.Method));
        Assert.Equal(["conv1"], page.Plan.Stage("stage1").Layers);
        Assert.Equal(0.75, page.Prediction!.PredictedTop1, 12); // every layer at the level it had
        // The new stage's rate is its own: fc at 0.25 drops 0, conv1 stays at 0.5.
        page.SetStageRate("head", 0.25);
        Assert.Equal(0.8125, page.Prediction!.PredictedTop1, 12);
        Assert.Equal(0.5, page.Rows[0].Planned.Level);
    }

    [Fact]
    public void BadStageEditsAreRefusedInCoresWordsAndChangeNothing()
    {
        using var page = Open();
        page.SetStageRate("stage1", 0.5);
        var plan = page.Plan;
        var prediction = page.Prediction;

        Assert.Equal("A stage needs a name.", page.RenameStage("stage1", "  "));
        Assert.Equal("There is already a stage named 'classifier': merge the two instead.", page.RenameStage("stage1", "classifier"));
        Assert.Equal("The plan has no stage 'stage9'. Its stages are: stage1, classifier.", page.RenameStage("stage9", "x"));
        Assert.Equal("The plan has no stage 'stage9'. Its stages are: stage1, classifier.", page.MergeStages(into: "stage9", from: "stage1"));
        Assert.Equal("The plan has no stage 'stage9'. Its stages are: stage1, classifier.", page.MergeStages(into: "stage1", from: "stage9"));
        Assert.Equal("Stage 'stage1' cannot be merged into itself.", page.MergeStages(into: "stage1", from: "stage1"));
        Assert.Equal("Splitting every layer out of stage 'stage1' leaves it empty: rename it instead.", page.SplitStage("stage1", "x", ["conv1"]));
        Assert.Equal("Name the layers of stage 'stage1' that go to 'x'.", page.SplitStage("stage1", "x", []));
        Assert.Equal("Layer 'fc' is not in stage 'stage1' (it has conv1).", page.SplitStage("stage1", "x", ["fc"]));
        Assert.Equal("There is already a stage named 'classifier': merge the two instead.", page.SplitStage("stage1", "classifier", ["conv1"]));
        Assert.Equal("A stage needs a name.", page.SplitStage("stage1", "", ["conv1"]));

        Assert.Same(plan, page.Plan);
        Assert.Same(prediction, page.Prediction);
        Assert.Empty(page.Problems);
    }

    [Fact]
    public void ALayerIsSetByThresholdByStdMultipleOrByToleratedDrop()
    {
        using var page = Open();

        // |w| < 0.1 prunes 0.01 … 0.09: 9 of 36 = 0.25.
        Assert.Null(page.SetThreshold("conv1", 0.1));
        Assert.Equal((0.25, LevelSource.Override), (page.Rows[0].Planned.Level, page.Rows[0].Planned.Source));
        // s = 1: t = std ≈ 0.2151 prunes 0.01 … 0.21: 21/36 → 0.5833.
        Assert.Null(page.SetStdMultiple("conv1", 1));
        Assert.Equal(0.5833, page.Rows[0].Planned.Level);
        // At most 2 points: 0.25 (1.5625 points) is within, 0.5 (6.25) is not.
        Assert.Null(page.SetMaxDrop("conv1", 0.02));
        Assert.Equal(0.25, page.Rows[0].Planned.Level);
        Assert.Contains("outside [0, 1)", page.SetLevel("conv1", 1.2));

        // Back to the stage, then the output layer included and pruned by its stage: fc's drop at 0.75 is 0.125.
        page.ClearOverride("conv1");
        page.Include("fc");
        page.SetStageRate("classifier", 0.75);
        Assert.Equal(0.75, page.Prediction!.PredictedTop1, 12);
        Assert.Equal(LevelSource.Stage, page.Rows[1].Planned.Source);
    }

    [Fact]
    public void ALayerWithoutACurveForItsMethodIsListedAndLeftOutOfThePrediction()
    {
        using var page = Open();

        page.SetStageMethod("stage1", PruningMethod.FilterL1);
        page.SetStageRate("stage1", 0.5);

        Assert.Equal(["conv1"], page.LayersWithoutSweep);
        Assert.Equal(["conv1"], page.Prediction!.LayersWithoutCurve);
        Assert.Equal(0.875, page.Prediction.PredictedTop1);
        // Two of four filters gone, with their biases, BatchNorm channels and fc's 2·2·2 inputs:
        // conv1 18 + 2, bn1 4, fc 3·8 + 3 → 51 parameters; MACs 18·16 + 24 = 312.
        Assert.Equal((51L, 312L), (page.Prediction.Parameters, page.Prediction.MacsPerSample));
        Assert.DoesNotContain(page.CurveSeries, s => s.Name.StartsWith("conv1", StringComparison.Ordinal));
    }

    [Fact]
    public void AnEvaluatedPlanIsMeasuredBesideItsPredictionListedAndLoadedBack()
    {
        using var page = Open();
        page.SetStageRate("stage1", 0.5);

        var (job, error) = page.Evaluate();
        Assert.Null(error);
        Assert.Equal(PlanEvaluationJob.Kind, job!.Kind);
        Assert.Matches("\"subset_?size\":64", job.ParametersJson.ToLowerInvariant());
        Assert.Null(page.Measured);

        // The worker measures it and keeps it in the workspace, then says it finished.
        var resolved = page.Plan!.Resolve(Layers);
        var key = new PlanEvaluationKey(WeightsHash, Identity.Dataset, Identity.Subset, PlanContent.Hash(resolved));
        workspace.Evaluations.Save(new StoredPlanEvaluation(key, "tiny", ModelZoo.VggTiny, 64, PlanContent.Levels(resolved),
            new PlanMeasurement(0.796875, 0.98, 0.5, 64, 0.1), 18.0 / 84, 81, 336, job.Id, DateTimeOffset.UtcNow));
        scheduler.Publish(job with { State = JobState.Running });
        Assert.Null(page.ApplyUpdates());
        Assert.Equal(JobState.Running, page.Evaluation!.State);
        scheduler.Publish(job with { State = JobState.Succeeded, ResultJson = "{}" });
        Assert.Null(page.ApplyUpdates());

        Assert.Equal(0.796875, page.Measured!.Measured.Top1);
        Assert.Single(page.Evaluations);
        page.SetStageRate("stage1", 0.25);
        Assert.Null(page.Measured); // another plan
        page.Load(page.Evaluations[0]);
        Assert.Equal(0.5, page.Plan!.Stage("stage1").Rate);
        Assert.Equal(0.796875, page.Measured!.Measured.Top1);

        // Evaluated plan (81, 79.6875 %), dense (99, 87.5 %): both on the frontier; the plan in the editor as predicted.
        var series = page.FrontierSeries(byMacs: false);
        Assert.Equal(["frontier", "evaluated plans", "dense model", "this plan (predicted)"], series.Select(s => s.Name));
        Assert.Equal([81.0], series[1].X);
        Assert.Equal([81.0, 99.0], series[0].X);
        Assert.Equal([79.6875, 87.5], series[0].Y);
        Assert.Equal([336.0], page.FrontierSeries(byMacs: true)[1].X);
    }

    [Fact]
    public void TheFrontierKeepsThePointsNoSmallerPlanBeats()
    {
        var frontier = PruningPageModel.Frontier([(10, 80), (20, 85), (15, 70), (30, 84), (20, 82), (40, 90)]);
        Assert.Equal([(10.0, 80.0), (20.0, 85.0), (40.0, 90.0)], frontier);
    }

    [Fact]
    public void AnAllocationGivesTwoProposalsToEvaluateAndAccept()
    {
        using var page = Open();

        var (job, error) = page.Allocate(new AllocationRequestTarget(AllocationGoal.Sparsity, 0.3));
        Assert.Null(error);
        Assert.Equal(PlanAllocationJob.Kind, job!.Kind);
        Assert.Contains("Allocate plan", job.Title, StringComparison.Ordinal);

        var allocated = new ProposalSummary([new PlanLevel("conv1", 0.25, "element")], 0.86, 0.1, 90, 480, true, 0.015);
        var uniform = new ProposalSummary([new PlanLevel("conv1", 0.5, "element")], 0.81, 0.2, 81, 336, true, 0.06);
        var result = new PlanAllocationJobResult(model.Id, "tiny", WeightsHash, Identity.Dataset, Identity.Subset, 64, AllocationGoal.Sparsity, 0.3,
            allocated, uniform, 0);
        scheduler.Publish(job with { State = JobState.Succeeded, ResultJson = ModelJobJson.Write(result) });
        Assert.Null(page.ApplyUpdates());

        Assert.Equal(0.25, page.Proposals!.Allocated.Resolve(Layers).Layer("conv1").Level);
        page.Accept(uniform: true);
        Assert.Equal(0.5, page.Plan!.Stage("stage1").Rate);
        Assert.True(page.Rows[1].Planned.Excluded);
        var (evaluation, evaluationError) = page.EvaluateProposal(uniform: false);
        Assert.Null(evaluationError);
        Assert.Equal(PlanEvaluationJob.Kind, evaluation!.Kind);
    }

    /// <summary>
    /// The allocation's job records the plan it allocates into (stage methods, exclusions), not the unused default
    /// method: the page sends PruningMethod.Element beside a plan whose stage prunes filters.
    /// </summary>
    [Fact]
    public void AnAllocationRecordsItsPlanAndNotTheUnusedMethod()
    {
        using var page = Open();
        page.SetStageMethod("stage1", PruningMethod.FilterL1);

        var (job, error) = page.Allocate(new AllocationRequestTarget(AllocationGoal.Sparsity, 0.3));

        Assert.Null(error);
        using var parameters = System.Text.Json.JsonDocument.Parse(job!.ParametersJson);
        var root = parameters.RootElement;
        Assert.Equal(System.Text.Json.JsonValueKind.Null, root.GetProperty("method").ValueKind);
        var stages = root.GetProperty("plan").GetProperty("stages").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("method").GetString());
        Assert.Equal(PruningMethod.FilterL1.Key, stages["stage1"]);
        Assert.Equal("fc", Assert.Single(root.GetProperty("plan").GetProperty("exclusions").EnumerateArray()).GetProperty("layer").GetString());
        Assert.Equal(model.Id, root.GetProperty("model").GetProperty("modelId").GetGuid());
        Assert.Equal("workspace", root.GetProperty("model").GetProperty("source").GetString());
        Assert.Equal(SyntheticDataset.Name, root.GetProperty("dataset").GetString());
    }

    /// <summary>A second model in the store: "broken" (its checkpoint cannot be read) or "fresh" (other weights, never swept).</summary>
    private ModelRecord AddModel(string name)
    {
        var file = Path.Combine(workspace.Workspace.Root, name + ".ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return workspace.Store.Import(file, new ModelEntry(name, ModelZoo.VggTiny, SyntheticDataset.Name, 0.9, 99));
    }

    /// <summary>Profiles as <see cref="Profile"/>, but "broken" fails to load and "fresh" has weights of its own.</summary>
    private PruningPageModel OpenWithOthers() => new(scheduler, workspace.Store, workspace.History, workspace.Cells, plans, resolved => resolved.DisplayName switch
    {
        "broken" => throw new CheckpointException(resolved.CheckpointPath, "not a CompressionLab checkpoint"),
        "fresh" => Profile(resolved) with { Model = new PlanModel(ModelZoo.VggTiny, "freshweights", "fresh") },
        _ => Profile(resolved),
    }, () => { });

    private void Succeed(JobSnapshot job) => scheduler.Publish(job with
    {
        State = JobState.Succeeded,
        ResultJson = ModelJobJson.Write(new PlanAllocationJobResult(model.Id, "tiny", WeightsHash, Identity.Dataset, Identity.Subset, 64, AllocationGoal.Sparsity, 0.3,
            new ProposalSummary([new PlanLevel("conv1", 0.25, "element")], 0.86, 0.1, 90, 480, true, 0.015),
            new ProposalSummary([new PlanLevel("conv1", 0.5, "element")], 0.81, 0.2, 81, 336, true, 0.06), 0)),
    });

    /// <summary>A model that fails to load shows nothing of the previous one: no sweeps, curves, evaluations, proposals or rows.</summary>
    [Fact]
    public void AModelThatFailsToLoadLeavesNothingOfThePreviousOne()
    {
        var broken = AddModel("broken");
        using var page = OpenWithOthers();
        Assert.Null(page.SelectModel(model.Id));
        Assert.NotEmpty(page.Sweeps);
        Assert.NotNull(page.Curves);
        Assert.NotEmpty(page.Rows);

        Assert.NotNull(page.SelectModel(broken.Id));

        Assert.Equal(broken.Id, page.Model!.Id);
        Assert.Empty(page.Sweeps);
        Assert.Null(page.Sweep);
        Assert.Null(page.Curves);
        Assert.Empty(page.Evaluations);
        Assert.Null(page.Measured);
        Assert.Null(page.Proposals);
        Assert.Empty(page.Rows);
        Assert.Null(page.Prediction);
        Assert.Empty(page.CurveSeries);
    }

    /// <summary>An allocation that ends after the user chose a model that could not be read is taken quietly (it threw on Profile!).</summary>
    [Fact]
    public void AnAllocationEndingAfterAFailedModelLoadIsNoCrash()
    {
        var broken = AddModel("broken");
        using var page = OpenWithOthers();
        Assert.Null(page.SelectModel(model.Id));
        var (job, error) = page.Allocate(new AllocationRequestTarget(AllocationGoal.Sparsity, 0.3));
        Assert.Null(error);
        Assert.NotNull(page.SelectModel(broken.Id));

        Succeed(job!);

        Assert.Null(page.ApplyUpdates());
        Assert.Null(page.Proposals);
        Assert.Empty(page.Rows);
        page.ReloadCurves(); // the page's own reload is safe as well
    }

    /// <summary>The sweep an allocation ran for a model never swept before is listed and chosen when the allocation ends.</summary>
    [Fact]
    public void TheSweepAnAllocationRanForANeverSweptModelIsListedAndChosen()
    {
        var fresh = AddModel("fresh");
        using var page = OpenWithOthers();
        Assert.Null(page.SelectModel(fresh.Id));
        Assert.Empty(page.Sweeps);
        var (job, error) = page.Allocate(new AllocationRequestTarget(AllocationGoal.Sparsity, 0.3));
        Assert.Null(error);
        // What the allocation's sweep leaves: the sweep in the history and its cells.
        var identity = Identity with { ModelHash = "freshweights" };
        workspace.History.Begin(null, fresh.Id, "fresh", ModelZoo.VggTiny, identity, 64, "element", [0, 0.25, 0.5], [.. Layers.Select(SweepLayer.From)]);
        workspace.Cells.Save(SweepCellKey.Baseline(identity), SweepCell.From("", 0, 0, Baseline, Baseline));
        workspace.Cells.Save(SweepCellKey.For(identity, "element", "conv1", 0.25), SweepCell.From("conv1", 0.25, 0.25, Baseline with { Top1 = 0.859375 }, Baseline));

        Succeed(job!);
        Assert.Null(page.ApplyUpdates());

        Assert.Equal(identity, Assert.Single(page.Sweeps).Identity);
        Assert.Equal(identity, page.Sweep!.Identity);
        Assert.NotNull(page.Curves);
        Assert.True(page.Rows.Single(r => r.Name == "conv1").HasCurve);
    }

    [Fact]
    public void JobsRunningWhenThePageOpensAreFollowed()
    {
        var old = scheduler.Add(FakeJobScheduler.Job("old allocation", JobState.Succeeded, kind: PlanAllocationJob.Kind));
        var allocation = scheduler.Add(FakeJobScheduler.Job("allocation", JobState.Running, kind: PlanAllocationJob.Kind));
        var evaluation = scheduler.Add(FakeJobScheduler.Job("evaluation", JobState.Queued, kind: PlanEvaluationJob.Kind));

        using var page = Open();

        Assert.Equal(allocation.Id, page.Allocation!.Id);
        Assert.Equal(evaluation.Id, page.Evaluation!.Id);
        Assert.NotEqual(old.Id, page.Allocation.Id);
    }

    [Fact]
    public void ThePlanFileNamesTheWeightsAndABadPlanHasNone()
    {
        using var page = Open();
        page.SetStageRate("stage1", 0.5);

        var json = page.PlanFileJson()!;
        Assert.Contains(PlanFile.Format, json, StringComparison.Ordinal);
        // The downloaded file is what plan evaluate --plan reads for this model's weights.
        var file = Path.Combine(workspace.Workspace.Root, page.PlanFileName);
        File.WriteAllText(file, json);
        Assert.Equal(0.5, PlanFile.ReadFor(file, ModelZoo.VggTiny, WeightsHash, Layers).Plan.Stage("stage1").Rate);

        page.SetStageMethod("classifier", PruningMethod.FilterL1);
        page.Include("fc"); // the output layer cannot lose filters
        Assert.NotEmpty(page.Problems);
        Assert.Null(page.Prediction);
        Assert.Null(page.PlanFileJson());
        Assert.Equal(2, page.Rows.Count); // the table still shows every layer
    }
}
