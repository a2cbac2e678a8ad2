using CompressionLab.Core.Jobs;
using CompressionLab.Tests.Workspace;

namespace CompressionLab.Tests.Jobs;

/// <summary>What a restarted app shows for jobs a previous process left unfinished.</summary>
public class JobRecoveryTests
{
    [Fact]
    public async Task JobsLeftRunningOrQueuedByAStoppedAppAreShownInterrupted()
    {
        var clock = new ManualClock();
        await using var harness = new SchedulerHarness(time: clock);
        var crashedOwner = Guid.NewGuid().ToString("N");
        // The crashed process's lock file is still there, but nobody holds its lock any more.
        File.WriteAllText(Path.Combine(harness.Database.PathInside("locks"), $"scheduler-{crashedOwner}.lock"), "");
        using (var connection = harness.Database.OpenConnection())
        {
            WorkspaceDatabaseTests.Execute(connection, $"""
                INSERT INTO jobs (id, kind, title, parameters_json, state, fraction, eta_seconds, message, created_at, started_at, owner) VALUES
                  ('{Ids.Running}', 'sweep', 'Sweep vgg-small', '{"{}"}', 'Running', 0.4, 120, 'cell 40/100', '2026-01-01T10:00:00.0000000+00:00', '2026-01-01T10:00:01.0000000+00:00', '{crashedOwner}'),
                  ('{Ids.Queued}', 'train', 'Train vgg-tiny', '{"{}"}', 'Queued', 0, NULL, 'Waiting for the worker', '2026-01-01T10:00:02.0000000+00:00', NULL, NULL),
                  ('{Ids.Succeeded}', 'train', 'Train lenet-5', '{"{}"}', 'Succeeded', 1, 0, 'done', '2026-01-01T09:00:00.0000000+00:00', '2026-01-01T09:00:01.0000000+00:00', NULL);
                """);
        }

        var restarted = harness.CreateScheduler();

        var running = restarted.Get(Ids.Running)!;
        Assert.Equal(JobState.Interrupted, running.State);
        Assert.Equal(JobStore.StoppedWhileRunning, running.Error);
        Assert.Equal((0.4, "cell 40/100", (TimeSpan?)null), (running.Fraction, running.Message, running.Eta));
        Assert.Equal(clock.GetUtcNow(), running.FinishedAt);
        var queued = restarted.Get(Ids.Queued)!;
        Assert.Equal(JobState.Interrupted, queued.State);
        Assert.Equal(JobStore.StoppedBeforeStart, queued.Error);
        Assert.Equal(JobState.Succeeded, restarted.Get(Ids.Succeeded)!.State);
        Assert.Null(restarted.Get(Ids.Succeeded)!.Error);
        Assert.Equal([Ids.Queued, Ids.Running, Ids.Succeeded], restarted.List().Select(j => j.Id));
        Assert.Equal(running, await restarted.WaitAsync(Ids.Running).WaitAsync(SchedulerHarness.Timeout));
        Assert.False(restarted.Cancel(Ids.Running));
        Assert.Contains(harness.Logger.Entries, e => e.Message.Contains("Marked 2 job(s)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task JobsOfASchedulerThatIsStillAliveAreLeftAlone()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var job = harness.Scheduler.Enqueue("train", "Long training", "{}", async (_, _) =>
        {
            started.SetResult();
            await release.Task;
            return "{}";
        });
        await started.Task.WaitAsync(SchedulerHarness.Timeout);

        // E.g. the CLI opening the same workspace while the dashboard trains.
        var second = harness.CreateScheduler();

        Assert.Equal(JobState.Running, second.Get(job.Id)!.State);
        await Assert.ThrowsAsync<InvalidOperationException>(() => second.WaitAsync(job.Id));
        release.SetResult();
        Assert.Equal(JobState.Succeeded, (await harness.WaitAsync(job.Id)).State);
    }

    private static class Ids
    {
        public static readonly Guid Running = Guid.Parse("00000000-0000-0000-0000-000000000001");
        public static readonly Guid Queued = Guid.Parse("00000000-0000-0000-0000-000000000002");
        public static readonly Guid Succeeded = Guid.Parse("00000000-0000-0000-0000-000000000003");
    }
}
