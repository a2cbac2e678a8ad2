using AngleSharp.Dom;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Pages.ModelsData;
using CompressionLab.Web.Services;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Extensions;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Models &amp; data page over a real (temporary) workspace and dataset catalog, with the fake scheduler:
/// jobs the page starts are recorded, and the test plays the worker by publishing their progress.
/// </summary>
public abstract class ModelsDataPageTestBase : DashboardTestContext
{
    private readonly PageWorkspace services;

    protected ModelsDataPageTestBase(bool withFashionMnist)
        : this(new PageWorkspace(withFashionMnist))
    {
    }

    private ModelsDataPageTestBase(PageWorkspace services)
        : base(collection =>
        {
            services.AddStores(collection);
            services.AddModelJobs(collection);
            collection.AddSingleton<StarterPairEstimates>();
        })
    {
        this.services = services;
    }

    internal ModelStore Store => services.Store;

    internal DatasetCatalog Catalog => services.Catalog;

    internal TrainingStateStore States => services.States;

    /// <summary>Every file under the workspace's models folder (staged uploads too), relative to it.</summary>
    internal string[] ModelFiles() =>
        Directory.Exists(Store.ModelsFolder)
            ? [.. Directory.GetFileSystemEntries(Store.ModelsFolder, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(Store.ModelsFolder, p))]
            : [];

    /// <summary>What an estimate job would have measured: two made-up estimates.</summary>
    internal static string EstimateResult(string dataset = "fashion-mnist") => ModelJobJson.Write(new StarterPairEstimate(dataset,
    [
        // 7·430·0.2 s + 45,000·0.4 ms = 620 s; 10·430·0.05 s + 60,000·0.1 ms = 221 s; together 841 s, about 14 min.
        new("vgg-small", 7, 430, 0.2, 0.0004, 45_000, 288_554),
        new("vgg-tiny", 10, 430, 0.05, 0.0001, 60_000, 29_102),
    ], Seconds: 4.2));

