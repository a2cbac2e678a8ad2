using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Workspace;

namespace CompressionLab.Tests.Jobs;

/// <summary>
/// What a job is told and what it is tied to: its work gets its own id, and the ids it is linked to (the record it fills,
/// the job it resumes) are typed values that survive a restart, including those an older version kept in the parameters.
/// </summary>
public sealed class JobContractTests
{
    [Fact]
    public async Task WorkIsToldItsOwnIdBeforeItReportsAnything()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        Guid? told = null;

        var job = harness.Scheduler.Enqueue("k", "Who am I", "{}", (run, _) =>
        {
            told = run.Id;
            return Task.FromResult<string?>(null);
        });
        await harness.WaitAsync(job.Id);

        Assert.Equal(job.Id, told);
    }

    [Fact]
    public async Task LinksAreKeptOnTheSnapshotAndReadBackByAnotherScheduler()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var links = new JobLinks(Subject: Guid.NewGuid(), Resumes: Guid.NewGuid());

        var job = harness.Scheduler.Enqueue("k", "Linked", "{}", (_, _) => Task.FromResult<string?>(null), links);
        var plain = harness.Scheduler.Enqueue("k", "Plain", "{}", (_, _) => Task.FromResult<string?>(null));
        await harness.WaitAsync(job.Id);
        await harness.WaitAsync(plain.Id);

        Assert.Equal(links, job.Links);
        var other = harness.CreateScheduler(); // reads the jobs table, not this scheduler's memory
        Assert.Equal(links, other.Get(job.Id)!.Links);
        Assert.Equal(JobLinks.None, other.Get(plain.Id)!.Links);
        Assert.Equal(links, other.List().Single(j => j.Id == job.Id).Links);
    }

    [Fact]
    public void UpgradingCopiesTheIdsOlderVersionsKeptInTheParametersIntoLinks()
    {
        using var workspace = new TempWorkspace();
        var sweep = Guid.NewGuid();
        var interrupted = Guid.NewGuid();
        var (sweepJob, resumingJob, otherJob) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var old = workspace.OpenDatabase(WorkspaceSchema.Migrations.Take(4).ToArray());
        using (var connection = old.OpenConnection())
        {
            WorkspaceDatabaseTests.Execute(connection, $"""
                INSERT INTO jobs (id, kind, title, parameters_json, state, created_at) VALUES
                  ('{sweepJob}', 'sweep', 'Sweep', '{"{"}"sweepId":"{sweep}","modelId":"{Guid.NewGuid()}"{"}"}', 'Succeeded', '2026-01-01T10:00:00.0000000+00:00'),
                  ('{resumingJob}', 'train', 'Train (resumed)', '{"{"}"architecture":"vgg-tiny","resumesJob":"{interrupted}"{"}"}', 'Succeeded', '2026-01-01T10:00:01.0000000+00:00'),
                  ('{otherJob}', 'evaluate', 'Evaluate', 'not json at all', 'Succeeded', '2026-01-01T10:00:02.0000000+00:00');
                """);
        }
        old.Dispose();

        var upgraded = workspace.OpenDatabase();
        using var scheduler = new JobScheduler(upgraded, new JobOptions());

        Assert.Equal(new JobLinks(Subject: sweep), scheduler.Get(sweepJob)!.Links);
        Assert.Equal(new JobLinks(Resumes: interrupted), scheduler.Get(resumingJob)!.Links);
        Assert.Equal(JobLinks.None, scheduler.Get(otherJob)!.Links);
    }
}
