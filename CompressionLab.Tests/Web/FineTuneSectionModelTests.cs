using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Pruning;
using CompressionLab.Web.Components.Pages.Pruning;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Pruning plan page's fine-tune section without a renderer: a real temporary workspace with PruningPageModelTests'
/// tiny model, the fake scheduler playing the worker (it publishes the partials a fine-tuning would).
/// </summary>
public sealed class FineTuneSectionModelTests : IDisposable
{
    private readonly PageWorkspace workspace = new();
    private readonly FakeJobScheduler scheduler = new();
    private readonly FineTuneJobs fineTunes;
    private readonly ModelRecord model;
    private readonly Dictionary<Guid, SavedTraining> saved = [];

    public FineTuneSectionModelTests()
    {
        fineTunes = new FineTuneJobs(scheduler, workspace.Catalog, workspace.Store, workspace.States);
        model = PruningPageModelTests.Seed(workspace);
    }

    public void Dispose() => workspace.Dispose();

    /// <summary>conv1 at 0.5 by element, fc excluded (the default plan with stage1 moved).</summary>
    internal static PruningPlan Plan() => PruningPlan.Default(PruningPageModelTests.Layers, PruningMethod.Element).WithStageRate("stage1", 0.5);

    private FineTuneSectionModel Open() => new(scheduler, fineTunes, job => saved.GetValueOrDefault(job.Id), () => { });

    /// <summary>The first partial a fine-tuning of <see cref="Plan"/> publishes: dense 0.875 and pruned 0.8125 on 64 images.</summary>
    internal static FineTuneStarted Started(int epochs, IReadOnlyList<EpochSummary>? earlier = null)
    {
        var graph = PlanPredictionTests.TinyCnn();
        var resolved = Plan().Resolve(PruningPageModelTests.Layers);
        return new FineTuneStarted("tiny", ModelZoo.VggTiny, "synthetic", resolved, "planhash", PlanSize.Dense(graph), PlanSize.Of(graph, resolved.Layers),
            "fixed masks", 128, 64, TrainingSettings.ForArchitecture(ModelZoo.VggTiny) with { Epochs = epochs }, 0.875, 0.8125,
            earlier?.Count ?? 0, earlier ?? [], null, null);
    }

    internal static FineTuneEpochFinished Epoch(int epoch, int epochs, double top1) =>
        new(new EpochSummary(epoch, 0.5, 0.8, top1, 0.4, 1), epochs, [new PlanLevel("conv1", 0.5, "element")]);

    internal static string ResultJson(Guid modelId, params double[] top1s) => ModelJobJson.Write(new FineTuneJobResult(
        modelId, "tiny · pruned 21.4% · fixed 2 ep", ModelZoo.VggTiny, "synthetic", 0.8125, top1s[^1], 0.875, 0.86, 0.214, 81, 500, 99, 624, "fixed",
        top1s.Length, 1e-3, 128, 64, 3.5, "newhash", "tinyweights", "planhash",
        [.. top1s.Select((t, i) => new EpochSummary(i + 1, 0.5, 0.8, t, 0.4, 1))]));

    [Fact]
    public void OutOfRangeSettingsAreRefusedInPlaceWithTheRequestsMessageAndNothingIsQueued()
    {
        using var section = Open();
        section.Epochs = 0;

        var (job, error) = section.Start(model, Plan(), [], null, 64);

        Assert.Null(job);
        Assert.Empty(scheduler.List());
        Assert.Equal($"Epochs must be between 1 and {TrainingRequest.MaxEpochs} (got 0).", section.SettingErrors[nameof(FineTuneRequest.Epochs)]);
        Assert.Equal(section.SettingErrors[nameof(FineTuneRequest.Epochs)], error);

        section.Epochs = 1;
        section.LearningRate = 2;
        section.Start(model, Plan(), [], null, 64);
        Assert.Equal([nameof(FineTuneRequest.LearningRate)], section.SettingErrors.Keys);
        Assert.Contains("at most 1 (got 2)", section.SettingErrors[nameof(FineTuneRequest.LearningRate)], StringComparison.Ordinal);

        section.LearningRate = 1e-3;
        Assert.NotNull(section.Start(model, Plan(), [], null, 64).Job);
        Assert.Empty(section.SettingErrors);
    }

