using System.Collections.Concurrent;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Jobs;

namespace CompressionLab.Tests.Models;

public sealed class StarterPairEstimateJobTests : IDisposable
{
    /// <summary>Times real vgg-small batches on a shared, busy machine: generous, and returns as soon as it is done.</summary>
    private static readonly TimeSpan MeasureTimeout = TimeSpan.FromMinutes(3);

    private readonly ModelJobTestBench _bench = new();

    public void Dispose() => _bench.Dispose();

    [Fact]
    public async Task TheEstimateIsAJobThatWaitsForTheRunningJobThenTimesTeacherAndStudent()
    {
        await using var jobs = await SchedulerHarness.StartedAsync();
        var modelJobs = new ModelJobs(jobs.Scheduler, _bench.Catalog, _bench.Store, new DatasetDownloader(_bench.Options, new HttpClient()));
        var busyStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var busy = jobs.Scheduler.Enqueue("train", "Busy", "{}", async (_, cancellationToken) =>
        {
            busyStarted.SetResult();
            await release.Task.WaitAsync(cancellationToken);
            return null;
        });
        await busyStarted.Task.WaitAsync(SchedulerHarness.Timeout);
        var messages = new ConcurrentQueue<string>();

        var estimate = modelJobs.StartStarterPairEstimate(SyntheticDataset.Name);
        using var subscription = jobs.Scheduler.Subscribe(update =>
        {
            if (update.Job.Id == estimate.Id) messages.Enqueue(update.Job.Message);
        });

        Assert.Equal((StarterPairEstimateJob.Kind, "Estimate the starter pair's training time on synthetic", JobState.Queued),
            (estimate.Kind, estimate.Title, estimate.State));
        Assert.Equal("{\"dataset\":\"synthetic\"}", estimate.ParametersJson);
        Assert.Equal(JobState.Queued, jobs.Scheduler.Get(estimate.Id)!.State); // the worker is busy: it waits

        release.SetResult();
        var done = await jobs.Scheduler.WaitAsync(estimate.Id).WaitAsync(MeasureTimeout);

        Assert.Equal(JobState.Succeeded, done.State);
        Assert.True(done.StartedAt >= jobs.Scheduler.Get(busy.Id)!.FinishedAt, "the estimate must not start before the running job ended");
        var result = StarterPairEstimate.FromJson(done.ResultJson!);
        Assert.Equal(SyntheticDataset.Name, result.Dataset);
        // 480 train images in batches of 128: 3 full batches and one of 96. Evaluated: epochs × 120 validation + 200 test images.
        Assert.Equal([("vgg-small", 7, 4, (7 * 120) + 200), ("vgg-tiny", 10, 4, (10 * 120) + 200)],
            result.Estimates.Select(e => (e.Architecture, e.Epochs, e.BatchesPerEpoch, e.EvaluatedImages)));
        Assert.All(result.Estimates, e => Assert.True(e.SecondsPerBatch > 0 && e.SecondsPerEvaluatedImage > 0));
        Assert.True(result.Estimates[0].ParameterCount > 5 * result.Estimates[1].ParameterCount, "the student has about a tenth of the teacher's parameters");
        // TimeSpan ticks round each estimate and the total separately: equal to within a few ticks.
        Assert.Equal(result.Estimates.Sum(e => e.Total.TotalSeconds), result.Total.TotalSeconds, tolerance: 1e-6);
        var teacher = messages.ToList().IndexOf("Timing a few training batches of vgg-small (teacher)");
        var student = messages.ToList().IndexOf("Timing a few training batches of vgg-tiny (student)");
        Assert.True(teacher >= 0 && student > teacher, $"progress should name the teacher, then the student: {string.Join(" | ", messages)}");
    }

    [Fact]
    public void AnUnknownDatasetIsAClearError()
    {
        var error = Assert.Throws<DatasetNotFoundException>(() =>
            StarterPairEstimateJob.Run("no-such-set", _bench.Catalog, new RecordingProgress(), CancellationToken.None));

        Assert.Contains("Unknown dataset 'no-such-set'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACancelledEstimateStopsBeforeTimingAnything()
    {
        var progress = new RecordingProgress();

        Assert.ThrowsAny<OperationCanceledException>(() =>
            StarterPairEstimateJob.Run(SyntheticDataset.Name, _bench.Catalog, progress, new CancellationToken(canceled: true)));

        Assert.Equal([(0.0, "Loading synthetic")], progress.Reports);
    }
}
