using CompressionLab.Core.Jobs;
using CompressionLab.Web.Services;

namespace CompressionLab.Tests.Web;

public class JobBoardTests
{
    [Fact]
    public void AnUpdateThatRacesTheFirstListingWinsOverTheListedSnapshot()
    {
        var scheduler = new FakeJobScheduler();
        var job = scheduler.Add(FakeJobScheduler.Job("Train", JobState.Running, 0.1));
        scheduler.WhileListing = () => scheduler.Publish(job with { Fraction = 0.5 });

        using var board = new JobBoard(scheduler, () => { });

        Assert.Equal(0.5, Assert.Single(board.Jobs).Fraction);
    }

    [Fact]
    public void KeepsEveryJobNewestFirstAndCallsBackOnEachUpdate()
    {
        var scheduler = new FakeJobScheduler();
        var start = new DateTimeOffset(2025, 3, 1, 8, 0, 0, TimeSpan.Zero);
        scheduler.Add(FakeJobScheduler.Job("older", createdAt: start));
        var changes = 0;
        using var board = new JobBoard(scheduler, () => Interlocked.Increment(ref changes));

        var newer = FakeJobScheduler.Job("newer", createdAt: start.AddMinutes(3));
        scheduler.Publish(newer);
        scheduler.Publish(newer with { State = JobState.Running, Fraction = 0.25 });

        Assert.Equal(2, changes);
        Assert.Equal(["newer", "older"], board.Jobs.Select(j => j.Title));
        Assert.Equal(JobState.Running, board.Jobs[0].State);
    }

    [Fact]
    public void DisposingStopsUpdates()
    {
        var scheduler = new FakeJobScheduler();
        var board = new JobBoard(scheduler, () => { });
        Assert.Equal(1, scheduler.SubscriberCount);

        board.Dispose();

        Assert.Equal(0, scheduler.SubscriberCount);
    }

    [Fact]
    public void AheadOfAQueuedJobAreTheRunningJobsThenThoseQueuedBeforeIt()
    {
        var scheduler = new FakeJobScheduler();
        var start = new DateTimeOffset(2025, 3, 1, 8, 0, 0, TimeSpan.Zero);
        var earlier = scheduler.Add(FakeJobScheduler.Job("queued earlier", createdAt: start.AddMinutes(1)));
        var running = scheduler.Add(FakeJobScheduler.Job("running", JobState.Running, 0.5, createdAt: start));
        scheduler.Add(FakeJobScheduler.Job("finished", JobState.Succeeded, createdAt: start.AddMinutes(2)));
        var job = scheduler.Add(FakeJobScheduler.Job("this one", createdAt: start.AddMinutes(3)));
        scheduler.Add(FakeJobScheduler.Job("queued later", createdAt: start.AddMinutes(4)));
        using var board = new JobBoard(scheduler, () => { });

        Assert.Equal([running.Id, earlier.Id], board.Ahead(job).Select(j => j.Id));
        Assert.Empty(board.Ahead(job with { State = JobState.Running }));
    }
}
