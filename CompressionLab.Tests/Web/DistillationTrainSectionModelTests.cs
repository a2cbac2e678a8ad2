using CompressionLab.Core.Data;
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

        // A lenet-5 teacher: hints need a stage it shares with the vgg-tiny student (the lenet-300-100 has none and is refused).
        var job = section.Start([ImportLenet5().Id], "synthetic").Job!;

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

    /// <summary>A random lenet-5 for the synthetic dataset: its stage1 maps are 14×14 like vgg-tiny's (6 against 8 channels); its stage2 maps are 5×5, vgg-tiny's 7×7.</summary>
    private ModelRecord ImportLenet5()
    {
        using var network = Pruning.PruningTestModels.RandomZooModel(ModelZoo.Lenet5, 13);
        var file = Path.Combine(workspace.Workspace.Root, "lenet5.ckpt");
        Checkpoint.Save(network, file, SyntheticDataset.Name, SyntheticDataset.ClassNames, 0.7);
        return CheckpointImport.Import(workspace.Store, file, "lenet5").Model;
    }

    [Fact]
    public void HintStagesDataDistillationAndTheStartModelGoIntoTheRequest()
    {
        var lenet5 = ImportLenet5();
        using var section = Open();
        section.Loss = DistillationLoss.Hints;
        section.HintStagesText = " stage1 ";
        section.AverageOverFlips = true;

        // vgg-tiny's stage1 ends 8×14×14 (two padded 3×3 convs, one 2×2 pool), lenet-5's 6×14×14 (padded 5×5, pool); stage2 7×7 against 5×5.
        Assert.Equal("Shared: stage1 14×14 (8 → 6 channels)", section.HintStagesAvailable([lenet5.Id]));
        Assert.Null(section.HintStagesAvailable([lenet5.Id, teacher.Id])); // an ensemble has no hints
        var (job, error) = section.Start([lenet5.Id], "synthetic");

        Assert.Null(error);
        var request = ModelJobJson.Read<DistillationRequest>(job!.ParametersJson);
        Assert.Equal(["stage1"], request.Objective.HintStages!);
        Assert.True(request.Objective.AverageOverFlips);
        Assert.Null(request.StudentStart);
        Assert.Null(request.PeerSeed);

        scheduler.Add(job with { State = JobState.Succeeded }); // finished, so a section opened now follows none
        using var fromModel = Open();
        fromModel.Loss = DistillationLoss.SoftHard;
        fromModel.HintStagesText = "stage1"; // a hints setting left on the page stays out of another objective's request
        fromModel.SetStudentStart(lenet5);
        Assert.Equal(ModelZoo.Lenet5, fromModel.StudentArchitecture);
        var second = ModelJobJson.Read<DistillationRequest>(fromModel.Start([teacher.Id], "synthetic").Job!.ParametersJson);
        Assert.Equal((new StoredModel(lenet5.Id), ModelZoo.Lenet5), (second.StudentStart, second.StudentArchitecture));
        Assert.Null(second.Objective.HintStages);
    }

    [Fact]
    public void BadHintStagesAreRefusedBesideTheirFieldAndNothingIsQueued()
    {
        var lenet5 = ImportLenet5();
        using var section = Open();
        section.Loss = DistillationLoss.Hints;

        // An empty name between commas: the request's own check.
        section.HintStagesText = "stage1,,stage2";
        Assert.Null(section.Start([lenet5.Id], "synthetic").Job);
        Assert.Contains("Name the stages to hint", section.ErrorOf(nameof(DistillationSettings.HintStages)));

        // A stage the two networks do not share: refused before queueing, naming both networks' stages.
        section.HintStagesText = "stage2";
        var (job, error) = section.Start([lenet5.Id], "synthetic");
        Assert.Null(job);
        Assert.Contains("Stage 'stage2' cannot be hinted", error);
        Assert.Contains("the teacher lenet-5 has stage1 6×14×14, stage2 16×5×5", section.ErrorOf(nameof(DistillationSettings.HintStages)));
        Assert.Empty(section.OtherErrors); // shown in place, not again under the fields
        section.HintStagesText = "stage1";
        Assert.Null(section.ErrorOf(nameof(DistillationSettings.HintStages))); // an edit takes the refusal of the old text away

        // A lenet-300-100 teacher has no stage with maps at all.
        section.HintStagesText = "";
        Assert.Null(section.Start([teacher.Id], "synthetic").Job);
        Assert.Contains("No stage to hint", section.ErrorOf(nameof(DistillationSettings.HintStages)));
        Assert.StartsWith("No stage to hint", section.HintStagesAvailable([teacher.Id]), StringComparison.Ordinal);

        section.HintStagesText = "stage1";
        section.HintWeight = 0;
        Assert.Null(section.Start([lenet5.Id], "synthetic").Job);
        Assert.Contains("above 0", section.ErrorOf(nameof(DistillationSettings.HintWeight)));
        Assert.Null(section.ErrorOf(nameof(DistillationSettings.HintStages)));
        Assert.Empty(scheduler.List());
    }

    [Fact]
    public void MutualLearningQueuesThePeerSeedAndRefusesANegativeOneBesideItsField()
    {
        using var section = Open();
        section.Loss = DistillationLoss.Mutual;
        section.AverageOverFlips = true; // left on the page from another objective: not part of a mutual run, which would refuse it
        section.PeerSeed = -1;

        var (job, error) = section.Start([teacher.Id], "synthetic");

        Assert.Null(job);
        Assert.Contains("zero or positive", error);
        Assert.Contains("zero or positive", section.ErrorOf(nameof(DistillationRequest.PeerSeed)));
        Assert.Empty(section.OtherErrors);

        section.PeerSeed = 7;
        var request = ModelJobJson.Read<DistillationRequest>(section.Start([teacher.Id], "synthetic").Job!.ParametersJson);
        Assert.Equal((7, 7), (request.PeerSeed!.Value, request.ResolvedPeerSeed));
        Assert.False(request.Objective.AverageOverFlips);
        Assert.Null(section.ErrorOf(nameof(DistillationRequest.PeerSeed)));
    }

    [Fact]
    public void TheTeachersADistilledModelRecordsAreReadFromItsMetadata()
    {
        ModelRecord With(string json) => new(Guid.NewGuid(), "m", ModelZoo.VggTiny, "synthetic", 0.5, 1, "h", "f", DateTimeOffset.UnixEpoch, json);

        Assert.Equal(["vgg-small a", "vgg-small b"], DistillationTrainSectionModel.TeacherNames(With("""{"source":"distilled","teacherNames":["vgg-small a","vgg-small b"]}""")));
        Assert.Empty(DistillationTrainSectionModel.TeacherNames(With("""{"source":"trained"}""")));
        Assert.Empty(DistillationTrainSectionModel.TeacherNames(With("not json")));
        Assert.Equal("vgg-tiny · seed 3", DistillationTrainSectionModel.StartedFrom(With("""{"startedFrom":"vgg-tiny · seed 3"}""")));
        Assert.Null(DistillationTrainSectionModel.StartedFrom(With("""{"startedFrom":null}""")));
    }

    [Fact]
    public void ABaselineAnEarlierRunTrainedIsShownAgainInsteadOfBeingRetrained()
    {
        // An earlier soft+hard run of vgg-tiny, 2 epochs, seed 1, all images, with its baseline (85 % test top-1).
        var earlierRequest = new DistillationRequest([new StoredModel(teacher.Id)], ModelZoo.VggTiny, new DistillationSettings(DistillationLoss.SoftHard), "synthetic", 2, 1, Baseline: true);
        scheduler.Add(FakeJobScheduler.Job("Distil vgg-tiny (earlier)", JobState.Succeeded, kind: DistillationJob.Kind) with
        {
            ParametersJson = ModelJobJson.Write(earlierRequest),
            ResultJson = ResultJson(Guid.NewGuid(), 0.9, 0.85),
        });
        using var section = Open();
        section.Loss = DistillationLoss.Soft; // another objective, teacher and T: the baseline does not depend on them
        section.Temperature = 8;
        section.Epochs = 2;

        var job = section.Start([teacher.Id], "synthetic").Job!;

        Assert.False(ModelJobJson.Read<DistillationRequest>(job.ParametersJson).Baseline); // not trained again
        Assert.Equal([1, 2], section.BaselineEpochs.Select(e => e.Epoch));
        Assert.Equal([40.0, 50.0], section.Top1Chart[1].Y); // the earlier baseline's curve (ResultJson's)
        Assert.Equal("baseline (no teacher, earlier run)", section.Top1Chart[1].Name);
        var running = job with { State = JobState.Running };
        scheduler.Publish(running, Epoch(DistillationRun.Distilled, 1, 0.5, 1.2));
        var id = Guid.NewGuid();
        var result = ModelJobJson.Read<DistillationJobResult>(ResultJson(id, 0.9, 0)) with { BaselineTop1 = null, BaselineHistory = null };
        scheduler.Publish(running with { State = JobState.Succeeded, Fraction = 1, ResultJson = ModelJobJson.Write(result) });
        section.ApplyUpdates();
        Assert.Equal([40.0, 50.0], section.Top1Chart[1].Y);
        Assert.Equal("test top-1 90.00 % against 85.00 % without a teacher (+5.00 pts) (the baseline of \"Distil vgg-tiny (earlier)\", the same student without a teacher)", section.ResultLine);

        // Another seed (or epochs, training images, start model) is another baseline: trained with the run.
        scheduler.Add(running with { State = JobState.Succeeded, ResultJson = ModelJobJson.Write(result) });
        using var other = Open();
        other.Epochs = 2;
        other.Seed = 2;
        var second = other.Start([teacher.Id], "synthetic").Job!;
        Assert.True(ModelJobJson.Read<DistillationRequest>(second.ParametersJson).Baseline);
        Assert.Empty(other.BaselineEpochs);
        Assert.Equal("baseline (no teacher)", other.Top1Chart[1].Name);
    }
}
