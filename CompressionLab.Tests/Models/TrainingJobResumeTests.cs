using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Jobs;

namespace CompressionLab.Tests.Models;

/// <summary>
/// A dashboard training interrupted by a restart keeps its finished epochs and can be resumed to the model an
/// uninterrupted run stores. Serial: the weights must match bit for bit, so no parallel test may draw from the global generator.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class TrainingJobResumeTests : IDisposable
{
    // vgg-tiny: BatchNorm buffers, flips and dropout all have to survive the restart.
    private static readonly TrainingRequest Request = new(ModelZoo.VggTiny, SyntheticDataset.Name, Epochs: 3, Seed: 2, TrainingImages: 200);

    private readonly ModelJobTestBench _bench = new();

    public void Dispose() => _bench.Dispose();

    private ModelJobs Jobs(IJobScheduler scheduler, TrainingStateStore states) =>
        new(scheduler, _bench.Catalog, _bench.Store, new DatasetDownloader(_bench.Options, new HttpClient()), states);

    [Fact]
    public async Task ATrainingInterruptedByARestartIsResumedToTheWeightsOfAnUninterruptedRun()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var states = new TrainingStateStore(harness.Database);
        var jobs = Jobs(harness.Scheduler, states);

        var straight = await harness.WaitAsync(jobs.StartTraining(Request).Id);
        Assert.True(straight.State == JobState.Succeeded, straight.Error);
        var expected = Stored(straight);
        Assert.Empty(Files(states)); // a finished training leaves no state behind

        // The app stops (as a restart does) right after the first epoch was saved.
        Task? stopping = null;
        var savedWhenStopped = false;
        using (harness.Scheduler.Subscribe(update =>
        {
            if (update.Partial is TrainingEpochFinished { Epoch.Epoch: 1 } && stopping is null)
            {
                savedWhenStopped = File.Exists(states.PathOf(update.Job.Id));
                stopping = harness.Scheduler.StopAsync(CancellationToken.None);
            }
        }))
        {
            var interrupted = await harness.WaitAsync(jobs.StartTraining(Request).Id);
            Assert.Equal((JobState.Interrupted, JobStore.StoppedWhileRunning), (interrupted.State, interrupted.Error));
            await stopping!.WaitAsync(SchedulerHarness.Timeout);
            Assert.True(savedWhenStopped);
            Assert.Equal(new SavedTraining(interrupted.Id, 1, 3), jobs.SavedTraining(interrupted));

            // The restarted app: a new scheduler over the same workspace, not started yet so the resumed job waits.
            var restarted = harness.CreateScheduler();
            var after = Jobs(restarted, new TrainingStateStore(harness.Database));
            var shown = restarted.Get(interrupted.Id)!;
            Assert.Equal(JobState.Interrupted, shown.State);
            Assert.Equal(new SavedTraining(interrupted.Id, 1, 3), after.SavedTraining(shown));

            var resumed = after.ResumeTraining(interrupted.Id);

            Assert.Equal(("Train vgg-tiny on synthetic (resumed)", interrupted.Id), (resumed.Title, resumed.Links.Resumes));
            Assert.Equal(Request, ModelJobJson.Read<TrainingRequest>(resumed.ParametersJson));
            Assert.Contains("already being resumed", Assert.Throws<InvalidOperationException>(() => after.ResumeTraining(interrupted.Id)).Message);
            Assert.Equal($"\"{straight.Title}\" is succeeded; only an interrupted or failed training can be resumed.",
                Assert.Throws<ArgumentException>(() => after.ResumeTraining(straight.Id)).Message);

            using var log = new UpdateLog(restarted);
            await restarted.StartAsync(CancellationToken.None);
            var done = await restarted.WaitAsync(resumed.Id).WaitAsync(SchedulerHarness.Timeout);

            Assert.True(done.State == JobState.Succeeded, done.Error);
            var messages = log.Of(resumed.Id).Select(u => u.Job.Message).ToList();
            // 200 images in batches of 128: two batches an epoch.
            Assert.Contains(messages, m => m.StartsWith("epoch 2/3 · batch 1/2 · ", StringComparison.Ordinal) && m.EndsWith(" · resumed after epoch 1/3", StringComparison.Ordinal));
            Assert.DoesNotContain(messages, m => m.StartsWith("epoch 1/", StringComparison.Ordinal));
            Assert.Equal([2, 3], log.Of(resumed.Id).Select(u => u.Partial).OfType<TrainingEpochFinished>().Select(e => e.Epoch.Epoch));
            // The bar shows this job's own share of the run (so the ETA follows its pace): after 1 of its 4 batches, a quarter
            // of the training share (0.96) of the bar.
            var first = log.Of(resumed.Id).First(u => u.Job.Message.StartsWith("epoch 2/3 · batch 1/2", StringComparison.Ordinal));
            Assert.Equal(0.24, first.Job.Fraction, tolerance: 1e-12);

            var result = Stored(done);
            Assert.Equal(expected.WeightsHash, result.WeightsHash);
            Assert.Equal(expected.Top1, result.Top1);
            Assert.Equal(1, result.ResumedFrom);
            Assert.Empty(Files(states)); // the state moved to the resumed job and went with its stored model
            Assert.Null(after.SavedTraining(restarted.Get(interrupted.Id)!));
        }
    }

    [Fact]
    public async Task ACancelledTrainingDeletesItsSavedEpochsAndStoresNothing()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var states = new TrainingStateStore(harness.Database);
        var jobs = Jobs(harness.Scheduler, states);
        var saved = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = harness.Scheduler.Subscribe(update =>
        {
            if (update.Partial is TrainingEpochFinished && File.Exists(states.PathOf(update.Job.Id))) saved.TrySetResult(update.Job.Id);
        });

        var job = jobs.StartTraining(Request with { Epochs = 500 });
        Assert.Equal(job.Id, await saved.Task.WaitAsync(SchedulerHarness.Timeout));
        Assert.True(harness.Scheduler.Cancel(job.Id));

        Assert.Equal(JobState.Cancelled, (await harness.WaitAsync(job.Id)).State);
        Assert.Empty(Files(states));
        Assert.Empty(_bench.Store.List());
        Assert.Equal($"\"{job.Title}\" is cancelled; only an interrupted or failed training can be resumed.",
            Assert.Throws<ArgumentException>(() => jobs.ResumeTraining(job.Id)).Message);
    }

    [Fact]
    public async Task AnInterruptedTrainingWithoutASavedEpochOrWithADamagedStateIsNotResumed()
    {
        await using var harness = new SchedulerHarness();
        var states = new TrainingStateStore(harness.Database);
        var jobs = Jobs(harness.Scheduler, states);
        var job = jobs.StartTraining(Request);
        await harness.Scheduler.StopAsync(CancellationToken.None); // never started: interrupted before its first epoch
        var interrupted = harness.Scheduler.Get(job.Id)!;
        Assert.Equal(JobState.Interrupted, interrupted.State);

        Assert.Null(jobs.SavedTraining(interrupted));
        Assert.Equal($"\"{job.Title}\" stopped before it finished an epoch, so nothing was saved to resume; start it again.",
            Assert.Throws<ArgumentException>(() => jobs.ResumeTraining(job.Id)).Message);

        Directory.CreateDirectory(states.Folder);
        File.WriteAllText(states.PathOf(job.Id), "CLABTRST and then nothing sensible");
        var damaged = jobs.SavedTraining(interrupted)!;
        Assert.False(damaged.CanResume);
        Assert.Contains(states.PathOf(job.Id), damaged.Problem);
        Assert.StartsWith($"\"{job.Title}\" cannot be resumed: Training state {states.PathOf(job.Id)}: ",
            Assert.Throws<ArgumentException>(() => jobs.ResumeTraining(job.Id)).Message);
    }

    [Fact]
    public async Task ATrainingThatFailsToStoreItsModelKeepsItsEpochsAndIsResumedToTheUninterruptedWeights()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var states = new TrainingStateStore(harness.Database);
        var jobs = Jobs(harness.Scheduler, states);
        var straight = await harness.WaitAsync(jobs.StartTraining(Request).Id);
        Assert.True(straight.State == JobState.Succeeded, straight.Error);
        var expected = Stored(straight);

        // The models folder turns into a file once training is under way, as a full or broken disk would fail the store.
        var moved = _bench.Store.ModelsFolder + ".away";
        using (harness.Scheduler.Subscribe(update =>
        {
            if (update.Partial is TrainingEpochFinished { Epoch.Epoch: 1 } && !Directory.Exists(moved))
            {
                Directory.Move(_bench.Store.ModelsFolder, moved);
                File.WriteAllText(_bench.Store.ModelsFolder, "not a folder");
            }
        }))
        {
            var failed = await harness.WaitAsync(jobs.StartTraining(Request).Id);
            Assert.Equal(JobState.Failed, failed.State);
            Assert.Equal(new SavedTraining(failed.Id, 3, 3), jobs.SavedTraining(failed)); // all three epochs kept

            File.Delete(_bench.Store.ModelsFolder);
            Directory.Move(moved, _bench.Store.ModelsFolder);
            var done = await harness.WaitAsync(jobs.ResumeTraining(failed.Id).Id);

            Assert.True(done.State == JobState.Succeeded, done.Error);
            var result = Stored(done);
            Assert.Equal((expected.WeightsHash, expected.Top1, (int?)3), (result.WeightsHash, result.Top1, result.ResumedFrom));
            Assert.Empty(Files(states));
        }
    }

    private (string WeightsHash, double? Top1, int? ResumedFrom) Stored(JobSnapshot job)
    {
        var result = ModelJobJson.Read<TrainingJobResult>(job.ResultJson!);
        var record = _bench.Store.Get(result.ModelId!.Value)!;
        using var details = JsonDocument.Parse(record.MetadataJson);
        var resumed = details.RootElement.GetProperty("resumedFromEpoch");
        return (details.RootElement.GetProperty("weightsHash").GetString()!, record.Top1,
            resumed.ValueKind == JsonValueKind.Null ? null : resumed.GetInt32());
    }

    private static string[] Files(TrainingStateStore states) =>
        Directory.Exists(states.Folder) ? Directory.GetFiles(states.Folder) : [];
}
