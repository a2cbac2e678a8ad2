using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Distillation;

namespace CompressionLab.Tests.Web;

/// <summary>The Distillation page's train section without a renderer: what it queues, its curves from the partials, its result, resumes.</summary>
[Collection(Models.SerialCollection.Name)]
public sealed class DistillationTrainSectionModelTests : IDisposable
{
    private readonly PageWorkspace workspace = new();
    private readonly FakeJobScheduler scheduler = new();
    private readonly DistillationJobs jobs;
    private readonly ModelRecord teacher;

    public DistillationTrainSectionModelTests()
    {
        jobs = new DistillationJobs(scheduler, workspace.Catalog, workspace.Store, new LogitsStore(workspace.Workspace.OpenDatabase()), workspace.States);
        teacher = DistillationPageModelTests.SeedModels(workspace.Store, workspace.Workspace.Root).Teacher;
    }

    public void Dispose() => workspace.Dispose();

    private DistillationTrainSectionModel Open() => new(scheduler, jobs, jobs.Saved, () => { });

    internal static DistillationEpochFinished Epoch(DistillationRun run, int epoch, double top1, double loss, int epochs = 2) =>
        new(run, new EpochSummary(epoch, 1.0 / epoch, 0.5, top1, loss, 3), epochs);

    internal static string ResultJson(Guid id, double top1, double baseline) => ModelJobJson.Write(new DistillationJobResult(id, "vgg-tiny · distilled", ModelZoo.VggTiny,
        "synthetic", ["abc"], "soft+hard T=4 alpha=0.9 t2=on", top1, baseline,
        [new EpochSummary(1, 1, 0.5, 0.5, 1.2, 3), new EpochSummary(2, 0.5, 0.6, 0.625, 1.0, 3)],
        [new EpochSummary(1, 1, 0.5, 0.4, 1.4, 3), new EpochSummary(2, 0.6, 0.6, 0.5, 1.1, 3)],
        2, 1, 1000, 1.5, 10, 9, 21, null, "hash"));

    [Fact]
    public void StartQueuesTheDistillationWithTheSettingsAndTheTeachers()
    {
        using var section = Open();
        section.Loss = DistillationLoss.Soft;
        section.Temperature = 8;
        section.ScaleByT2 = false;
        section.Epochs = 3;
        section.Seed = 5;
        section.TrainingImages = 1000;

        var (job, error) = section.Start([teacher.Id], "synthetic");

        Assert.Null(error);
        Assert.Equal(DistillationJob.Kind, job!.Kind);
        var request = ModelJobJson.Read<DistillationRequest>(job.ParametersJson);
        Assert.Equal(new StoredModel(teacher.Id), Assert.Single(request.Teachers));
        Assert.Equal(new DistillationSettings(DistillationLoss.Soft, 8, 0.9, false), request.Objective);
        Assert.Equal((3, 5, true, 1000, "synthetic", ModelZoo.VggTiny), (request.Epochs!.Value, request.Seed, request.Baseline, request.TrainingImages!.Value, request.Dataset!, request.StudentArchitecture));
        Assert.True(section.IsRunning);
    }

    [Fact]
    public void MutualLearningQueuesNoTeacherAndItsPeerAndMovesTToOne()
    {
        using var section = Open();
        section.Loss = DistillationLoss.Mutual;
        Assert.Equal(1, section.Temperature); // its default, from the other objectives' 4
        Assert.False(section.NeedsTeacher);
        section.PeerArchitecture = ModelZoo.VggSmall;
        section.SavePeer = true;

        // The teachers ticked for the comparison are not part of a mutual-learning run.
        var (job, error) = section.Start([teacher.Id], "synthetic");

        Assert.Null(error);
        Assert.StartsWith("Mutual learning vgg-tiny ⇄ vgg-small", job!.Title, StringComparison.Ordinal);
        var request = ModelJobJson.Read<DistillationRequest>(job.ParametersJson);
        Assert.Empty(request.Teachers);
        Assert.Equal((DistillationLoss.Mutual, 1.0, ModelZoo.VggSmall, true), (request.Objective.Loss, request.Objective.Temperature, request.PeerArchitecture, request.SavePeer));

        using var other = Open();
        other.Loss = DistillationLoss.Mutual;
        other.Loss = DistillationLoss.SoftHard;
        Assert.Equal(4, other.Temperature);
    }

    [Fact]
    public void HintsQueueTheirModeAndEpochsAndTheHintPhaseStaysOffTheCurves()
    {
        using var section = Open();
        section.Loss = DistillationLoss.Hints;
        section.Hints = HintMode.FirstPhase;
        section.HintEpochs = 3;

        var job = section.Start([teacher.Id], "synthetic").Job!;

        var request = ModelJobJson.Read<DistillationRequest>(job.ParametersJson);
        Assert.Equal((DistillationLoss.Hints, HintMode.FirstPhase, 3), (request.Objective.Loss, request.Objective.Hints, request.Objective.HintEpochs));
        var running = job with { State = JobState.Running };
        scheduler.Publish(running, Epoch(DistillationRun.HintPhase, 1, 0.2, 2.0));
        scheduler.Publish(running, Epoch(DistillationRun.Distilled, 1, 0.5, 1.2));
        section.ApplyUpdates();
        Assert.Equal([1], section.Distilled.Select(e => e.Epoch));
        Assert.Equal(0.5, section.Distilled[0].ValidationTop1);
        Assert.Empty(section.BaselineEpochs);
    }