    [Fact]
    public void StartQueuesTheRequestWithTheSettingsAndThePlanEvaluationsImages()
    {
        using var section = Open();
        section.Schedule = FineTuneSchedule.Agp;
        section.Epochs = 3;
        section.LearningRate = 5e-4;
        section.TrainingImages = 500;

        var (job, _) = section.Start(model, Plan(), [], null, 64);

        Assert.Equal(FineTuneJob.Kind, job!.Kind);
        var request = ModelJobJson.Read<FineTuneRequest>(job.ParametersJson);
        Assert.Equal((FineTuneSchedule.Agp, 3, 5e-4, 500, 64), (request.Schedule, request.Epochs, request.LearningRate, request.TrainingImages, request.SubsetSize));
        Assert.Equal(0.5, request.Plan.Stages.Single(s => s.Name == "stage1").Rate);
        Assert.True(section.IsRunning);
        Assert.Equal("A fine-tuning is already running; wait for it or cancel it.", section.Start(model, Plan(), [], null, 64).Error);
    }

    [Fact]
    public void APlanWithProblemsIsNotStarted()
    {
        using var section = Open();
        var (job, error) = section.Start(model, Plan(), [new PlanProblem("conv1", "conv1: level must be below 1.")], null, 64);
        Assert.Null(job);
        Assert.Equal("Fix the plan first: conv1: level must be below 1.", error);
    }

    [Fact]
    public void PartialsDrawTheRecoveryCurveBetweenTheReferenceLinesAndTheResultNamesTheNewModel()
    {
        using var section = Open();
        var job = section.Start(model, Plan(), [], null, 64).Job!;
        var running = job with { State = JobState.Running };

        scheduler.Publish(running, Started(2));
        scheduler.Publish(running, Epoch(1, 2, 0.84375));
        section.ApplyUpdates();

        var chart = section.Chart;
        var dense = chart.Single(l => l.Name == "dense model");
        Assert.Equal([0.0, 2.0], dense.X);
        Assert.Equal([87.5, 87.5], dense.Y);
        var pruned = chart.Single(l => l.Name == "pruned, not fine-tuned");
        Assert.Equal([81.25, 81.25], pruned.Y);
        var curve = chart.Single(l => l.Name == "fine-tuned (validation)");
        // Fixed masks start from the pruned model: the curve begins there at epoch 0.
        Assert.Equal([0.0, 1.0], curve.X);
        Assert.Equal([81.25, 84.375], curve.Y);
        Assert.Null(section.Result);

        var id = Guid.NewGuid();
        scheduler.Publish(running, Epoch(2, 2, 0.859375));
        scheduler.Publish(running with { State = JobState.Succeeded, Fraction = 1, ResultJson = ResultJson(id, 0.84375, 0.859375) });
        var (error, stored) = section.ApplyUpdates();

        Assert.Null(error);
        Assert.True(stored);
        Assert.Equal(id, section.Result!.ModelId);
        Assert.Equal([new RecoveryPoint(1, 0.84375), new RecoveryPoint(2, 0.859375)], section.Points);
        Assert.Equal([81.25, 84.375, 85.9375], section.Chart.Single(l => l.Name == "fine-tuned (validation)").Y);
        Assert.Equal("validation top-1 81.25 % → 85.94 % (dense 87.50 %), test 86.00 %", FineTuneSectionModel.Describe(section.Result));
        Assert.False(section.IsRunning);
    }

