using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Workspace;
using CompressionLab.Web.Components.Pages.Jobs;
using CompressionLab.Web.Services;
using Microsoft.Extensions.DependencyInjection;

namespace CompressionLab.Tests.Web;

public class JobsPageTests : DashboardTestContext
{
    private readonly PageWorkspace services;

    public JobsPageTests()
        : this(new PageWorkspace())
    {
    }

    private JobsPageTests(PageWorkspace services)
        : base(services.AddModelJobs)
    {
        this.services = services;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            services.Dispose();
        }
    }

    [Fact]
    public async Task AnInterruptedTrainingShowsItsSavedEpochsAndResumeQueuesItsContinuation()
    {
        var request = new TrainingRequest(ModelZoo.Lenet300100, SyntheticDataset.Name, Epochs: 3);
        var interrupted = Scheduler.Add(FakeJobScheduler.Job(request.Title, JobState.Interrupted, 0.5, "epoch 2/3 · batch 1/2") with
        {
            ParametersJson = ModelJobJson.Write(request),
        });
        ModelTestData.WriteInterruptedRun(services.States.PathOf(interrupted.Id), epochsDone: 1, epochs: 3);
        Scheduler.Add(FakeJobScheduler.Job("Train vgg-tiny on synthetic", JobState.Interrupted, 0.1, "epoch 1/10 · batch 3/40") with
        {
            ParametersJson = ModelJobJson.Write(new TrainingRequest(ModelZoo.VggTiny, SyntheticDataset.Name)),
        });
        Scheduler.Add(FakeJobScheduler.Job("Sweep vgg-tiny", JobState.Interrupted, 0.6, "layer stage2.conv1", kind: "sweep"));

        var page = Render<JobsPage>();

        var row = RowOf(page, request.Title);
        Assert.Equal("1 of 3 epochs was finished and saved; Resume continues with epoch 2.", row.QuerySelector("[data-testid=job-saved-epochs]")!.TextContent.Trim());
        Assert.Single(page.FindAll("[data-testid=resume-job]")); // not the training that saved nothing, not the sweep
        Assert.Null(RowOf(page, "Train vgg-tiny on synthetic").QuerySelector("[data-testid=job-saved-epochs]"));

        await row.QuerySelector("[data-testid=resume-job]")!.ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs());

        var resumed = Assert.Single(Scheduler.List(), j => j.Title == $"{request.Title} (resumed)");
        Assert.Equal((TrainingJob.Kind, JobState.Queued, interrupted.Id), (resumed.Kind, resumed.State, resumed.Links.Resumes));
        Assert.Equal(request, ModelJobJson.Read<TrainingRequest>(resumed.ParametersJson));
        // While the continuation waits, the interrupted job offers no second Resume.
        page.WaitForAssertion(() =>
        {
            Assert.Equal(2, page.FindAll("[data-testid=job-title]").Count(t => t.TextContent.Trim().StartsWith(request.Title, StringComparison.Ordinal)));
            Assert.Empty(page.FindAll("[data-testid=resume-job]"));
        }, UiTimeout);
    }

    [Fact]
    public void ADamagedSavedStateIsShownWithItsProblemAndCannotBeResumed()
    {
        var job = Scheduler.Add(FakeJobScheduler.Job("Train lenet-5 on synthetic", JobState.Interrupted, 0.5, "epoch 3/10") with
        {
            ParametersJson = ModelJobJson.Write(new TrainingRequest(ModelZoo.Lenet5, SyntheticDataset.Name)),
        });
        Directory.CreateDirectory(services.States.Folder);
        File.WriteAllBytes(services.States.PathOf(job.Id), [.. "CLABTRST"u8, 9, 0, 0, 0, .. "{broken"u8]);

        var page = Render<JobsPage>();

        var text = RowOf(page, "Train lenet-5 on synthetic").QuerySelector("[data-testid=job-saved-epochs]")!.TextContent.Trim();
        Assert.StartsWith($"Its saved epochs cannot be used: Training state {services.States.PathOf(job.Id)}: truncated inside the header", text);
        Assert.Empty(page.FindAll("[data-testid=resume-job]"));
    }
    [Fact]
    public async Task ReadsASavedStateOnceAndAgainOnlyWhenItsJobChanges()
    {
        var request = new TrainingRequest(ModelZoo.Lenet300100, SyntheticDataset.Name, Epochs: 3);
        var interrupted = Scheduler.Add(FakeJobScheduler.Job(request.Title, JobState.Interrupted, 0.5, "epoch 2/3 · batch 1/2") with
        {
            ParametersJson = ModelJobJson.Write(request),
        });
        var path = services.States.PathOf(interrupted.Id);
        ModelTestData.WriteInterruptedRun(path, epochsDone: 1, epochs: 3);
        var running = Scheduler.Add(FakeJobScheduler.Job("Evaluate lenet-300-100", JobState.Running, 0.1, "batch 1/20", kind: EvaluationJob.Kind));
        var page = Render<JobsPage>();
        Assert.Equal("1 of 3 epochs was finished and saved; Resume continues with epoch 2.", SavedText(page, request.Title));
        var reads = services.StateReads;
        Assert.Equal(2, reads); // one answer per job shown

        // The file is damaged behind the page's back: re-renders (twenty progress updates of the other job, and one
        // forced) do not look at it again, which the unchanged text shows as well as the count.
        File.WriteAllBytes(path, [.. "CLABTRST"u8, 9, 0, 0, 0, .. "{broken"u8]);
        for (var batch = 2; batch <= 20; batch++)
        {
            var next = running with { Fraction = batch / 20.0, Message = $"batch {batch}/20" };
            await Task.Run(() => Scheduler.Publish(next));
        }
        page.WaitForAssertion(() => Assert.Equal("batch 20/20", RowOf(page, "Evaluate lenet-300-100").QuerySelector("[data-testid=job-message]")!.TextContent.Trim()), UiTimeout);
        page.Render();
        Assert.Equal(reads, services.StateReads);
        Assert.Equal("1 of 3 epochs was finished and saved; Resume continues with epoch 2.", SavedText(page, request.Title));

        // A job that resumes the training appears: that changes what the training holds, so it is read again.
        var resuming = FakeJobScheduler.Job($"{request.Title} (resumed)", createdAt: interrupted.CreatedAt.AddMinutes(10)) with
        {
            ParametersJson = ModelJobJson.Write(request),
            Links = new JobLinks(Resumes: interrupted.Id),
        };
        await Task.Run(() => Scheduler.Publish(resuming));
        page.WaitForAssertion(() => Assert.StartsWith("Its saved epochs cannot be used:", SavedText(page, request.Title)), UiTimeout);
        Assert.True(services.StateReads > reads);
    }

    private static string SavedText(IRenderedComponent<JobsPage> page, string title) =>
        RowOf(page, title).QuerySelector("[data-testid=job-saved-epochs]")!.TextContent.Trim();

    [Fact]
    public void ListsEveryJobWithStateProgressEtaAndMessage()
    {
        Scheduler.Add(FakeJobScheduler.Job("Train vgg-small", JobState.Running, 0.42, "epoch 3/8", eta: TimeSpan.FromSeconds(185)));
        Scheduler.Add(FakeJobScheduler.Job("Sweep lenet-5", JobState.Succeeded, 1, "done", kind: "sweep"));

        var page = Render<JobsPage>();

        var titles = page.FindAll("[data-testid=job-title]").Select(cell => cell.TextContent.Trim()).ToList();
        Assert.Equal(["Sweep lenet-5", "Train vgg-small"], titles.Order());
        var running = RowOf(page, "Train vgg-small");
        Assert.Equal("Running", running.QuerySelector("[data-testid=job-state]")!.TextContent.Trim());
        Assert.Equal("42\u00a0%", running.QuerySelector("[data-testid=job-percent]")!.TextContent.Trim());
        Assert.Equal("3 min 05 s", running.QuerySelector("[data-testid=job-eta]")!.TextContent.Trim());
        Assert.Equal("epoch 3/8", running.QuerySelector("[data-testid=job-message]")!.TextContent.Trim());
        var finished = RowOf(page, "Sweep lenet-5");
        Assert.Equal("Succeeded", finished.QuerySelector("[data-testid=job-state]")!.TextContent.Trim());
        Assert.Equal("sweep", finished.QuerySelector("[data-testid=job-kind]")!.TextContent.Trim());
        Assert.Equal("—", finished.QuerySelector("[data-testid=job-eta]")!.TextContent.Trim());
    }

    [Fact]
    public void ShowsFailuresInWordsAndInterruptedJobsAsInterrupted()
    {
        Scheduler.Add(FakeJobScheduler.Job("Train lenet-5", JobState.Failed, 0.3, "epoch 1/4",
            error: "The checkpoint file 'a.bin' is truncated."));
        Scheduler.Add(FakeJobScheduler.Job("Sweep vgg-tiny", JobState.Interrupted, 0.6, "layer stage2.conv1", kind: "sweep"));

        var page = Render<JobsPage>();

        var failed = RowOf(page, "Train lenet-5");
        Assert.Equal("Failed", failed.QuerySelector("[data-testid=job-state]")!.TextContent.Trim());
        Assert.Equal("The checkpoint file 'a.bin' is truncated.", failed.QuerySelector("[data-testid=job-message]")!.TextContent.Trim());
        var interrupted = RowOf(page, "Sweep vgg-tiny");
        Assert.Equal("Interrupted", interrupted.QuerySelector("[data-testid=job-state]")!.TextContent.Trim());
        Assert.Contains("app stopped while this job was running", interrupted.QuerySelector("[data-testid=job-message]")!.TextContent);
        Assert.Contains("layer stage2.conv1", interrupted.QuerySelector("[data-testid=job-message]")!.TextContent);
        Assert.Empty(page.FindAll("[data-testid=cancel-job]"));
    }

    [Fact]
    public void SaysSoWhenThereAreNoJobs()
    {
        var page = Render<JobsPage>();

        Assert.Contains("No jobs yet", page.Find("[data-testid=no-jobs]").TextContent);
    }

    [Fact]
    public async Task UpdatesLiveWhenTheSchedulerPublishesFromItsWorkerThread()
    {
        var job = Scheduler.Add(FakeJobScheduler.Job("Train vgg-tiny", JobState.Running, 0.10, "epoch 1/5"));
        var page = Render<JobsPage>();
        Assert.Equal("10\u00a0%", RowOf(page, "Train vgg-tiny").QuerySelector("[data-testid=job-percent]")!.TextContent.Trim());

        await Task.Run(() => Scheduler.Publish(job with { Fraction = 0.55, Message = "epoch 3/5" }));
        page.WaitForAssertion(() =>
        {
            var row = RowOf(page, "Train vgg-tiny");
            Assert.Equal("55\u00a0%", row.QuerySelector("[data-testid=job-percent]")!.TextContent.Trim());
            Assert.Equal("epoch 3/5", row.QuerySelector("[data-testid=job-message]")!.TextContent.Trim());
        }, UiTimeout);

        var added = FakeJobScheduler.Job("Evaluate vgg-tiny", kind: "evaluate", createdAt: job.CreatedAt.AddMinutes(1));
        await Task.Run(() => Scheduler.Publish(added));
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=job-title]").Count), UiTimeout);
        Assert.Equal("Evaluate vgg-tiny", page.FindAll("[data-testid=job-title]")[0].TextContent.Trim());
    }

    [Fact]
    public async Task ShowsTheLastOfAQuickBurstOfUpdates()
    {
        var job = Scheduler.Add(FakeJobScheduler.Job("Train lenet-300-100", JobState.Running));
        var page = Render<JobsPage>();

        await Task.Run(() =>
        {
            for (var batch = 1; batch <= 200; batch++)
            {
                Scheduler.Publish(job with { Fraction = batch / 200.0, Message = $"batch {batch}/200" });
            }
        });

        page.WaitForAssertion(() =>
            Assert.Equal("batch 200/200", RowOf(page, "Train lenet-300-100").QuerySelector("[data-testid=job-message]")!.TextContent.Trim()),
            UiTimeout);
    }

    [Fact]
    public void CancelAsksTheSchedulerToCancelThatJob()
    {
        var running = Scheduler.Add(FakeJobScheduler.Job("Train vgg-small", JobState.Running, 0.2));
        var queued = Scheduler.Add(FakeJobScheduler.Job("Sweep vgg-small", JobState.Queued, kind: "sweep"));
        Scheduler.Add(FakeJobScheduler.Job("Old run", JobState.Cancelled));
        var page = Render<JobsPage>();

        Assert.Equal(2, page.FindAll("[data-testid=cancel-job]").Count);
        Assert.Null(RowOf(page, "Old run").QuerySelector("[data-testid=cancel-job]"));

        RowOf(page, "Sweep vgg-small").QuerySelector("[data-testid=cancel-job]")!.Click();

        Assert.Equal([queued.Id], Scheduler.CancelRequests);
        Assert.DoesNotContain(running.Id, Scheduler.CancelRequests);
    }

    [Fact]
    public async Task DisposingThePageEndsItsSubscription()
    {
        // The app-wide cache of saved trainings subscribes once for the app's life, not per page.
        Services.GetRequiredService<SavedTrainings>();
        var appWide = Scheduler.SubscriberCount;
        Render<JobsPage>();
        Assert.Equal(appWide + 1, Scheduler.SubscriberCount);

        await DisposeComponentsAsync();

        Assert.Equal(appWide, Scheduler.SubscriberCount);
    }

    private static AngleSharp.Dom.IElement RowOf(IRenderedComponent<JobsPage> page, string title) =>
        page.FindAll("tr").Single(row => row.QuerySelector("[data-testid=job-title]")?.TextContent.Trim() == title);
}
