using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Jobs;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// The fine-tuning job on a random vgg-tiny and the small synthetic set: a resumed run makes the uninterrupted run's model,
/// the result is a new model with its lineage, a plan for another model and bad settings are refused by name. Serial:
/// weights are compared bit for bit (global generator).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class FineTuneJobTests : IDisposable
{
    private readonly ModelJobTestBench _bench = new();
    private readonly string _parent;
    private readonly CheckpointMetadata _parentMetadata;
    private readonly IReadOnlyList<LayerInfo> _layers;

    public FineTuneJobTests()
    {
        _parent = Path.Combine(_bench.Workspace.Root, "parent.ckpt");
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 7);
        _parentMetadata = Checkpoint.Save(network, _parent, SyntheticDataset.Name, _bench.Catalog.Load(SyntheticDataset.Name).Train.ClassNames);
        _layers = network.Layers;
    }

    public void Dispose() => _bench.Dispose();

    private PruningPlan Plan() => PruningPlan.Default(_layers, PruningMethod.Element).WithStageRate("stage2", 0.6).WithStageRate("stage3", 0.8)
        .WithStageRate("stage1", 0.3).WithStageMethod("stage1", PruningMethod.FilterL1);

    private FineTuneRequest Request(string? output) => new(new CheckpointFile(_parent), Plan(), SyntheticDataset.Name, FineTuneSchedule.Agp,
        Epochs: 3, LearningRate: 2e-3, Seed: 3, BatchSize: 64, TrainingImages: 200, SubsetSize: 100, OutputFile: output);

    private string PathOf(string name) => Path.Combine(_bench.Workspace.Root, name);

    [Fact]
    public void AResumedFineTuningMakesTheUninterruptedRunsModelWithItsLineage()
    {
        var straightFile = PathOf("straight.ckpt");
        var straightProgress = new RecordingProgress();
        var straight = FineTuneJob.Run(Request(straightFile), _bench.Catalog, null, straightProgress, CancellationToken.None,
            TrainingStateSlot.File(straightFile + ".resume", resume: false));
        Assert.False(File.Exists(straightFile + ".resume"));

        // Stopped as epoch 1 is reported (its state is saved before), then continued from the file.
        var file = PathOf("model.ckpt");
        using (var stop = new CancellationTokenSource())
        {
            var stopping = new StoppingProgress(stop);
            Assert.ThrowsAny<OperationCanceledException>(() => FineTuneJob.Run(Request(file), _bench.Catalog, null, stopping, stop.Token,
                TrainingStateSlot.File(file + ".resume", resume: false)));
        }
        Assert.True(File.Exists(file + ".resume"));
        Assert.False(File.Exists(file));
        var progress = new RecordingProgress();
        var resumed = FineTuneJob.Run(Request(file), _bench.Catalog, null, progress, CancellationToken.None, TrainingStateSlot.File(file + ".resume", resume: true));

        Assert.Equal(1, resumed.ResumedFromEpoch);
        Assert.Equal(straight.WeightsHash, resumed.WeightsHash);
        Assert.Equal((straight.Top1After, straight.TestTop1), (resumed.Top1After, resumed.TestTop1));
        Assert.Equal(straight.History.Select(e => e.ValidationTop1), resumed.History.Select(e => e.ValidationTop1));
        Assert.False(File.Exists(file + ".resume"));
        var started = Assert.Single(progress.Partials.OfType<FineTuneStarted>());
        Assert.Equal((1, 1), (started.EpochsDone, started.EarlierEpochs.Count));
        Assert.Equal([2, 3], progress.Partials.OfType<FineTuneEpochFinished>().Select(e => e.Epoch.Epoch));

        // The partials of the uninterrupted run: the reference lines first, then one point per epoch.
        var first = Assert.IsType<FineTuneStarted>(straightProgress.Partials[0]);
        Assert.Equal((straight.DenseTop1, straight.Top1Before), (first.DenseTop1, first.PrunedTop1));
        Assert.Equal(straight.History.Select(e => e.ValidationTop1), straightProgress.Partials.OfType<FineTuneEpochFinished>().Select(e => e.Epoch.ValidationTop1));
        Assert.Equal((double?)straight.Top1After, straight.History[^1].ValidationTop1);

        // The new model: pruned weights at 0 in the file, its parent and plan in its header.
        using var checkpoint = Checkpoint.Load(file);
        var lineage = checkpoint.Metadata.Lineage!;
        Assert.Equal(("fine-tune", _parentMetadata.ContentHash, "agp", 3), (lineage.Operation, lineage.ParentWeightsHash, lineage.Schedule, lineage.Epochs));
        Assert.Equal(straight.PlanHash, lineage.PlanHash);
        Assert.Equal(["stage1.conv1", "stage1.conv2", "stage2.conv1", "stage2.conv2", "stage3.conv1", "stage3.conv2"], lineage.Levels!.Select(l => l.Layer));
        var conv = checkpoint.Model.LayerWeight("stage3.conv2");
        Assert.Equal(PruningRanking.PrunedCount(0.8, (int)conv.numel()), conv.eq(0).sum().item<long>());
        var filters = checkpoint.Model.LayerWeight("stage1.conv1").flatten(1).abs().sum(1);
        Assert.Equal(PruningRanking.PrunedCount(0.3, (int)filters.shape[0]), filters.eq(0).sum().item<long>());
        // The parent is untouched, and a checkpoint without lineage reads as before.
        Assert.Null(Checkpoint.ReadMetadata(_parent).Lineage);
        Assert.Equal(_parentMetadata.ContentHash, Checkpoint.ReadMetadata(_parent).ContentHash);
    }

    [Fact]
    public void TheDashboardsFineTuningStoresANewWorkspaceModelLinkedToItsParentAndPlan()
    {
        var parent = _bench.Store.Import(_parent, new ModelEntry("parent", ModelZoo.VggTiny, SyntheticDataset.Name, null, _parentMetadata.ParameterCount));
        var request = Request(null) with { Model = new StoredModel(parent.Id), Epochs = 1, Schedule = FineTuneSchedule.Fixed };

        var result = FineTuneJob.Run(request, _bench.Catalog, _bench.Store, new RecordingProgress(), CancellationToken.None);

        var stored = _bench.Store.Get(result.ModelId!.Value)!;
        Assert.NotEqual(parent.Id, stored.Id);
        Assert.Equal(result.TestTop1, stored.Top1);
        using var details = JsonDocument.Parse(stored.MetadataJson);
        Assert.Equal("fine-tuned", details.RootElement.GetProperty("source").GetString());
        Assert.Equal(parent.Id, details.RootElement.GetProperty("parentModelId").GetGuid());
        Assert.Equal(_parentMetadata.ContentHash, details.RootElement.GetProperty("lineage").GetProperty("parentWeightsHash").GetString());
        Assert.Equal(result.PlanHash, details.RootElement.GetProperty("lineage").GetProperty("planHash").GetString());
        Assert.Equal("fixed", Checkpoint.ReadMetadata(stored.FilePath).Lineage!.Schedule);
        // The job's JSON result reads back.
        Assert.Equal(result.WeightsHash, FineTuneJobResult.FromJson(ModelJobJson.Write(result)).WeightsHash);
    }

    [Fact]
    public async Task TheDashboardsStarterQueuesTheJobWithParametersThatReadBackAndDropsTheStateOnSuccess()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var states = new TrainingStateStore(harness.Database);
        var jobs = new FineTuneJobs(harness.Scheduler, _bench.Catalog, _bench.Store, states);
        var parent = _bench.Store.Import(_parent, new ModelEntry("parent", ModelZoo.VggTiny, SyntheticDataset.Name, null, _parentMetadata.ParameterCount));
        var request = Request(null) with { Model = new StoredModel(parent.Id), Epochs = 1 };

        var queued = jobs.StartFineTune(request);
        var done = await harness.WaitAsync(queued.Id);

        Assert.True(done.State == JobState.Succeeded, done.Error);
        Assert.Equal((FineTuneJob.Kind, "Fine-tune parent (agp, 1 epoch)"), (done.Kind, done.Title));
        Assert.Equal(request, ModelJobJson.Read<FineTuneRequest>(done.ParametersJson) with { Plan = request.Plan });
        Assert.Equal(PlanContent.Hash(request.Plan.Resolve(_layers)), PlanContent.Hash(ModelJobJson.Read<FineTuneRequest>(done.ParametersJson).Plan.Resolve(_layers)));
        var result = FineTuneJobResult.FromJson(done.ResultJson!);
        Assert.NotNull(_bench.Store.Get(result.ModelId!.Value));
        Assert.False(File.Exists(states.PathOf(done.Id)));
        Assert.Equal($"\"{done.Title}\" is succeeded; only an interrupted or failed fine-tuning can be resumed.",
            Assert.Throws<ArgumentException>(() => jobs.ResumeFineTune(done.Id)).Message);
    }

    [Fact]
    public async Task AFineTuningInterruptedByARestartIsResumedOnTheDashboardToTheUninterruptedRunsModel()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var states = new TrainingStateStore(harness.Database);
        var jobs = new FineTuneJobs(harness.Scheduler, _bench.Catalog, _bench.Store, states);
        var parent = _bench.Store.Import(_parent, new ModelEntry("parent", ModelZoo.VggTiny, SyntheticDataset.Name, null, _parentMetadata.ParameterCount));
        var request = Request(null) with { Model = new StoredModel(parent.Id) };
        var straight = FineTuneJobResult.FromJson((await harness.WaitAsync(jobs.StartFineTune(request).Id)).ResultJson!);

        Task? stopping = null;
        using (harness.Scheduler.Subscribe(update =>
        {
            if (update.Partial is FineTuneEpochFinished { Epoch.Epoch: 1 } && stopping is null) stopping = harness.Scheduler.StopAsync(CancellationToken.None);
        }))
        {
            var interrupted = await harness.WaitAsync(jobs.StartFineTune(request).Id);
            Assert.Equal(JobState.Interrupted, interrupted.State);
            await stopping!.WaitAsync(SchedulerHarness.Timeout);
            Assert.Equal(1, states.Find(interrupted.Id)!.EpochsDone);

            var restarted = harness.CreateScheduler();
            var after = new FineTuneJobs(restarted, _bench.Catalog, _bench.Store, new TrainingStateStore(harness.Database));
            var resumed = after.ResumeFineTune(interrupted.Id);
            Assert.Equal(interrupted.Id, resumed.Links.Resumes);
            await restarted.StartAsync(CancellationToken.None);
            var done = await restarted.WaitAsync(resumed.Id).WaitAsync(SchedulerHarness.Timeout);

            Assert.True(done.State == JobState.Succeeded, done.Error);
            var result = FineTuneJobResult.FromJson(done.ResultJson!);
            Assert.Equal((straight.WeightsHash, 1), (result.WeightsHash, result.ResumedFromEpoch));
            Assert.Empty(Directory.Exists(states.Folder) ? Directory.GetFiles(states.Folder) : []);
            await restarted.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void APlanForAnotherModelIsRefusedNamingWhatDiffers()
    {
        var other = Request(PathOf("x.ckpt")) with { PlanFor = new PlanModel(ModelZoo.VggTiny, new string('a', 64), "other") };
        var e = Assert.Throws<InvalidRequestException>(() => FineTuneJob.Run(other, _bench.Catalog, null, new RecordingProgress(), CancellationToken.None));
        Assert.Equal(nameof(FineTuneRequest.Plan), e.Setting);
        Assert.Equal($"The plan is for other weights of vgg-tiny: its weights hash is aaaaaaaaaaaa…, this model's is {_parentMetadata.ContentHash[..12]}….", e.Message);

        var architecture = Request(PathOf("x.ckpt")) with { PlanFor = new PlanModel(ModelZoo.VggSmall, _parentMetadata.ContentHash) };
        Assert.Equal("The plan is for a vgg-small model, not for this vgg-tiny.",
            Assert.Throws<InvalidRequestException>(() => FineTuneJob.Run(architecture, _bench.Catalog, null, new RecordingProgress(), CancellationToken.None)).Message);

        var nothing = Request(PathOf("x.ckpt")) with { Plan = PruningPlan.Default(_layers, PruningMethod.Element) };
        Assert.Contains("prunes nothing", Assert.Throws<InvalidRequestException>(() => FineTuneJob.Run(nothing, _bench.Catalog, null, new RecordingProgress(), CancellationToken.None)).Message);
        Assert.False(File.Exists(PathOf("x.ckpt")));
    }

    [Theory]
    [InlineData("Epochs", "Epochs must be between 1 and 1000 (got 0).")]
    [InlineData("LearningRate", "The learning rate must be above 0 and at most 1 (got 0).")]
    [InlineData("BatchSize", "The batch size must be between 2 (for BatchNorm) and 4096 (got 1).")]
    [InlineData("TrainingImages", "Training images must be at least 2, or all (got 1).")]
    [InlineData("SubsetSize", "The subset needs at least one image (got 0).")]
    [InlineData("Seed", "The seed must be zero or positive (got -1).")]
    public void ABadSettingIsRefusedByName(string setting, string message)
    {
        var request = Request(null);
        request = setting switch
        {
            "Epochs" => request with { Epochs = 0 },
            "LearningRate" => request with { LearningRate = 0 },
            "BatchSize" => request with { BatchSize = 1 },
            "TrainingImages" => request with { TrainingImages = 1 },
            "SubsetSize" => request with { SubsetSize = 0 },
            _ => request with { Seed = -1 },
        };
        var e = Assert.Throws<InvalidRequestException>(request.Validate);
        Assert.Equal((setting, message), (e.Setting, e.Message));
    }

    [Fact]
    public void AResumeStateOfAnotherPlanIsRefusedNamingBoth()
    {
        var file = PathOf("model.ckpt");
        using (var stop = new CancellationTokenSource())
        {
            Assert.ThrowsAny<OperationCanceledException>(() => FineTuneJob.Run(Request(file), _bench.Catalog, null, new StoppingProgress(stop), stop.Token,
                TrainingStateSlot.File(file + ".resume", resume: false)));
        }
        var other = Request(file) with { Plan = Plan().WithStageRate("stage3", 0.7) };

        var e = Assert.Throws<TrainingStateException>(() => FineTuneJob.Run(other, _bench.Catalog, null, new RecordingProgress(), CancellationToken.None,
            TrainingStateSlot.File(file + ".resume", resume: true)));

        Assert.Contains("it was saved by a run under the pruning masks of plan ", e.Message);
        Assert.Contains("but this run trains under the pruning masks of plan ", e.Message);
        Assert.True(File.Exists(file + ".resume")); // nothing saved is lost
    }

    /// <summary>Cancels the run when epoch 1 is reported (after its state was saved).</summary>
    private sealed class StoppingProgress(CancellationTokenSource stop) : IJobProgress
    {
        public void Report(double fraction, string message)
        {
        }

        public void Publish(JobPartial partial)
        {
            if (partial is FineTuneEpochFinished { Epoch.Epoch: 1 }) stop.Cancel();
        }
    }
}
