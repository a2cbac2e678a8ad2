using System.Collections.Concurrent;
using CompressionLab.Core.Jobs;
using CompressionLab.Tests.Workspace;
using Microsoft.Extensions.Logging;

namespace CompressionLab.Tests.Jobs;

public class JobSchedulerTests
{
    private static TaskCompletionSource Signal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [Fact]
    public async Task SucceededJobCarriesItsResultAndIsPersisted()
    {
        await using var harness = await SchedulerHarness.StartedAsync();

        var queued = harness.Scheduler.Enqueue("evaluate", "Evaluate teacher", """{"limit":100}""",
            (run, _) => Task.FromResult<string?>("""{"top1":0.93}"""));
        var done = await harness.WaitAsync(queued.Id);

        Assert.Equal(JobState.Queued, queued.State);
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal("""{"top1":0.93}""", done.ResultJson);
        Assert.Equal(1.0, done.Fraction);
        Assert.Null(done.Error);
        Assert.NotNull(done.StartedAt);
        Assert.NotNull(done.FinishedAt);
        Assert.Equal(("evaluate", "Evaluate teacher", """{"limit":100}"""), (done.Kind, done.Title, done.ParametersJson));
        // A restarted app reads the same job back from the database.
        Assert.Equal(done, harness.CreateScheduler().Get(done.Id));
    }

    [Fact]
    public async Task FailedJobShowsTheMessageInWordsAndLogsTheStackTrace()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        const string problem = "Checkpoint 'x.ckpt' holds a vgg-tiny, not a vgg-small.";

        var job = harness.Scheduler.Enqueue("evaluate", "Evaluate", "{}", (_, _) => throw new InvalidDataException(problem));
        var done = await harness.WaitAsync(job.Id);

