using CompressionLab.Core.Data;
using CompressionLab.Core.Export;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Recipe;

namespace CompressionLab.Tests.Web;

/// <summary>The Recipe page's model without a renderer: a temporary workspace for the models, seeded sources, the fake scheduler as the worker.</summary>
public sealed class RecipePageModelTests : IDisposable
{
    private readonly PageWorkspace workspace = new();
    private readonly FakeJobScheduler scheduler = new();
    private readonly FakeRecipeBackend backend;
    private readonly ModelRecord model;

    public RecipePageModelTests()
    {
        backend = new FakeRecipeBackend(scheduler);
        model = Import("lenet");
    }

    public void Dispose() => workspace.Dispose();

    private ModelRecord Import(string name)
    {
        var file = Path.Combine(workspace.Workspace.Root, $"{name}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return workspace.Store.Import(file, new ModelEntry(name, ModelZoo.Lenet300100, SyntheticDataset.Name, 0.9, 1000));
    }

    private RecipePageModel Open() => new(scheduler, workspace.Store, backend, () => { });

    private static StoredPlanEvaluation Plan(string hash, double sparsity, double top1, DateTimeOffset at) =>
        new(new PlanEvaluationKey(SampleRecipe.WeightsHash, SyntheticDataset.Name, "validation/stratified-500/aaaaaaaaaaaa", hash), "lenet", ModelZoo.Lenet300100, 500,
            [new PlanLevel("fc1", 0.8, "element"), new PlanLevel("fc2", 0, "element")], new PlanMeasurement(top1, 0.99, 0.4, 500, 1.5), sparsity, 1000, 1000, null, at);

    private void SeedEverything(ModelRecord record)
    {
        var at = new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
        backend.Stored[record.Id] = new RecipeSources(SampleRecipe.WeightsHash, new CheckpointLineage("fine-tune", "00ff", "dense parent"),
            [Plan("1111111111111111", 0.62, 0.871, at.AddHours(1)), Plan("2222222222222222", 0.4, 0.9, at)],
            [new RecipeCalibrationOption(new CalibrationProfileKey(SampleRecipe.WeightsHash, SyntheticDataset.Name, "validation/stratified-512/bbbbbbbbbbbb"), 512)],
            new RecipeDistillationSource(Guid.NewGuid(), "student", true, "soft+hard T=4 alpha=0.9 t2=on", 2));
    }

    private static RecipeSectionView Section(RecipePageModel page, string name) => Assert.Single(page.Sections, s => s.Section == name);

    [Fact]
    public void AModelWithNothingStoredShowsEachGapWithThePageThatFillsIt()
    {
        using var page = Open();

        Assert.Equal(model.Id, page.Model?.Id);
        Assert.Equal(["provenance", "results", "pruning", "distillation", "quantization"], page.Sections.Select(s => s.Section));
        Assert.True(Section(page, "provenance").Present);
        Assert.Contains("no lineage", Section(page, "provenance").Text);
        var quantization = Section(page, "quantization");
        Assert.False(quantization.Present);
        Assert.StartsWith("No calibration yet: run it on the Quantization page", quantization.Text);
        Assert.Equal("/quantization", quantization.GapHref);
        Assert.Equal("/pruning", Section(page, "pruning").GapHref);
        Assert.Equal("/distillation", Section(page, "distillation").GapHref);
        Assert.Null(page.Plan);
        Assert.Null(page.Calibration);
    }

    [Fact]
    public void StoredPlansCalibrationAndLineageFillTheSectionsAndChoosingNoneBringsTheGapBack()
    {
        SeedEverything(model);
        using var page = Open();

        // The newest plan and the stored calibration are chosen at first.
        Assert.Equal("1111111111111111", page.Plan?.PlanHash);
        Assert.All(page.Sections, s => Assert.True(s.Present, s.Section));
        Assert.Contains("62.0 %", Section(page, "pruning").Text);
        Assert.Contains("87.10 %", Section(page, "pruning").Text);
        Assert.Contains("mse for every layer", Section(page, "quantization").Text);
        Assert.Contains("512", Section(page, "quantization").Text);
        Assert.Contains("Its parent student was distilled", Section(page, "distillation").Text);
        Assert.Contains("made by fine-tune from dense parent", Section(page, "provenance").Text);

        page.SetCalibrationMethod("entropy");
        Assert.Contains("entropy for every layer", Section(page, "quantization").Text);
        page.SetCalibrationMethod("kl");
        Assert.NotNull(page.Error);
        Assert.Equal("entropy", page.CalibrationMethod);

        page.SelectCalibration(null);
        page.SelectPlan(null);
        Assert.False(Section(page, "quantization").Present);
        Assert.False(Section(page, "pruning").Present);
        page.SelectPlan(new PlanEvaluationKey("x", "y", "z", "not stored"));
        Assert.NotNull(page.Error);
        Assert.Null(page.Plan);
    }

    [Fact]
    public async Task BuildingRunsAJobWithTheChoiceThenOffersItsFilesAndTheMeasuredNumbersUntilTheChoiceChanges()
    {
        SeedEverything(model);
        using var page = Open();
        page.SetSubsetSize(300);
        var recipe = SampleRecipe.Create();
        backend.BuildResult = new BuiltRecipe(recipe, SampleDownloads.Of(Guid.NewGuid(), ("recipe.yaml", 1200), ("recipe.json", 1500)));

        var job = page.StartBuild();
        Assert.NotNull(job);
        Assert.True(page.Building);
        var choice = Assert.Single(backend.Builds);
        Assert.Equal(300, choice.SubsetSize);
        Assert.Equal("1111111111111111", choice.Plan?.PlanHash);
        Assert.Equal("mse", choice.CalibrationMethod);
        Assert.NotNull(choice.Distillation); // the distilled parent's checkpoint is passed on

        await scheduler.RunAsync(job!.Id);
        Assert.Null(page.ApplyUpdates());
        Assert.Equal(["recipe.yaml", "recipe.json"], page.Built!.Files.Select(f => f.FileName));
        Assert.False(page.BuiltIsStale);
        Assert.Contains("75.00 % as it is → 50.00 % with the recipe, on 4 validation images", Section(page, "results").Text);

        page.SetCalibrationMethod("max");
        Assert.True(page.BuiltIsStale);
        Assert.StartsWith("Measured when you build", Section(page, "results").Text);
    }

    [Fact]
    public void ReopenedThePageOffersTheModelsNewestFinishedBuildWithoutClaimingItMatchesTheSections()
    {
        var other = Import("other");
        var recipe = SampleRecipe.Create();
        backend.BuildResult = new BuiltRecipe(recipe, SampleDownloads.Of(Guid.NewGuid(), ("recipe.yaml", 1200)));
        var earlier = scheduler.Add(FakeJobScheduler.Job("Build recipe · lenet", JobState.Succeeded, kind: RecipeBackend.BuildKind) with { Links = new JobLinks(Subject: model.Id) });
        scheduler.Add(FakeJobScheduler.Job("Build recipe · other", JobState.Failed, kind: RecipeBackend.BuildKind) with { Links = new JobLinks(Subject: model.Id) });

        using var page = Open();
        page.SelectModel(model.Id);
        Assert.Equal(earlier.Id, page.BuiltEarlier?.Id);
        Assert.Equal("recipe.yaml", Assert.Single(page.Built!.Files).FileName);
        Assert.False(page.BuiltIsStale);
        Assert.StartsWith("Measured when you build", Section(page, "results").Text);

        page.SelectModel(other.Id);
        Assert.Null(page.Built);
        Assert.Null(page.BuiltEarlier);
    }

    [Fact]
    public void AFileOverTheLimitIsRefusedBeforeItIsRead()
    {
        using var page = Open();
        Assert.False(page.AcceptsSize("huge.yaml", RecipePageModel.UploadLimitBytes + 1));
        Assert.Contains("huge.yaml is 1.0 MB; a recipe file is at most 1 MB", page.UploadError);
        Assert.Null(page.Uploaded);
        Assert.True(page.AcceptsSize("recipe.yaml", RecipePageModel.UploadLimitBytes));
    }

    [Fact]
    public void AMalformedOrTamperedRecipeIsRefusedNamingItsLineAndField()
    {
        using var page = Open();
        var yaml = SampleRecipe.Yaml();

        // A result top-1 that is not correct / samples: edited by hand.
        var lines = yaml.Split('\n');
        var index = Array.FindIndex(lines, l => l.Trim() == "top1: 0.5");
        Assert.True(index >= 0, yaml);
        lines[index] = lines[index].Replace("0.5", "0.6", StringComparison.Ordinal);
        page.Upload("recipe.yaml", string.Join('\n', lines));
        Assert.Null(page.Uploaded);
        Assert.Contains($"line {index + 1}", page.UploadError);
        Assert.Contains("results.result.top1", page.UploadError);

        page.Upload("recipe.yaml", yaml.Replace("version: 1", "version: 7", StringComparison.Ordinal));
        Assert.Contains("(version)", page.UploadError);
        Assert.Contains("newer CompressionLab", page.UploadError);

        page.Upload("recipe.json", "{\"format\": \"compressionlab-recipe\", \"version\": 1, ");
        Assert.Contains("line 1", page.UploadError);
        Assert.Null(page.Uploaded);
    }

    [Fact]
    public async Task AnUploadedRecipeIsAppliedToTheModelWithItsWeightsAndShowsMeasuredBesideRecorded()
    {
        var other = Import("other");
        SeedEverything(model);
        using var page = Open();
        page.SelectModel(other.Id);

        page.Upload("recipe.yaml", SampleRecipe.Yaml());
        Assert.Null(page.UploadError);
        Assert.Equal(model.Id, page.ApplyModel?.Id); // the recipe's weights, not the model chosen above
        Assert.True(page.ApplyModelIsRecipes);
        backend.ApplyResult = new RecipeApplyJobResult(model.Id, "lenet", SampleRecipe.WeightsHash, "recipe.yaml", "fashion-mnist", "validation/stratified-4/0123456789ab", 4,
            0.5, 0.5, 0.75, 0.75, 2, 2, 0, 0, 0, 0, true, true, 0.2);

        var job = page.StartApply();
        await scheduler.RunAsync(job!.Id);
        page.ApplyUpdates();

        Assert.Equal(("lenet", "recipe.yaml"), (backend.Applies.Single().Model.DisplayName, backend.Applies.Single().FileName));
        Assert.True(page.Applied!.MatchesRecorded);
        var top1 = page.Comparison[0];
        Assert.Equal(("50.00 %", "50.00 %", true), (top1.Measured, top1.Recorded, top1.Same));
        Assert.Equal("2 of 4", page.Comparison[2].Measured);
        Assert.Null(page.ApplyRefusal);
    }

    [Fact]
    public async Task ARecipeOfOtherWeightsIsRefusedInPlaceAndTheWorkspaceIsUnchanged()
    {
        using var page = Open();
        var before = workspace.Store.List();
        page.Upload("recipe.yaml", SampleRecipe.Yaml());
        Assert.Equal(model.Id, page.ApplyModel?.Id); // no model has its weights: the one chosen above
        Assert.False(page.ApplyModelIsRecipes);
        backend.ApplyRefusal = "recipe.yaml is for another model than lenet: weights hash: the recipe's is ab12cd34ef56…, the model's f…. Nothing was applied.";

        var job = page.StartApply();
        var final = await scheduler.RunAsync(job!.Id);
        page.ApplyUpdates();

        Assert.Equal(JobState.Failed, final.State);
        Assert.Equal(backend.ApplyRefusal, page.ApplyRefusal);
        Assert.Null(page.Applied);
        Assert.Empty(page.Comparison);
        Assert.Equal(before.Select(m => (m.Id, m.ContentHash)), workspace.Store.List().Select(m => (m.Id, m.ContentHash)));
    }

    private async Task<(RecipePageModel Page, JobSnapshot Build)> BuiltAsync()
    {
        var page = Open();
        var build = page.StartBuild()!;
        backend.BuildResult = new BuiltRecipe(SampleRecipe.Create(), SampleDownloads.Of(build.Id, ("recipe.yaml", 1200)));
        await scheduler.RunAsync(build.Id);
        Assert.Null(page.ApplyUpdates());
        return (page, build);
    }

    [Fact]
    public async Task OnnxIsExportedFromTheBuiltRecipeAndItsCheckIsShownOrtBesideTheEngine()
    {
        using var unbuilt = Open();
        Assert.Null(unbuilt.StartOnnx(int8: false));
        Assert.StartsWith("Build the recipe first", unbuilt.Error);
        Assert.Empty(backend.Exports);

        var (page, build) = await BuiltAsync();
        using var _ = page;
        var job = page.StartOnnx(int8: false);
        Assert.NotNull(job);
        Assert.True(page.Exporting);
        Assert.Equal((model.Id, build.Id, false), (backend.Exports.Single().Model.Id, backend.Exports.Single().Build, backend.Exports.Single().Int8));
        backend.OnnxResult = new RecipeOnnxExport(RecipePageTests.SampleExport(0.9299, 0.9301, 0.087, "int8:symmetric:mse"), new RecipeDownload("lenet-300-100.int8.onnx", 186_499, "/x"));
        await scheduler.RunAsync(job!.Id);
        page.ApplyUpdates();

        Assert.False(page.Exporting);
        Assert.Equal(("Top-1", "92.99 %", "93.01 %"), (page.OnnxRows[0].What, page.OnnxRows[0].Onnx, page.OnnxRows[0].Engine));
        Assert.Equal("8.70e-02", page.OnnxRows[1].Onnx);
        Assert.Equal("0 of 4 images", page.OnnxRows[2].Onnx);
        Assert.Equal(("186.5 kB", "685.2 kB (checkpoint)"), (page.OnnxRows[3].Onnx, page.OnnxRows[3].Engine));
        Assert.Equal("Simulated INT8 (engine)", page.OnnxEngineLabel);
        Assert.Equal("INT8 QDQ: ONNX Runtime 92.99 %, simulated INT8 93.01 %, max |Δlogit| 8.70e-02; within tolerance.", page.OnnxOutcome);

        // A new build is of another recipe: the earlier export's numbers go with it.
        page.StartBuild();
        Assert.Null(page.Exported);
        Assert.Empty(page.OnnxRows);
    }

    [Fact]
    public async Task Int8OnnxOfARecipeWithoutCalibrationIsAGapThatLinksToQuantizationAndARefusedExportIsShownInPlace()
    {
        var (page, _) = await BuiltAsync();
        using var __ = page;
        Assert.False(page.BuiltHasInt8);
        var gap = page.OnnxInt8Gap;
        Assert.NotNull(gap);
        Assert.StartsWith("No calibration yet", gap!.Text);
        Assert.Equal("/quantization", gap.GapHref);
        Assert.Null(page.StartOnnx(int8: true));
        Assert.Equal(gap.Text, page.Error);
        Assert.Empty(backend.Exports);

        backend.OnnxRefusal = "recipe.yaml is for another model than lenet: weights hash: … Nothing was exported.";
        var job = page.StartOnnx(int8: false);
        var final = await scheduler.RunAsync(job!.Id);
        page.ApplyUpdates();
        Assert.Equal(JobState.Failed, final.State);
        Assert.Equal(backend.OnnxRefusal, page.OnnxRefusal);
        Assert.Null(page.Exported);
    }

    [Fact]
    public async Task TheReportIsMadeForTheChoiceAsAJobAndItsFailureIsKept()
    {
        SeedEverything(model);
        using var page = Open();
        page.SetCalibrationMethod("entropy");
        var job = page.StartReport();
        Assert.NotNull(job);
        Assert.True(page.Reporting);
        var choice = Assert.Single(backend.Reports);
        Assert.Equal(("1111111111111111", "entropy"), (choice.Plan?.PlanHash, choice.CalibrationMethod));

        backend.ReportResult = new RecipeReport(new Core.Reports.ReportJobResult("/w/r.html", ["model"], [], 10), new RecipeDownload("r.html", 10, "/x"));
        await scheduler.RunAsync(job!.Id);
        page.ApplyUpdates();
        Assert.Equal("r.html", page.Report?.File.FileName);
        Assert.Null(page.ReportError);

        backend.ReportResult = null; // the file is gone when the job's result is read
        var again = page.StartReport();
        await scheduler.RunAsync(again!.Id);
        page.ApplyUpdates();
        Assert.StartsWith("The report was written but cannot be read", page.ReportError);
    }

    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(999, "999 B")]
    [InlineData(1000, "1.0 kB")]
    [InlineData(686_760, "686.8 kB")]
    [InlineData(1_068_000, "1.1 MB")]
    public void DownloadSizesAreWrittenInDecimalUnits(long bytes, string expected) =>
        Assert.Equal(expected, new RecipeDownload("f", bytes, "").Size);