    [Fact]
    public void AnAlphaAboveOneIsRefusedBesideItsFieldAndNothingIsQueued()
    {
        using var section = Open();
        section.Alpha = 1.5;

        var (job, error) = section.Start([teacher.Id], "synthetic");

        Assert.Null(job);
        Assert.Contains("between 0 and 1", error);
        Assert.Contains("between 0 and 1", section.SettingErrors[nameof(DistillationSettings.Alpha)]);
        Assert.Empty(scheduler.List());
    }

    [Fact]
    public void EpochPartialsDrawTheDistilledAndBaselineCurvesAndTheResultCompletesThem()
    {
        using var section = Open();
        var job = section.Start([teacher.Id], "synthetic").Job!;
        var running = job with { State = JobState.Running };
        scheduler.Publish(running, Epoch(DistillationRun.Distilled, 1, 0.5, 1.2));
        scheduler.Publish(running, Epoch(DistillationRun.Distilled, 2, 0.625, 1.0));
        scheduler.Publish(running, Epoch(DistillationRun.Baseline, 1, 0.4, 1.4));

        section.ApplyUpdates();

        Assert.Equal([1.0, 2.0], section.Top1Chart[0].X);
        Assert.Equal([50.0, 62.5], section.Top1Chart[0].Y);
        Assert.Equal([40.0], section.Top1Chart[1].Y);
        Assert.Equal([1.2, 1.0], section.LossChart[0].Y);
        Assert.Equal("baseline (no teacher)", section.Top1Chart[1].Name);

        var id = Guid.NewGuid();
        scheduler.Publish(running with { State = JobState.Succeeded, Fraction = 1, ResultJson = ResultJson(id, 0.9, 0.85) });
        var (error, stored) = section.ApplyUpdates();

        Assert.Null(error);
        Assert.True(stored);
        Assert.Equal(id, section.Result!.ModelId);
        Assert.Equal([40.0, 50.0], section.Top1Chart[1].Y);
        Assert.Equal("test top-1 90.00 % against 85.00 % without a teacher (+5.00 pts)", DistillationTrainSectionModel.Describe(section.Result));
    }

    [Fact]
    public void AnInterruptedDistillationWithoutSavedEpochsIsNotOfferedForResume()
    {
        var interrupted = scheduler.Add(FakeJobScheduler.Job("Distil vgg-tiny", JobState.Interrupted, kind: DistillationJob.Kind));
        using var section = Open();
        Assert.Empty(section.Resumable);
        var (job, error) = section.Resume(interrupted);
        Assert.Null(job);
        Assert.Contains("nothing was saved", error);
    }

    [Fact]
    public async Task ADistillationThatFailedAfterItsFirstEpochIsResumedFromItAndFinishes()
    {
        using var section = Open();
        section.StudentArchitecture = ModelZoo.Lenet300100;
        section.Epochs = 2;
        section.TrainingImages = 200;
        section.Baseline = false;
        var job = section.Start([teacher.Id], "synthetic").Job!;
        // The first finished epoch (its state already saved) makes the job fail, as a full disk would.
        using (scheduler.Subscribe(update =>
        {
            if (update.Partial is DistillationEpochFinished { Run: DistillationRun.Distilled, Epoch.Epoch: 1 }) throw new IOException("disk full");
        }))
        {
            var failed = await scheduler.RunAsync(job.Id);
            Assert.Equal(JobState.Failed, failed.State);
        }
        section.ApplyUpdates();
        var (interrupted, saved) = Assert.Single(section.Resumable);
        Assert.Equal(job.Id, interrupted.Id);
        Assert.Equal((1, 2), (saved.EpochsDone, saved.Epochs));

        var (resumed, error) = section.Resume(interrupted);

        Assert.Null(error);
        Assert.Equal(job.Id, resumed!.Links.Resumes);
        Assert.Empty(section.Resumable);
        var final = await scheduler.RunAsync(resumed.Id);
        Assert.Equal(JobState.Succeeded, final.State);
        section.ApplyUpdates();
        Assert.Equal(1, section.Result!.ResumedFromEpoch);
        Assert.Equal([1, 2], section.Result.History.Select(e => e.Epoch));
        var model = Assert.Single(workspace.Store.List(), m => m.Id == section.Result.ModelId);
        Assert.Contains("distilled", model.DisplayName);
        Assert.Contains("\"teacherNames\":[\"teacher\"]", model.MetadataJson); // the model records its teacher
        Assert.Null(workspace.States.Find(job.Id)); // the resumed run released the saved state
    }
}
