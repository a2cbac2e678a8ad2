using AngleSharp.Dom;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Pages.ModelsData;
using CompressionLab.Web.Services;
using Microsoft.AspNetCore.Components.Forms;
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
    private readonly PageServices services;

    protected ModelsDataPageTestBase(bool withFashionMnist)
        : this(new PageServices(withFashionMnist))
    {
    }

    private ModelsDataPageTestBase(PageServices services)
        : base(services.Register)
    {
        this.services = services;
    }

    internal ModelStore Store => services.Store;

    internal DatasetCatalog Catalog => services.Catalog;

    internal FixedEstimator Estimator => services.Estimator;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            services.Workspace.Dispose();
        }
    }

    /// <summary>Stores a file as a model (the store does not read it; the page only lists it).</summary>
    internal ModelRecord AddModel(string name, string arch = "vgg-tiny", double? top1 = 0.9123, long parameters = 29_000)
    {
        var file = Path.Combine(services.Workspace.Root, $"{Guid.NewGuid():N}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return Store.Import(file, new ModelEntry(name, arch, "fashion-mnist", top1, parameters));
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

    /// <summary>A temporary workspace and a catalog that searches only temporary folders (and the shared Fashion-MNIST when asked).</summary>
    private sealed class PageServices
    {
        public PageServices(bool withFashionMnist)
        {
            Store = new ModelStore(Workspace.OpenDatabase());
            Options = new DatasetOptions
            {
                Folders = withFashionMnist ? [TestData.FashionMnistFolder] : [],
                CacheFolder = Path.Combine(Workspace.Root, "cache"),
            };
            Catalog = new DatasetCatalog(Options, new DatasetSearchRoots([Path.Combine(Workspace.Root, "elsewhere")], Path.Combine(Workspace.Root, "no-system")));
        }

        public TempWorkspace Workspace { get; } = new();

        public ModelStore Store { get; }

        public DatasetOptions Options { get; }

        public DatasetCatalog Catalog { get; }

        public FixedEstimator Estimator { get; } = new();

        public void Register(IServiceCollection services)
        {
            services.AddSingleton(Store);
            services.AddSingleton(Catalog);
            services.AddSingleton(sp => new ModelJobs(sp.GetRequiredService<CompressionLab.Core.Jobs.IJobScheduler>(), Catalog, Store,
                new DatasetDownloader(Options, new HttpClient())));
            services.AddSingleton<IStarterPairEstimator>(Estimator);
        }
    }

    /// <summary>Answers at once with two made-up estimates, or with what a test sets.</summary>
    internal sealed class FixedEstimator : IStarterPairEstimator
    {
        public List<string> Asked { get; } = [];

        public Func<string, Task<IReadOnlyList<TrainingTimeEstimate>>> Answer { get; set; } = _ => Task.FromResult<IReadOnlyList<TrainingTimeEstimate>>(
        [
            // 7·430·0.2 s + 45,000·0.4 ms = 620 s; 10·430·0.05 s + 60,000·0.1 ms = 221 s; together 841 s, about 14 min.
            new("vgg-small", 7, 430, 0.2, 0.0004, 45_000, 288_554),
            new("vgg-tiny", 10, 430, 0.05, 0.0001, 60_000, 29_102),
        ]);

        public Task<IReadOnlyList<TrainingTimeEstimate>> EstimateAsync(string dataset)
        {
            lock (Asked) Asked.Add(dataset);
            return Answer(dataset);
        }
    }
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
        page.Find("[data-testid=start-training]").Click();

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
        page.Find("[data-testid=start-training]").Click();

        Assert.Empty(Scheduler.List());
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
        page.Find("[data-testid=start-training]").Click();
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
    public async Task AFailedTrainingSaysWhyAndCancelAsksTheScheduler()
    {
        var page = Render<ModelsDataPage>();
        page.Find("[data-testid=start-training]").Click();
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

        RowOf(page, "model-name", "Student").QuerySelector("[data-testid=evaluate-model]")!.Click();

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

        page.Find("[data-testid=evaluate-validation]").Click();
        var again = Assert.Single(Scheduler.List(), j => j.Kind == EvaluationJob.Kind && j.Id != job.Id);
        Assert.Equal(SplitPart.Validation, ModelJobJson.Read<EvaluationRequest>(again.ParametersJson).Split);
    }

    [Fact]
    public async Task AFailedEvaluationIsShownInWords()
    {
        AddModel("Broken", "vgg-tiny");
        var page = Render<ModelsDataPage>();
        RowOf(page, "model-name", "Broken").QuerySelector("[data-testid=evaluate-model]")!.Click();
        var job = SingleJob(EvaluationJob.Kind);

        await Task.Run(() => Scheduler.Publish(job with { State = JobState.Failed, Error = "Checkpoint /w/models/ab.ckpt: the file is empty." }));

        page.WaitForAssertion(() => Assert.Equal("Checkpoint /w/models/ab.ckpt: the file is empty.",
            Text(page, "[data-testid=evaluation-progress] [data-testid=progress-message]")), UiTimeout);
        Assert.Empty(page.FindComponents<HeatmapChart>());
    }

    [Fact]
    public void TheFirstRunCardOffersTheStarterPairWithAMeasuredEstimate()
    {
        var page = Render<ModelsDataPage>();

        page.WaitForAssertion(() => Assert.Contains("Estimated time on this machine: about 14 min", Text(page, "[data-testid=first-run-estimate]"), StringComparison.Ordinal), UiTimeout);
        var estimate = Text(page, "[data-testid=first-run-estimate]");
        Assert.Contains("Teacher vgg-small: 288,554 parameters, 7 epochs of 430 batches, about 10 min", estimate, StringComparison.Ordinal);
        Assert.Contains("Student vgg-tiny: 29,102 parameters, 10 epochs of 430 batches, about 4 min", estimate, StringComparison.Ordinal);
        Assert.Contains("An estimate: a few training and evaluation batches", estimate, StringComparison.Ordinal);
        Assert.Equal(["fashion-mnist"], Estimator.Asked);
        Assert.Empty(page.FindAll("[data-testid=first-run-synthetic]"));

        page.Find("[data-testid=train-starter-pair]").Click();

        var requests = Scheduler.List().Where(j => j.Kind == TrainingJob.Kind).Select(j => ModelJobJson.Read<TrainingRequest>(j.ParametersJson)).ToList();
        Assert.Equal([("vgg-small", "fashion-mnist", "Teacher vgg-small"), ("vgg-tiny", "fashion-mnist", "Student vgg-tiny")],
            requests.Select(r => (r.Architecture, r.Dataset, r.DisplayName!)).OrderBy(r => r.Architecture));
        // Training has started, so the card gives way to the progress bars.
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=first-run-card]")), UiTimeout);
        Assert.Equal(2, page.FindAll("[data-testid=training-progress]").Count);
    }

    [Fact]
    public void AFailedMeasurementStillOffersThePair()
    {
        Estimator.Answer = _ => Task.FromException<IReadOnlyList<TrainingTimeEstimate>>(new InvalidOperationException("out of memory"));

        var page = Render<ModelsDataPage>();

        page.WaitForAssertion(() => Assert.Equal("The time could not be measured: out of memory", Text(page, "[data-testid=first-run-estimate]")), UiTimeout);
        Assert.NotNull(page.Find("[data-testid=train-starter-pair]"));
    }

    [Fact]
    public void AValidUploadIsStoredAndACorruptOneIsRefusedInWordsChangingNothing()
    {
        manual_seed(41);
        var path = WriteFile("lenet.ckpt", []);
        using (var network = ModelZoo.Create(ModelZoo.Lenet5))
        {
            Checkpoint.Save(network, path, "fashion-mnist", IdxDataset.FashionMnistClasses, top1: 0.8765);
        }
        var valid = File.ReadAllBytes(path);
        var corrupt = (byte[])valid.Clone();
        corrupt[^5] ^= 0x5A;
        var page = Render<ModelsDataPage>();

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(corrupt, "broken.ckpt"));

        page.WaitForAssertion(() => Assert.StartsWith("broken.ckpt was not imported: the weights are corrupt (SHA-256 ",
            Text(page, "[data-testid=upload-error]"), StringComparison.Ordinal), UiTimeout);
        Assert.Empty(Store.List());
        Assert.NotNull(page.Find("[data-testid=no-models]"));

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(valid, "my lenet.ckpt"));

        page.WaitForAssertion(() => Assert.Equal("87.65\u00a0%", RowOf(page, "model-name", "my lenet").QuerySelector("[data-testid=model-top1]")!.TextContent.Trim()), UiTimeout);
        Assert.Equal("Imported \"my lenet\": lenet-5 trained on fashion-mnist, test top-1 87.65\u00a0%.", Text(page, "[data-testid=upload-result]"));
        Assert.Empty(page.FindAll("[data-testid=upload-error]"));
        Assert.Single(Store.List());
    }

    [Fact]
    public async Task DisposingThePageEndsItsSubscription()
    {
        Render<ModelsDataPage>();
        Assert.Equal(1, Scheduler.SubscriberCount);

        await DisposeComponentsAsync();

        Assert.Equal(0, Scheduler.SubscriberCount);
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
        page.Find("[data-testid=download-fashion]").Click();

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
    public void TheStarterPairFallsBackToSyntheticAndSaysSo()
    {
        var page = Render<ModelsDataPage>();

        Assert.Contains("synthetic dataset (generated in code)", Text(page, "[data-testid=first-run-synthetic]"), StringComparison.Ordinal);
        page.WaitForAssertion(() => Assert.Equal(["synthetic"], Estimator.Asked), UiTimeout);
        page.Find("[data-testid=train-starter-pair]").Click();

        Assert.All(Scheduler.List(), j => Assert.Equal("synthetic", ModelJobJson.Read<TrainingRequest>(j.ParametersJson).Dataset));
        Assert.Equal(2, Scheduler.List().Count);
    }

    [Fact]
    public void OnlySyntheticIsOfferedForTraining()
    {
        var page = Render<ModelsDataPage>();

        var datasets = page.FindComponents<MudSelect<string>>().Single(s => Equals(s.Instance.UserAttributes.GetValueOrDefault("data-testid"), "train-dataset"));
        Assert.Equal("synthetic", datasets.Instance.GetState(x => x.Value));
    }
}