    [Fact]
    public void ADownloadRouteEscapesTheFileName() =>
        Assert.Equal("/recipes/00000000-0000-0000-0000-000000000001/a%20b.yaml", RecipeDownload.HrefOf(new Guid("00000000-0000-0000-0000-000000000001"), "a b.yaml"));
}

/// <summary>What the app's download route serves (<see cref="CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf"/>): only files a finished job lists.</summary>
public sealed class RecipeDownloadRouteTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("clab-recipe-route-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static JobSnapshot Job(string kind, JobState state, string? result) =>
        FakeJobScheduler.Job("job", state, kind: kind) with { ResultJson = result };

    [Fact]
    public void OnlyAFileTheFinishedJobListsIsServed()
    {
        foreach (var name in new[] { "recipe.yaml", "pytorch_model.safetensors", "secret.txt" }) File.WriteAllText(Path.Combine(folder, name), name);
        var onnx = Path.Combine(folder, "m.int8.onnx");
        File.WriteAllBytes(onnx, [1, 2, 3]);
        var build = ModelJobJson.Write(new CompressionLab.Web.Services.RecipeBuildResult(folder, ["recipe.yaml", "pytorch_model.safetensors", "gone.json"]));
        var served = Job(RecipeBackend.BuildKind, JobState.Succeeded, build);

        Assert.Equal(Path.Combine(folder, "pytorch_model.safetensors"), CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(served, "pytorch_model.safetensors"));
        Assert.Null(CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(served, "secret.txt")); // in the folder, not listed
        Assert.Null(CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(served, "../secret.txt"));
        Assert.Null(CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(served, "gone.json")); // listed, deleted since
        Assert.Null(CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(Job(RecipeBackend.BuildKind, JobState.Running, build), "recipe.yaml"));
        Assert.Null(CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(Job(RecipeApplyJob.Kind, JobState.Succeeded, build), "recipe.yaml"));
        Assert.Null(CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(Job(RecipeBackend.BuildKind, JobState.Succeeded, "not json"), "recipe.yaml"));

        var export = ModelJobJson.Write(RecipePageTests.SampleExport(0.5, 0.5, 0) with { Out = onnx });
        Assert.Equal(onnx, CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(Job(OnnxExportJob.Kind, JobState.Succeeded, export), "m.int8.onnx"));
        Assert.Null(CompressionLab.Web.Services.WorkspaceRecipeBackend.FileOf(Job(OnnxExportJob.Kind, JobState.Succeeded, export), "recipe.yaml"));
    }
}