    [Fact]
    public void AnAgpCurveStartsFromTheDenseModel()
    {
        using var section = Open();
        section.Schedule = FineTuneSchedule.Agp;
        var job = section.Start(model, Plan(), [], null, 64).Job! with { State = JobState.Running };
        scheduler.Publish(job, Started(2));
        scheduler.Publish(job, Epoch(1, 2, 0.85));
        section.ApplyUpdates();
        Assert.Equal([87.5, 85.0], section.Chart.Single(l => l.Name == "fine-tuned (validation)").Y);
    }

    [Fact]
    public void AResumedRunContinuesTheCurveFromItsEarlierEpochs()
    {
        using var section = Open();
        var job = section.Start(model, Plan(), [], null, 64).Job! with { State = JobState.Running };
        scheduler.Publish(job, Started(3, [new EpochSummary(1, 0.5, 0.8, 0.83, 0.4, 1)]));
        scheduler.Publish(job, Epoch(2, 3, 0.85));
        section.ApplyUpdates();
        Assert.Equal([new RecoveryPoint(1, 0.83), new RecoveryPoint(2, 0.85)], section.Points);
        Assert.Equal([0.0, 3.0], section.Chart.Single(l => l.Name == "dense model").X);
        Assert.Equal([0.0, 1.0, 2.0], section.Chart.Single(l => l.Name == "fine-tuned (validation)").X);
    }

    [Fact]
    public void AFineTuningRunningWhenThePageOpensIsFollowedAndOtherKindsAreNot()
    {
        var running = scheduler.Add(FakeJobScheduler.Job("Fine-tune tiny", JobState.Running, 0.3, kind: FineTuneJob.Kind));
        scheduler.Add(FakeJobScheduler.Job("Train", JobState.Running, 0.3));

        using var section = Open();

        Assert.Equal(running.Id, section.Job!.Id);
        scheduler.Publish(running with { Fraction = 0.6 }, Epoch(1, 2, 0.8));
        section.ApplyUpdates();
        Assert.Equal(0.6, section.Job.Fraction);
        Assert.Equal([new RecoveryPoint(1, 0.8)], section.Points);
    }

    [Fact]
    public void InterruptedFineTuningsWithSavedEpochsAreOfferedForResumeUntilAJobResumesThem()
    {
        var interrupted = scheduler.Add(FakeJobScheduler.Job("Fine-tune tiny", JobState.Interrupted, 0.5, kind: FineTuneJob.Kind));
        var nothingSaved = scheduler.Add(FakeJobScheduler.Job("Fine-tune tiny", JobState.Interrupted, 0.1, kind: FineTuneJob.Kind));
        var damaged = scheduler.Add(FakeJobScheduler.Job("Fine-tune tiny", JobState.Failed, 0.1, kind: FineTuneJob.Kind));
        saved[interrupted.Id] = new SavedTraining(interrupted.Id, 1, 2);
        saved[damaged.Id] = new SavedTraining(damaged.Id, 0, 0, "damaged");

        using var section = Open();
        var (job, offered) = Assert.Single(section.Resumable);
        Assert.Equal((interrupted.Id, 1), (job.Id, offered.EpochsDone));

        scheduler.Publish(FakeJobScheduler.Job("Fine-tune tiny (resumed)", JobState.Queued, kind: FineTuneJob.Kind) with { Links = new JobLinks(Resumes: interrupted.Id) });
        section.ApplyUpdates();
        Assert.Empty(section.Resumable);
        Assert.NotEqual(nothingSaved.Id, section.Job?.Id);
    }

    [Fact]
    public void SavedReadsOnlyInterruptedFineTuningsThatSavedAnEpoch()
    {
        var interrupted = FakeJobScheduler.Job("Fine-tune", JobState.Interrupted, kind: FineTuneJob.Kind);
        Assert.Null(fineTunes.Saved(interrupted)); // no state file
        Assert.Null(fineTunes.Saved(interrupted with { Kind = TrainingJob.Kind }));
        Assert.Null(fineTunes.Saved(interrupted with { State = JobState.Cancelled }));
    }
}