    /// <summary>A lenet-5 checkpoint (top-1 87.65 % recorded) and a copy of it with a flipped weight byte.</summary>
    internal (byte[] Valid, byte[] Corrupt) CheckpointBytes()
    {
        manual_seed(41);
        var path = WriteFile($"{Guid.NewGuid():N}.ckpt", []);
        using (var network = ModelZoo.Create(ModelZoo.Lenet5))
        {
            Checkpoint.Save(network, path, "fashion-mnist", IdxDataset.FashionMnistClasses, top1: 0.8765);
        }
        var valid = File.ReadAllBytes(path);
        File.Delete(path);
        var corrupt = (byte[])valid.Clone();
        corrupt[^5] ^= 0x5A;
        return (valid, corrupt);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            services.Dispose();
        }
    }

    /// <summary>Stores a file as a model (the store does not read it; the page only lists it).</summary>
    internal ModelRecord AddModel(string name, string arch = "vgg-tiny", double? top1 = 0.9123, long parameters = 29_000, string dataset = "fashion-mnist")
    {
        var file = Path.Combine(services.Workspace.Root, $"{Guid.NewGuid():N}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return Store.Import(file, new ModelEntry(name, arch, dataset, top1, parameters));
    }

    internal string WriteFile(string name, byte[] bytes)
    {
        var path = Path.Combine(services.Workspace.Root, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    internal static IElement RowOf(IRenderedComponent<ModelsDataPage> page, string testId, string value) =>
        page.FindAll("tr").Single(row => row.QuerySelector($"[data-testid={testId}]")?.TextContent.Trim() == value);

    /// <summary>The element's text with runs of spaces and line breaks (of the markup) read as one space; no-break spaces are kept.</summary>
    internal static string Text(IRenderedComponent<ModelsDataPage> page, string selector) =>
        System.Text.RegularExpressions.Regex.Replace(page.Find(selector).TextContent, "[ \t\r\n]+", " ").Trim(' ', '\t', '\r', '\n');

    internal JobSnapshot SingleJob(string kind) => Assert.Single(Scheduler.List(), j => j.Kind == kind);
}

public sealed class ModelsDataPageTests() : ModelsDataPageTestBase(withFashionMnist: true)
{
    [Fact]
    public void ListsEachDatasetWithWhereItIsAndEveryPlaceSearched()
    {
        var page = Render<ModelsDataPage>();

        var fashion = page.Find("[data-testid=dataset-row][data-dataset=fashion-mnist]");
        Assert.Equal(TestData.FashionMnistFolder, fashion.QuerySelector("[data-testid=dataset-where]")!.TextContent.Trim());
        Assert.Equal(("60,000", "10,000"), (fashion.QuerySelector("[data-testid=dataset-train]")!.TextContent.Trim(), fashion.QuerySelector("[data-testid=dataset-test]")!.TextContent.Trim()));
        var synthetic = page.Find("[data-testid=dataset-row][data-dataset=synthetic]");
        Assert.Equal("synthetic (generated in code)", synthetic.QuerySelector("[data-testid=synthetic-label]")!.TextContent.Trim());
        Assert.Equal("generated in code (synthetic shapes, seed 1)", synthetic.QuerySelector("[data-testid=dataset-where]")!.TextContent.Trim());
        Assert.Equal(("12,000", "2,000"), (synthetic.QuerySelector("[data-testid=dataset-train]")!.TextContent.Trim(), synthetic.QuerySelector("[data-testid=dataset-test]")!.TextContent.Trim()));
        Assert.Null(fashion.QuerySelector("[data-testid=synthetic-label]"));

        var locations = page.FindAll("[data-testid=location]");
        Assert.Equal(Catalog.List().Locations.Count, locations.Count);
        Assert.Equal("true", locations[0].GetAttribute("data-found"));
        Assert.Contains(TestData.FashionMnistFolder, locations[0].TextContent, StringComparison.Ordinal);
        Assert.NotNull(locations[0].QuerySelector("[data-testid=location-used]"));
        Assert.Contains(locations.Skip(1), l => l.GetAttribute("data-found") == "false" && l.TextContent.Contains("not found", StringComparison.Ordinal));
        Assert.Empty(page.FindAll("[data-testid=download-fashion]"));
    }

    [Fact]
    public void TheModelsTableShowsNameArchitectureDatasetAccuracyAndParameters()
    {
        var teacher = AddModel("Teacher", "vgg-small", top1: 0.93128, parameters: 288_554);
        AddModel("Imported", "lenet-5", top1: null, parameters: 61_706);

        var page = Render<ModelsDataPage>();

        var row = RowOf(page, "model-name", "Teacher");
        Assert.Equal(["Teacher", "vgg-small", "fashion-mnist", "93.13\u00a0%", "288,554"],
            new[] { "model-name", "model-arch", "model-dataset", "model-top1", "model-params" }.Select(id => row.QuerySelector($"[data-testid={id}]")!.TextContent.Trim()));
        Assert.Equal($"models/{teacher.Id}/checkpoint", row.QuerySelector("[data-testid=download-model]")!.GetAttribute("href"));
        Assert.Equal("Teacher.ckpt", row.QuerySelector("[data-testid=download-model]")!.GetAttribute("download"));
        Assert.Equal("—", RowOf(page, "model-name", "Imported").QuerySelector("[data-testid=model-top1]")!.TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=first-run-card]"));
        Assert.Empty(page.FindAll("[data-testid=model-synthetic-label]"));
    }

    [Fact]
    public void AModelTrainedOnTheSyntheticSetIsLabelledSoInTheTable()
    {
        AddModel("Real", "lenet-5");
        AddModel("Shapes", "lenet-5", dataset: SyntheticDataset.Name);

        var page = Render<ModelsDataPage>();

        var label = Assert.Single(page.FindAll("[data-testid=model-synthetic-label]"));
        Assert.Equal("generated", label.TextContent.Trim());
        Assert.NotNull(RowOf(page, "model-name", "Shapes").QuerySelector("[data-testid=model-synthetic-label]"));
    }

    [Fact]
    public async Task StartingATrainingQueuesAJobWithTheFormsSettings()
    {
        var page = Render<ModelsDataPage>();

        await SelectAsync(page, "train-architecture", ModelZoo.Lenet300100);
        Assert.Equal("12", page.Find("input[data-testid=train-epochs]").GetAttribute("value")); // lenet-300-100's default
        await SelectAsync(page, "train-dataset", SyntheticDataset.Name);
        page.Find("input[data-testid=train-epochs]").Change("1");
        page.Find("input[data-testid=train-seed]").Change("5");
        page.Find("input[data-testid=train-images]").Change("2000");
        await page.Find("[data-testid=start-training]").ClickAsync(new MouseEventArgs());

        var job = SingleJob(TrainingJob.Kind);
        Assert.Equal("Train lenet-300-100 on synthetic", job.Title);
        Assert.Equal(new TrainingRequest(ModelZoo.Lenet300100, SyntheticDataset.Name, Epochs: 1, Seed: 5, TrainingImages: 2000),
            ModelJobJson.Read<TrainingRequest>(job.ParametersJson));
        page.WaitForAssertion(() => Assert.Equal("Train lenet-300-100 on synthetic", Text(page, "[data-testid=training-progress] [data-testid=progress-title]")), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=train-error]"));
    }

    [Fact]
    public async Task BadInputIsExplainedInWordsAndStartsNothing()
    {
        var page = Render<ModelsDataPage>();
        await SelectAsync(page, "train-dataset", SyntheticDataset.Name);

        page.Find("input[data-testid=train-epochs]").Change("0");
        page.Find("input[data-testid=train-seed]").Change("-3");
        page.Find("input[data-testid=train-images]").Change("1000000");
        await page.Find("[data-testid=start-training]").ClickAsync(new MouseEventArgs());

        Assert.DoesNotContain(Scheduler.List(), j => j.Kind == TrainingJob.Kind);
        var form = page.Find("[data-testid=train-form]").TextContent;
        Assert.Contains("Enter a whole number of epochs from 1 to 1000.", form, StringComparison.Ordinal);
        Assert.Contains("Enter a seed of 0 or more.", form, StringComparison.Ordinal);
        // 12,000 synthetic train images, 5,000 of them held out for validation.
        Assert.Contains("synthetic has 7,000 training images (the rest are held out for validation); leave it empty for all.", form, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LiveProgressShowsAndTheFinishedModelAppearsWithItsAccuracy()
    {
        var page = Render<ModelsDataPage>();
        Assert.NotNull(page.Find("[data-testid=no-models]"));
        await page.Find("[data-testid=start-training]").ClickAsync(new MouseEventArgs());
        var job = SingleJob(TrainingJob.Kind);

        await Task.Run(() => Scheduler.Publish(job with
        {
            State = JobState.Running,
            Fraction = 0.42,
            Eta = TimeSpan.FromSeconds(65),
            Message = "epoch 3/7 · batch 120/391 · loss 0.412 · acc 85.1%",
        }));
        page.WaitForAssertion(() =>
        {
            Assert.Equal("42\u00a0%", Text(page, "[data-testid=training-progress] [data-testid=progress-percent]"));
            Assert.Equal("ETA 1 min 05 s", Text(page, "[data-testid=training-progress] [data-testid=progress-eta]"));
            Assert.Equal("epoch 3/7 · batch 120/391 · loss 0.412 · acc 85.1%", Text(page, "[data-testid=training-progress] [data-testid=progress-message]"));
            Assert.NotNull(page.Find("[data-testid=training-progress] [data-testid=progress-cancel]"));
        }, UiTimeout);

        // The worker stores the model, then the job succeeds.
        var stored = AddModel("vgg-small · 7 epochs · seed 1", "vgg-small", top1: 0.9312, parameters: 288_554);
        var result = new TrainingJobResult(stored.Id, stored.DisplayName, "vgg-small", "fashion-mnist", 0.9312, 0.998, 0.2, 7, 55_000, 288_554, 512);
        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Succeeded, Fraction = 1, ResultJson = ModelJobJson.Write(result) }));

        page.WaitForAssertion(() =>
        {
            Assert.Equal("93.12\u00a0%", RowOf(page, "model-name", stored.DisplayName).QuerySelector("[data-testid=model-top1]")!.TextContent.Trim());
            Assert.Equal("Stored \"vgg-small · 7 epochs · seed 1\": test top-1 93.12\u00a0% in 8 min 32 s.",
                Text(page, "[data-testid=training-progress] [data-testid=progress-message]"));
            Assert.Empty(page.FindAll("[data-testid=training-progress] [data-testid=progress-cancel]"));
        }, UiTimeout);
    }

    [Fact]
    public async Task AnInterruptedTrainingWithSavedEpochsIsShownWithResumeEvenAfterARestart()
    {
        AddModel("Teacher", "vgg-small"); // not a first run
        var request = new TrainingRequest(ModelZoo.Lenet300100, SyntheticDataset.Name, Epochs: 4);
        // Interrupted by the restart before this page opened, so the page did not start or follow it.
        var interrupted = Scheduler.Add(FakeJobScheduler.Job(request.Title, JobState.Interrupted, 0.6, "epoch 3/4 · batch 2/4") with
        {
            ParametersJson = ModelJobJson.Write(request),
        });
        ModelTestData.WriteInterruptedRun(States.PathOf(interrupted.Id), epochsDone: 2, epochs: 4);
        Scheduler.Add(FakeJobScheduler.Job("Train vgg-tiny on synthetic", JobState.Cancelled, 0.3));

        var page = Render<ModelsDataPage>();

        var shown = Assert.Single(page.FindAll("[data-testid=training-progress]"));
        Assert.Equal(interrupted.Id.ToString(), shown.GetAttribute("data-job-id"));
        Assert.Equal("The app stopped while this job was running, so it did not finish. Last step: epoch 3/4 · batch 2/4. " +
                     "2 of 4 epochs were finished and saved; Resume continues with epoch 3.",
            Text(page, "[data-testid=training-progress] [data-testid=progress-message]"));

        await page.Find("[data-testid=training-progress] [data-testid=progress-resume]").ClickAsync(new MouseEventArgs());

        var resumed = Assert.Single(Scheduler.List(), j => j.Title == $"{request.Title} (resumed)");
        Assert.Equal(interrupted.Id, resumed.Links.Resumes);
        page.WaitForAssertion(() =>
        {
            var rows = page.FindAll("[data-testid=training-progress]");
            Assert.Equal(new[] { resumed.Id.ToString(), interrupted.Id.ToString() }.Order(), rows.Select(r => r.GetAttribute("data-job-id")).Order());
            Assert.Empty(page.FindAll("[data-testid=progress-resume]")); // its continuation is queued
        }, UiTimeout);
    }

    [Fact]
    public async Task AFailedTrainingSaysWhyAndCancelAsksTheScheduler()
    {
        var page = Render<ModelsDataPage>();
        await page.Find("[data-testid=start-training]").ClickAsync(new MouseEventArgs());
        var job = SingleJob(TrainingJob.Kind);
        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Running, Fraction = 0.1 }));
        page.WaitForAssertion(() => page.Find("[data-testid=training-progress] [data-testid=progress-cancel]").Click(), UiTimeout);
        Assert.Equal([job.Id], Scheduler.CancelRequests);

        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Failed, Error = "Training images: 70,000 asked, but the train part has 55,000." }));

        page.WaitForAssertion(() =>
        {
            Assert.Equal("Failed", Text(page, "[data-testid=training-progress] [data-testid=progress-state]"));
            Assert.Equal("Training images: 70,000 asked, but the train part has 55,000.", Text(page, "[data-testid=training-progress] [data-testid=progress-message]"));
        }, UiTimeout);
    }

    [Fact]
    public async Task EvaluationShowsTopOneTopFiveLossPerClassAndTheConfusionMatrixHeatmap()
    {
        var model = AddModel("Student", "vgg-tiny");
        var page = Render<ModelsDataPage>();

        await RowOf(page, "model-name", "Student").QuerySelector("[data-testid=evaluate-model]")!.ClickAsync(new MouseEventArgs());

        var job = SingleJob(EvaluationJob.Kind);
        Assert.Equal(new EvaluationRequest(model.Id), ModelJobJson.Read<EvaluationRequest>(job.ParametersJson));
        Assert.Equal("Evaluate Student on fashion-mnist (test)", job.Title);
        var classes = new[] { "cat", "dog", "bird" };
        var report = new EvaluationReport(model.Id, "Student", "vgg-tiny", "fashion-mnist", SplitPart.Test, 0.75, 1, 0.6931,
            [1.0, 0.5, null], [[2, 0, 0], [1, 1, 0], [0, 0, 0]], classes, 4, 0.1, StoredAccuracyUpdated: true);
        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Succeeded, Fraction = 1, ResultJson = ModelJobJson.Write(report) }));

        page.WaitForAssertion(() => Assert.Equal("75.00\u00a0%", Text(page, "[data-testid=evaluation-top1]")), UiTimeout);
        Assert.Equal("100.00\u00a0%", Text(page, "[data-testid=evaluation-top5]"));
        Assert.Equal("0.6931", Text(page, "[data-testid=evaluation-loss]"));
        Assert.Equal(["100.00\u00a0%", "50.00\u00a0%", "—"], page.FindAll("[data-testid=per-class-accuracy]").Select(e => e.TextContent.Trim()));
        var heatmap = page.FindComponent<HeatmapChart>();
        Assert.Equal(classes, heatmap.Instance.XLabels);
        Assert.Equal(classes, heatmap.Instance.YLabels);
        Assert.Equal([[2.0, 0, 0], [1, 1, 0], [0, 0, 0]], heatmap.Instance.Z.Select(row => row.ToArray()));
        Assert.Equal(("Predicted class", "True class"), (heatmap.Instance.XTitle, heatmap.Instance.YTitle));

        await page.Find("[data-testid=evaluate-validation]").ClickAsync(new MouseEventArgs());
        var again = Assert.Single(Scheduler.List(), j => j.Kind == EvaluationJob.Kind && j.Id != job.Id);
        Assert.Equal(SplitPart.Validation, ModelJobJson.Read<EvaluationRequest>(again.ParametersJson).Split);
    }

    [Fact]
    public async Task AFailedEvaluationIsShownInWords()
    {
        AddModel("Broken", "vgg-tiny");
        var page = Render<ModelsDataPage>();
        await RowOf(page, "model-name", "Broken").QuerySelector("[data-testid=evaluate-model]")!.ClickAsync(new MouseEventArgs());
        var job = SingleJob(EvaluationJob.Kind);

        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Failed, Error = "Checkpoint /w/models/ab.ckpt: the file is empty." }));

        page.WaitForAssertion(() => Assert.Equal("Checkpoint /w/models/ab.ckpt: the file is empty.",
            Text(page, "[data-testid=evaluation-progress] [data-testid=progress-message]")), UiTimeout);
        Assert.Empty(page.FindComponents<HeatmapChart>());
    }

    [Fact]
    public async Task TheFirstRunCardQueuesTheEstimateAsAJobShowsItsProgressThenTheMeasuredTime()
    {
        var page = Render<ModelsDataPage>();

        // Queued, not measured inline: the fake scheduler runs nothing until the test plays the worker.
        var job = SingleJob(StarterPairEstimateJob.Kind);
        Assert.Equal(JobState.Queued, job.State);
        Assert.Equal("Estimate the starter pair's training time on fashion-mnist", job.Title);
        Assert.Equal("{\"dataset\":\"fashion-mnist\"}", job.ParametersJson);
        page.WaitForAssertion(() => Assert.Equal("Queued: measuring this machine's training speed for an estimate starts in a moment.",
            Text(page, "[data-testid=estimate-queued]")), UiTimeout);

        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Running, Fraction = 0.5, Message = "Timing a few training batches of vgg-tiny (student)" }));
        page.WaitForAssertion(() => Assert.Equal("50\u00a0% · Timing a few training batches of vgg-tiny (student)", Text(page, "[data-testid=estimate-progress]")), UiTimeout);
        Assert.Contains("Measuring this machine's training speed for an estimate…", Text(page, "[data-testid=estimate-running]"), StringComparison.Ordinal);

        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Succeeded, Fraction = 1, ResultJson = EstimateResult() }));
        page.WaitForAssertion(() => Assert.Contains("Estimated time on this machine: about 14 min", Text(page, "[data-testid=first-run-estimate]"), StringComparison.Ordinal), UiTimeout);
        var estimate = Text(page, "[data-testid=first-run-estimate]");
        Assert.Contains("Teacher vgg-small: 288,554 parameters, 7 epochs of 430 batches, about 10 min", estimate, StringComparison.Ordinal);
        Assert.Contains("Student vgg-tiny: 29,102 parameters, 10 epochs of 430 batches, about 4 min", estimate, StringComparison.Ordinal);
        Assert.Contains("An estimate: a few training and evaluation batches", estimate, StringComparison.Ordinal);
        Assert.Empty(page.FindAll("[data-testid=first-run-synthetic]"));

        await page.Find("[data-testid=train-starter-pair]").ClickAsync(new MouseEventArgs());

        var requests = Scheduler.List().Where(j => j.Kind == TrainingJob.Kind).Select(j => ModelJobJson.Read<TrainingRequest>(j.ParametersJson)).ToList();
        Assert.Equal([("vgg-small", "fashion-mnist", "Teacher vgg-small"), ("vgg-tiny", "fashion-mnist", "Student vgg-tiny")],
            requests.Select(r => (r.Architecture, r.Dataset, r.DisplayName!)).OrderBy(r => r.Architecture));
        Assert.Empty(Scheduler.CancelRequests); // the estimate had finished: nothing to cancel
        // Training has started, so the card gives way to the progress bars.
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=first-run-card]")), UiTimeout);
        Assert.Equal(2, page.FindAll("[data-testid=training-progress]").Count);
    }

    [Fact]
    public void WhileAnotherJobRunsTheEstimateWaitsInTheQueueAndSaysBehindWhat()
    {
        Scheduler.Add(FakeJobScheduler.Job("Evaluate Student on fashion-mnist (test)", JobState.Running, 0.3, kind: EvaluationJob.Kind));

        var page = Render<ModelsDataPage>();

        Assert.Equal(JobState.Queued, SingleJob(StarterPairEstimateJob.Kind).State);
        page.WaitForAssertion(() => Assert.Equal(
            "Queued behind \"Evaluate Student on fashion-mnist (test)\": the training speed is measured when it finishes, so the two do not compete for the processor.",
            Text(page, "[data-testid=estimate-queued]")), UiTimeout);
        Assert.Equal("Queued", page.Find("[data-testid=first-run-estimate]").GetAttribute("data-state"));
        Assert.NotNull(page.Find("[data-testid=train-starter-pair]"));
    }

    [Fact]
    public async Task TheEstimateIsMeasuredOncePerDatasetAndReusedWhenThePageOpensAgain()
    {
        Render<ModelsDataPage>();
        var job = SingleJob(StarterPairEstimateJob.Kind);
        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Succeeded, Fraction = 1, ResultJson = EstimateResult() }));
        await DisposeComponentsAsync();

        var again = Render<ModelsDataPage>();

        Assert.Equal(job.Id, SingleJob(StarterPairEstimateJob.Kind).Id);
        again.WaitForAssertion(() => Assert.Contains("Estimated time on this machine: about 14 min", Text(again, "[data-testid=first-run-estimate]"), StringComparison.Ordinal), UiTimeout);
    }

    [Fact]
    public async Task AFailedMeasurementStillOffersThePairAndIsMeasuredAgainNextTime()
    {
        var page = Render<ModelsDataPage>();
        var job = SingleJob(StarterPairEstimateJob.Kind);

        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Failed, Error = "out of memory" }));

        page.WaitForAssertion(() => Assert.Equal("The time could not be measured: out of memory", Text(page, "[data-testid=first-run-estimate]")), UiTimeout);
        Assert.NotNull(page.Find("[data-testid=train-starter-pair]"));

        await DisposeComponentsAsync();
        Render<ModelsDataPage>();

        var retry = Assert.Single(Scheduler.List(), j => j.Kind == StarterPairEstimateJob.Kind && j.Id != job.Id);
        Assert.Equal(JobState.Queued, retry.State);
    }

    [Fact]
    public async Task StartingTheStarterPairCancelsAnEstimateStillWaiting()
    {
        var page = Render<ModelsDataPage>();
        var estimate = SingleJob(StarterPairEstimateJob.Kind);

        await page.Find("[data-testid=train-starter-pair]").ClickAsync(new MouseEventArgs());

        Assert.Equal([estimate.Id], Scheduler.CancelRequests);
        var trainings = Scheduler.List().Where(j => j.Kind == TrainingJob.Kind).ToList();
        Assert.Equal(2, trainings.Count);
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=first-run-card]")), UiTimeout);

        // Both trainings cancelled too: the card is back, with a new estimate queued in place of the cancelled one.
        await Task.Run(() =>
        {
            Scheduler.Publish(estimate with { State = JobState.Cancelled });
            foreach (var training in trainings)
            {
                Scheduler.Publish(training with { State = JobState.Cancelled });
            }
        });
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=estimate-queued]")), UiTimeout);
        Assert.Equal(JobState.Queued, Assert.Single(Scheduler.List(), j => j.Kind == StarterPairEstimateJob.Kind && j.Id != estimate.Id).State);
    }

    [Fact]
    public async Task AnUploadIsQueuedAsAnImportJobAndACorruptOneIsRefusedInWordsChangingNothing()
    {
        var (valid, corrupt) = CheckpointBytes();
        Scheduler.Add(FakeJobScheduler.Job("Sweep vgg-tiny", JobState.Running, 0.4, kind: "sweep"));
        var page = Render<ModelsDataPage>();

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(corrupt, "broken.ckpt"));

        // Uploaded into the workspace and queued behind the running job; nothing is checked or stored yet.
        page.WaitForAssertion(() => Assert.Equal("broken.ckpt is uploaded and queued behind \"Sweep vgg-tiny\": it is checked when that finishes.",
            Text(page, "[data-testid=upload-message]")), UiTimeout);
        var job = SingleJob(CheckpointImportJob.Kind);
        Assert.Equal(("Import broken.ckpt", JobState.Queued), (job.Title, job.State));
        Assert.Equal(new CheckpointImportRequest("broken.ckpt", corrupt.Length), ModelJobJson.Read<CheckpointImportRequest>(job.ParametersJson));
        var staged = Assert.Single(ModelFiles(), f => Path.GetFileName(f) == "broken.ckpt");
        Assert.StartsWith(CheckpointImport.StagingPrefix, staged, StringComparison.Ordinal);
        Assert.Equal(corrupt, File.ReadAllBytes(Path.Combine(Store.ModelsFolder, staged)));
        Assert.Empty(Store.List());
        Assert.True(page.Find("[data-testid=upload-button]").HasAttribute("disabled"));

        var failed = await Task.Run(() => Scheduler.RunAsync(job.Id));

        Assert.Equal(JobState.Failed, failed.State);
        page.WaitForAssertion(() => Assert.StartsWith("broken.ckpt was not imported: the weights are corrupt (SHA-256 ",
            Text(page, "[data-testid=upload-error]"), StringComparison.Ordinal), UiTimeout);
        Assert.Empty(Store.List());
        Assert.Empty(ModelFiles()); // the staged copy is gone and nothing was stored
        Assert.NotNull(page.Find("[data-testid=no-models]"));
        Assert.Empty(page.FindAll("[data-testid=upload-status]"));

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(valid, "my lenet.ckpt"));
        page.WaitForAssertion(() => Assert.Equal(JobState.Queued, Assert.Single(Scheduler.List(), j => j.Kind == CheckpointImportJob.Kind && j.Id != job.Id).State), UiTimeout);
        var second = Assert.Single(Scheduler.List(), j => j.Kind == CheckpointImportJob.Kind && j.Id != job.Id);
        // The new upload replaces the old refusal.
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=upload-error]")), UiTimeout);

        await Task.Run(() => Scheduler.RunAsync(second.Id));

        page.WaitForAssertion(() => Assert.Equal("87.65\u00a0%", RowOf(page, "model-name", "my lenet").QuerySelector("[data-testid=model-top1]")!.TextContent.Trim()), UiTimeout);
        Assert.Equal("Imported \"my lenet\": lenet-5 trained on fashion-mnist, test top-1 87.65\u00a0%.", Text(page, "[data-testid=upload-result]"));
        Assert.Empty(page.FindAll("[data-testid=upload-error]"));
        var model = Assert.Single(Store.List());
        Assert.Equal([$"{model.ContentHash}.ckpt"], ModelFiles());
    }

    [Fact]
    public async Task AnUploadCancelledWhileQueuedIsDeletedAndSaysSo()
    {
        var (valid, _) = CheckpointBytes();
        var page = Render<ModelsDataPage>();
        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(valid, "lenet.ckpt"));
        page.WaitForAssertion(() => Assert.Equal("Queued", page.Find("[data-testid=upload-status]").GetAttribute("data-state")), UiTimeout);
        var job = SingleJob(CheckpointImportJob.Kind);
        Assert.Single(ModelFiles(), f => Path.GetFileName(f) == "lenet.ckpt");

        await page.Find("[data-testid=upload-cancel]").ClickAsync(new MouseEventArgs());
        Assert.Equal([job.Id], Scheduler.CancelRequests);
        // What the scheduler does with a queued job it is asked to cancel: it ends without running.
        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Cancelled, Message = "Cancelled before it started" }));

        page.WaitForAssertion(() => Assert.Equal("lenet.ckpt was not imported: the check was cancelled.", Text(page, "[data-testid=upload-error]")), UiTimeout);
        Assert.Empty(ModelFiles());
        Assert.Empty(Store.List());
    }

    [Fact]
    public async Task DisposingThePageEndsItsSubscription()
    {
        // The app-wide cache of saved trainings subscribes once for the app's life, not per page.
        Services.GetRequiredService<SavedTrainings>();
        var appWide = Scheduler.SubscriberCount;
        Render<ModelsDataPage>();
        Assert.Equal(appWide + 1, Scheduler.SubscriberCount);

        await DisposeComponentsAsync();

        Assert.Equal(appWide, Scheduler.SubscriberCount);
    }

    /// <summary>Picks a value in a MudSelect as a click on its item would (the list is a popover bUnit does not open).</summary>
    private static async Task SelectAsync(IRenderedComponent<ModelsDataPage> page, string testId, string value)
    {
        var select = page.FindComponents<MudSelect<string>>().Single(s => Equals(s.Instance.UserAttributes.GetValueOrDefault("data-testid"), testId));
        await page.InvokeAsync(() => select.Instance.SelectOption(value));
    }
}