        Assert.Equal(JobState.Failed, done.State);
        Assert.Equal(problem, done.Error);
        Assert.Null(done.ResultJson);
        var logged = Assert.Single(harness.Logger.Entries, e => e.Level == LogLevel.Error);
        Assert.IsType<InvalidDataException>(logged.Exception);
        Assert.NotNull(logged.Exception!.StackTrace);
        Assert.Equal(done, harness.CreateScheduler().Get(job.Id));
    }

    [Fact]
    public async Task FailureInsideAnAggregateShowsTheInnerMessage()
    {
        await using var harness = await SchedulerHarness.StartedAsync();

        var job = harness.Scheduler.Enqueue("train", "Train", "{}",
            (_, _) => throw new AggregateException(new IOException("Disk full while saving the checkpoint.")));

        Assert.Equal("Disk full while saving the checkpoint.", (await harness.WaitAsync(job.Id)).Error);
    }

    [Fact]
    public async Task CancelledQueuedJobNeverRuns()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var release = Signal();
        var started = Signal();
        var secondRan = false;
        var first = harness.Scheduler.Enqueue("train", "First", "{}", async (_, _) =>
        {
            started.SetResult();
            await release.Task;
            return null;
        });
        var second = harness.Scheduler.Enqueue("train", "Second", "{}", (_, _) =>
        {
            secondRan = true;
            return Task.FromResult<string?>(null);
        });
        await started.Task.WaitAsync(SchedulerHarness.Timeout);

        Assert.True(harness.Scheduler.Cancel(second.Id));
        var cancelled = harness.Scheduler.Get(second.Id)!;
        release.SetResult();
        await harness.WaitAsync(first.Id);
        // A job queued after it runs, so the worker has gone past the cancelled one.
        var third = harness.Scheduler.Enqueue("train", "Third", "{}", (_, _) => Task.FromResult<string?>(null));
        await harness.WaitAsync(third.Id);

        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.Null(cancelled.StartedAt);
        Assert.False(secondRan);
        Assert.Equal(JobState.Cancelled, harness.Scheduler.Get(second.Id)!.State);
        Assert.False(harness.Scheduler.Cancel(second.Id));
        Assert.False(harness.Scheduler.Cancel(Guid.NewGuid()));
    }

    [Fact]
    public async Task CancelledRunningJobEndsCancelled()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        using var log = new UpdateLog(harness.Scheduler);
        var started = Signal();
        var job = harness.Scheduler.Enqueue("sweep", "Sweep", "{}", async (run, token) =>
        {
            run.Progress.Report(0.5, "half");
            started.SetResult();
            await Task.Delay(System.Threading.Timeout.Infinite, token);
            return "never";
        });
        await started.Task.WaitAsync(SchedulerHarness.Timeout);

        Assert.True(harness.Scheduler.Cancel(job.Id));
        var done = await harness.WaitAsync(job.Id);

        Assert.Equal(JobState.Cancelled, done.State);
        Assert.Null(done.Error);
        Assert.Null(done.ResultJson);
        Assert.Equal(0.5, done.Fraction);
        Assert.Contains(log.Of(job.Id), u => u.Job is { State: JobState.Running, Message: "Cancelling…" });
        Assert.Equal(JobState.Cancelled, harness.CreateScheduler().Get(job.Id)!.State);
    }

    [Fact]
    public async Task OperationCanceledNotFromTheJobsTokenIsAFailure()
    {
        await using var harness = await SchedulerHarness.StartedAsync();

        var job = harness.Scheduler.Enqueue("download", "Download", "{}",
            (_, _) => throw new TaskCanceledException("The download timed out after 100 seconds."));
        var done = await harness.WaitAsync(job.Id);

        Assert.Equal(JobState.Failed, done.State);
        Assert.Equal("The download timed out after 100 seconds.", done.Error);
    }

    [Fact]
    public async Task JobsRunOneAtATimeInTheOrderTheyWereQueued()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var events = new ConcurrentQueue<string>();
        var running = 0;
        var mostAtOnce = 0;
        var firstStarted = Signal();
        var releaseFirst = Signal();

        JobWork Step(string name, Task? gate = null) => async (_, _) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref mostAtOnce, now);
            events.Enqueue(name + " start");
            if (gate is not null)
            {
                firstStarted.SetResult();
                await gate;
            }

            await Task.Yield();
            events.Enqueue(name + " end");
            Interlocked.Decrement(ref running);
            return null;
        };

        var a = harness.Scheduler.Enqueue("k", "A", "{}", Step("A", releaseFirst.Task));
        var b = harness.Scheduler.Enqueue("k", "B", "{}", Step("B"));
        var c = harness.Scheduler.Enqueue("k", "C", "{}", Step("C"));
        await firstStarted.Task.WaitAsync(SchedulerHarness.Timeout);

        Assert.Equal(JobState.Running, harness.Scheduler.Get(a.Id)!.State);
        Assert.Equal(JobState.Queued, harness.Scheduler.Get(b.Id)!.State);
        Assert.Equal(JobState.Queued, harness.Scheduler.Get(c.Id)!.State);
        releaseFirst.SetResult();
        await harness.WaitAsync(c.Id);

        Assert.Equal(["A start", "A end", "B start", "B end", "C start", "C end"], events);
        Assert.Equal(1, mostAtOnce);
    }

    [Fact]
    public async Task MaxConcurrencyTwoRunsTwoJobsAtOnce()
    {
        await using var harness = await SchedulerHarness.StartedAsync(new JobOptions { MaxConcurrency = 2 });
        var bothRunning = new CountdownEvent(2);
        var release = Signal();
        JobWork work = async (_, _) =>
        {
            bothRunning.Signal();
            await release.Task;
            return null;
        };

        var a = harness.Scheduler.Enqueue("k", "A", "{}", work);
        var b = harness.Scheduler.Enqueue("k", "B", "{}", work);

        Assert.True(await Task.Run(() => bothRunning.Wait(SchedulerHarness.Timeout)), "The two jobs never ran at the same time.");
        release.SetResult();
        Assert.Equal(JobState.Succeeded, (await harness.WaitAsync(a.Id)).State);
        Assert.Equal(JobState.Succeeded, (await harness.WaitAsync(b.Id)).State);
    }

    [Fact]
    public async Task ProgressIsClampedAndTheEtaFollowsTimeSinceTheJobStarted()
    {
        var clock = new ManualClock();
        await using var harness = new SchedulerHarness(time: clock);
        using var log = new UpdateLog(harness.Scheduler);
        var job = harness.Scheduler.Enqueue("train", "Train", "{}", (run, _) =>
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            run.Progress.Report(0.25, "epoch 1/4");   // 10 s for a quarter: 30 s to go
            clock.Advance(TimeSpan.FromSeconds(10));
            run.Progress.Report(double.NaN, "still epoch 1/4");
            run.Progress.Report(-0.5, "restarting");
            run.Progress.Report(1.7, "overshoot");
            return Task.FromResult<string?>(null);
        });
        // Waiting in the queue does not count: the ETA is measured from the start.
        clock.Advance(TimeSpan.FromMinutes(5));
        await harness.Scheduler.StartAsync(CancellationToken.None);
        await harness.WaitAsync(job.Id);

        var progress = log.Of(job.Id).Where(u => u.Job.State == JobState.Running).Skip(1)
            .Select(u => (u.Job.Fraction, u.Job.Eta, u.Job.Message)).ToList();
        Assert.Equal(
            [
                (0.25, TimeSpan.FromSeconds(30), "epoch 1/4"),
                (0.25, TimeSpan.FromSeconds(60), "still epoch 1/4"),
                (0.0, null, "restarting"),
                (1.0, TimeSpan.Zero, "overshoot"),
            ],
            progress);
    }

    [Theory]
    [InlineData(10.0, 0.25, 30.0)]
    [InlineData(90.0, 0.9, 10.0)]
    [InlineData(5.0, 1.0, 0.0)]
    public void RemainingTimeAssumesASteadyPace(double elapsedSeconds, double fraction, double expectedSeconds)
    {
        var eta = JobScheduler.EstimateRemaining(TimeSpan.FromSeconds(elapsedSeconds), fraction);

        Assert.Equal(expectedSeconds, eta!.Value.TotalSeconds, precision: 6);
    }

    [Fact]
    public void NoEstimateBeforeAnyProgress()
    {
        Assert.Null(JobScheduler.EstimateRemaining(TimeSpan.FromSeconds(10), 0));
        Assert.Null(JobScheduler.EstimateRemaining(TimeSpan.Zero, 0.5));
        Assert.Null(JobScheduler.EstimateRemaining(TimeSpan.FromDays(100), 1e-300));
    }

    [Fact]
    public async Task ProgressWritesAreThrottledButSubscribersSeeEveryReport()
    {
        var clock = new ManualClock();
        await using var harness = new SchedulerHarness(new JobOptions { ProgressPersistInterval = TimeSpan.FromMilliseconds(500) }, clock);
        using var log = new UpdateLog(harness.Scheduler);
        var persisted = new List<string?>();
        string? StoredFraction(Guid id)
        {
            using var connection = harness.Database.OpenConnection();
            return WorkspaceDatabaseTests.Scalar(connection, $"SELECT fraction FROM jobs WHERE id = '{id}';");
        }

        var id = Guid.Empty; // set below, before the worker starts
        var job = harness.Scheduler.Enqueue("sweep", "Sweep", "{}", (run, _) =>
        {
            clock.Advance(TimeSpan.FromMilliseconds(100));
            run.Progress.Report(0.1, "a");
            clock.Advance(TimeSpan.FromMilliseconds(100));
            run.Progress.Report(0.2, "b");
            persisted.Add(StoredFraction(id));   // 200 ms after the start: not written yet
            clock.Advance(TimeSpan.FromMilliseconds(400));
            run.Progress.Report(0.3, "c");
            persisted.Add(StoredFraction(id));   // 600 ms: written
            clock.Advance(TimeSpan.FromMilliseconds(100));
            run.Progress.Report(0.4, "d");
            persisted.Add(StoredFraction(id));   // 100 ms after that write: not written
            return Task.FromResult<string?>(null);
        });
        id = job.Id;
        await harness.Scheduler.StartAsync(CancellationToken.None);
        await harness.WaitAsync(job.Id);

        Assert.Equal(["0", "0.3", "0.3"], persisted);
        Assert.Equal([0.1, 0.2, 0.3, 0.4], log.Of(job.Id).Where(u => u.Job.State == JobState.Running).Skip(1).Select(u => u.Job.Fraction));
        Assert.Equal("1", StoredFraction(job.Id)); // the end is always written
    }

    [Fact]
    public async Task PublishedPartialsReachSubscribersAndChangeNothingElse()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        using var log = new UpdateLog(harness.Scheduler);
        var cell = new TestCell("stage1.conv1", 0.5, 0.88);
        var job = harness.Scheduler.Enqueue("sweep", "Sweep", "{}", (run, _) =>
        {
            run.Progress.Report(0.5, "half");
            run.Progress.Publish(cell);
            return Task.FromResult<string?>(null);
        });
        await harness.WaitAsync(job.Id);

        var partial = Assert.Single(log.Of(job.Id), u => u.Partial is not null);
        Assert.Same(cell, partial.Partial);
        Assert.Equal((JobState.Running, 0.5, "half"), (partial.Job.State, partial.Job.Fraction, partial.Job.Message));
    }

    [Fact]
    public async Task AThrowingSubscriberBreaksNeitherTheWorkerNorOtherSubscribers()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        using var throwing = harness.Scheduler.Subscribe(_ => throw new InvalidOperationException("subscriber bug"));
        using var log = new UpdateLog(harness.Scheduler);

        var first = harness.Scheduler.Enqueue("k", "First", "{}", (run, _) =>
        {
            run.Progress.Report(0.5, "half");
            return Task.FromResult<string?>("{}");
        });
        var firstDone = await harness.WaitAsync(first.Id);
        var second = harness.Scheduler.Enqueue("k", "Second", "{}", (_, _) => Task.FromResult<string?>("{}"));
        var secondDone = await harness.WaitAsync(second.Id);

        Assert.Equal(JobState.Succeeded, firstDone.State);
        Assert.Equal(JobState.Succeeded, secondDone.State);
        Assert.Equal(
            [JobState.Queued, JobState.Running, JobState.Running, JobState.Succeeded],
            log.Of(first.Id).Select(u => u.Job.State));
        Assert.Contains(harness.Logger.Entries, e => e.Level == LogLevel.Warning && e.Exception?.Message == "subscriber bug");
    }

    [Fact]
    public async Task ADisposedSubscriptionHearsNothingMore()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var heard = new ConcurrentQueue<JobUpdate>();
        var subscription = harness.Scheduler.Subscribe(heard.Enqueue);
        await harness.WaitAsync(harness.Scheduler.Enqueue("k", "Before", "{}", (_, _) => Task.FromResult<string?>(null)).Id);
        var countBefore = heard.Count;

        subscription.Dispose();
        subscription.Dispose();
        await harness.WaitAsync(harness.Scheduler.Enqueue("k", "After", "{}", (_, _) => Task.FromResult<string?>(null)).Id);

        Assert.Equal(3, countBefore); // queued, running, succeeded
        Assert.Equal(countBefore, heard.Count);
    }

    [Fact]
    public async Task AFullQueueRefusesWithAClearError()
    {
        // Not started: nothing leaves the queue.
        await using var harness = new SchedulerHarness(new JobOptions { QueueCapacity = 2 });
        JobWork nothing = (_, _) => Task.FromResult<string?>(null);
        var first = harness.Scheduler.Enqueue("k", "1", "{}", nothing);
        harness.Scheduler.Enqueue("k", "2", "{}", nothing);

        var error = Assert.Throws<JobQueueFullException>(() => harness.Scheduler.Enqueue("k", "3", "{}", nothing));

        Assert.Equal(2, error.Capacity);
        Assert.Contains("queue is full: 2 jobs are already waiting", error.Message);
        Assert.Equal(["2", "1"], harness.Scheduler.List().Select(j => j.Title));
        // A cancelled job no longer takes a place.
        harness.Scheduler.Cancel(first.Id);
        Assert.Equal(JobState.Queued, harness.Scheduler.Enqueue("k", "4", "{}", nothing).State);
    }

    [Fact]
    public async Task StoppingTheAppInterruptsWhatIsRunningAndWhatWaits()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var started = Signal();
        var running = harness.Scheduler.Enqueue("train", "Running", "{}", async (run, token) =>
        {
            run.Progress.Report(0.3, "epoch 3/10");
            started.SetResult();
            await Task.Delay(System.Threading.Timeout.Infinite, token);
            return null;
        });
        var waiting = harness.Scheduler.Enqueue("train", "Waiting", "{}", (_, _) => Task.FromResult<string?>(null));
        await started.Task.WaitAsync(SchedulerHarness.Timeout);

        await harness.Scheduler.StopAsync(CancellationToken.None).WaitAsync(SchedulerHarness.Timeout);

        var stoppedRunning = harness.Scheduler.Get(running.Id)!;
        var stoppedWaiting = harness.Scheduler.Get(waiting.Id)!;
        Assert.Equal((JobState.Interrupted, 0.3, "epoch 3/10"), (stoppedRunning.State, stoppedRunning.Fraction, stoppedRunning.Message));
        Assert.Contains("stopped while this job was running", stoppedRunning.Error);
        Assert.Equal(JobState.Interrupted, stoppedWaiting.State);
        Assert.Contains("stopped before this job started", stoppedWaiting.Error);
        Assert.Throws<InvalidOperationException>(() => harness.Scheduler.Enqueue("k", "Late", "{}", (_, _) => Task.FromResult<string?>(null)));
    }

    [Fact]
    public async Task ListShowsEarlierRunsNewestFirstUpToTheLimit()
    {
        var clock = new ManualClock();
        await using var harness = new SchedulerHarness(new JobOptions { HistoryLimit = 3 }, clock);
        await harness.Scheduler.StartAsync(CancellationToken.None);
        foreach (var title in new[] { "1", "2", "3", "4", "5" })
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await harness.WaitAsync(harness.Scheduler.Enqueue("k", title, "{}", (_, _) => Task.FromResult<string?>(null)).Id);
        }

        Assert.Equal(["5", "4", "3"], harness.Scheduler.List().Select(j => j.Title));
        Assert.Equal(["5", "4", "3"], harness.CreateScheduler().List().Select(j => j.Title));
    }

    [Fact]
    public async Task WaitingWorksForFinishedJobsAndRefusesUnknownOnes()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var job = harness.Scheduler.Enqueue("k", "Done", "{}", (_, _) => Task.FromResult<string?>("{}"));
        var done = await harness.WaitAsync(job.Id);

        Assert.Equal(done, await harness.Scheduler.WaitAsync(job.Id));
        Assert.Equal(done, await ((IJobScheduler)new SchedulerHarnessView(harness.Scheduler)).WaitAsync(job.Id));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => harness.Scheduler.WaitAsync(Guid.NewGuid()));
    }

    [Fact]
    public async Task TheContractsDefaultWaitCompletesWhenTheJobEnds()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var release = Signal();
        var job = harness.Scheduler.Enqueue("k", "Gated", "{}", async (_, _) =>
        {
            await release.Task;
            return "{}";
        });
        IJobScheduler view = new SchedulerHarnessView(harness.Scheduler);

        var waiting = view.WaitAsync(job.Id);
        Assert.False(waiting.IsCompleted);
        release.SetResult();

        Assert.Equal(JobState.Succeeded, (await waiting.WaitAsync(SchedulerHarness.Timeout)).State);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    /// <summary>Only the contract's members, so the interface's own WaitAsync is what runs (as for a test fake).</summary>
    private sealed class SchedulerHarnessView(IJobScheduler inner) : IJobScheduler
    {
        public JobSnapshot Enqueue(string kind, string title, string parametersJson, JobWork work, JobLinks? links = null) =>
            inner.Enqueue(kind, title, parametersJson, work, links);

        public bool Cancel(Guid id) => inner.Cancel(id);

        public JobSnapshot? Get(Guid id) => inner.Get(id);

        public IReadOnlyList<JobSnapshot> List() => inner.List();

        public IDisposable Subscribe(Action<JobUpdate> onUpdate) => inner.Subscribe(onUpdate);
    }

    /// <summary>A partial result of the test's own kind, as a job kind derives its records from <see cref="JobPartial"/>.</summary>
    private sealed record TestCell(string Layer, double Sparsity, double Top1) : JobPartial;
}