public sealed class ModelsDataPageWithoutFashionMnistTests() : ModelsDataPageTestBase(withFashionMnist: false)
{
    [Fact]
    public async Task OffersTheDownloadAndShowsItsProgress()
    {
        var page = Render<ModelsDataPage>();

        Assert.Contains("Fashion-MNIST was not found", Text(page, "[data-testid=fashion-missing]"), StringComparison.Ordinal);
        Assert.All(page.FindAll("[data-testid=location]"), l => Assert.Equal("false", l.GetAttribute("data-found")));
        await page.Find("[data-testid=download-fashion]").ClickAsync(new MouseEventArgs());

        var job = SingleJob(DatasetDownloadJob.Kind);
        Assert.Equal("Download Fashion-MNIST", job.Title);
        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Running, Fraction = 0.3, Message = "train-images-idx3-ubyte.gz: 7.6 of 25.2 MB" }));
        page.WaitForAssertion(() =>
        {
            Assert.Equal("30\u00a0%", Text(page, "[data-testid=download-progress] [data-testid=progress-percent]"));
            Assert.Equal("train-images-idx3-ubyte.gz: 7.6 of 25.2 MB", Text(page, "[data-testid=download-progress] [data-testid=progress-message]"));
            Assert.Empty(page.FindAll("[data-testid=download-fashion]"));
        }, UiTimeout);
    }

    [Fact]
    public async Task TheStarterPairFallsBackToSyntheticAndSaysSo()
    {
        var page = Render<ModelsDataPage>();

        Assert.Contains("synthetic dataset (generated in code)", Text(page, "[data-testid=first-run-synthetic]"), StringComparison.Ordinal);
        Assert.Equal("{\"dataset\":\"synthetic\"}", SingleJob(StarterPairEstimateJob.Kind).ParametersJson);
        await page.Find("[data-testid=train-starter-pair]").ClickAsync(new MouseEventArgs());

        var trainings = Scheduler.List().Where(j => j.Kind == TrainingJob.Kind).ToList();
        Assert.All(trainings, j => Assert.Equal("synthetic", ModelJobJson.Read<TrainingRequest>(j.ParametersJson).Dataset));
        Assert.Equal(2, trainings.Count);
    }

    [Fact]
    public void OnlySyntheticIsOfferedForTraining()
    {
        var page = Render<ModelsDataPage>();

        var datasets = page.FindComponents<MudSelect<string>>().Single(s => Equals(s.Instance.UserAttributes.GetValueOrDefault("data-testid"), "train-dataset"));
        Assert.Equal("synthetic", datasets.Instance.GetState(x => x.Value));
    }
}
