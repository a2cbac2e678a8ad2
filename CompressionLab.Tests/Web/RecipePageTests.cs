using CompressionLab.Core.Data;
using CompressionLab.Core.Export;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Reports;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Recipe;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.Extensions.DependencyInjection;

namespace CompressionLab.Tests.Web;

/// <summary>The Recipe page rendered over a temporary workspace, a fake recipe engine and the fake scheduler as the worker.</summary>
public sealed class RecipePageTests : DashboardTestContext
{
    private readonly PageWorkspace services;
    private readonly FakeRecipeBackend backend;

    public RecipePageTests()
        : this(new PageWorkspace())
    {
    }

    private RecipePageTests(PageWorkspace services)
        : base(collection =>
        {
            services.AddStores(collection);
            collection.AddSingleton<RecipeBackend>(sp => new FakeRecipeBackend((FakeJobScheduler)sp.GetRequiredService<IJobScheduler>()));
        })
    {
        this.services = services;
        backend = (FakeRecipeBackend)Services.GetRequiredService<RecipeBackend>();
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            services.Dispose();
        }
    }

    private ModelRecord AddModel(string name)
    {
        var file = Path.Combine(services.Workspace.Root, $"{Guid.NewGuid():N}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return services.Store.Import(file, new ModelEntry(name, ModelZoo.Lenet300100, SyntheticDataset.Name, 0.9, 1000));
    }

    [Fact]
    public void TheSectionsShowEachGapWithALinkToThePageThatFillsIt()
    {
        AddModel("lenet");
        var page = Render<RecipePage>();

        Assert.Equal("Recipe", page.Find("h1").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=planned-area]"));
        Assert.Equal(5, page.FindAll("[data-testid=recipe-section]").Count);
        var quantization = page.Find("[data-testid=recipe-section][data-section=quantization]");
        Assert.Equal("false", quantization.GetAttribute("data-present"));
        Assert.Contains("No calibration yet: run it on the Quantization page", quantization.TextContent);
        Assert.Equal("/quantization", quantization.QuerySelector("[data-testid=gap-link]")!.GetAttribute("href"));
        Assert.Equal("true", page.Find("[data-section=provenance]").GetAttribute("data-present"));
        Assert.Equal("/pruning", page.Find("[data-section=pruning] [data-testid=gap-link]").GetAttribute("href"));
        Assert.Empty(page.FindAll("[data-testid=recipe-files]"));
    }

    [Fact]
    public async Task EveryFileTheBuildWroteIsOfferedWithItsSizeAndTheAppsDownloadRoute()
    {
        AddModel("lenet");
        var recipe = SampleRecipe.Create();
        var page = Render<RecipePage>();

        await page.Find("button[data-testid=build-recipe]").ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs());
        var job = Assert.Single(Scheduler.List(), j => j.Kind == RecipeBackend.BuildKind);
        backend.BuildResult = new BuiltRecipe(recipe, SampleDownloads.Of(job.Id, ("recipe.yaml", 999), ("recipe.json", 1500), ("distiller_activation_stats.yaml", 4321),
            ("pytorch_model.safetensors", 1_068_000), ("pytorch_model_pruned.safetensors", 686_760)));
        await Scheduler.RunAsync(job.Id);

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=download-recipe-yaml]")), UiTimeout);
        Assert.Equal(["recipe.yaml", "recipe.json", "distiller_activation_stats.yaml", "pytorch_model.safetensors", "pytorch_model_pruned.safetensors"],
            page.FindAll("[data-testid=download-list] a[download]").Select(a => a.GetAttribute("download")));
        var state = page.Find("[data-testid=download-pytorch_model-safetensors]");
        Assert.Equal($"/recipes/{job.Id:D}/pytorch_model.safetensors", state.GetAttribute("href"));
        Assert.Equal("1068000", state.GetAttribute("data-bytes"));
        Assert.Contains("(1.1 MB)", state.TextContent);
        Assert.Contains("(686.8 kB)", page.Find("[data-testid=download-pytorch_model_pruned-safetensors]").TextContent);
        Assert.Contains("(999 B)", page.Find("[data-testid=download-recipe-yaml]").TextContent);
        Assert.Contains("lacks, for whoever reads them: quantization.", page.Find("[data-testid=built-gaps]").TextContent);
        Assert.Contains("75.00 % as it is", page.Find("[data-section=results]").TextContent);
    }

    [Fact]
    public async Task ABuiltRecipeWithoutCalibrationExportsFloatOnnxShowsOrtBesideTheEngineAndNamesTheInt8Gap()
    {
        AddModel("lenet");
        var page = Render<RecipePage>();
        Assert.NotNull(page.Find("[data-testid=onnx-needs-build]"));

        await page.Find("button[data-testid=build-recipe]").ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs());
        var build = Assert.Single(Scheduler.List(), j => j.Kind == RecipeBackend.BuildKind);
        backend.BuildResult = new BuiltRecipe(SampleRecipe.Create(), SampleDownloads.Of(build.Id, ("recipe.yaml", 999)));
        await Scheduler.RunAsync(build.Id);
        page.WaitForAssertion(() => Assert.NotNull(page.Find("button[data-testid=export-onnx-float]")), UiTimeout);

        Assert.True(page.Find("button[data-testid=export-onnx-int8]").HasAttribute("disabled"));
        var gap = page.Find("[data-testid=onnx-int8-gap]");
        Assert.Contains("No calibration yet", gap.TextContent);
        Assert.Equal("/quantization", gap.QuerySelector("[data-testid=gap-link]")!.GetAttribute("href"));

        await page.Find("button[data-testid=export-onnx-float]").ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs());
        var export = Assert.Single(Scheduler.List(), j => j.Kind == OnnxExportJob.Kind);
        Assert.Equal((build.Id, false), (backend.Exports.Single().Build, backend.Exports.Single().Int8));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=onnx-progress] [data-testid=progress-cancel]")), UiTimeout);
        backend.OnnxResult = new RecipeOnnxExport(SampleExport(0.75, 0.75, 1.24e-5), new RecipeDownload("lenet-300-100.float32.onnx", 682_833, RecipeDownload.HrefOf(export.Id, "lenet-300-100.float32.onnx")));
        await Scheduler.RunAsync(export.Id);

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=onnx-table]")), UiTimeout);
        var top1 = page.Find("[data-testid=onnx-row][data-what=Top-1]");
        Assert.Equal("75.00 %", top1.QuerySelector("[data-testid=onnx-ort]")!.TextContent.Trim());
        Assert.Equal("75.00 %", top1.QuerySelector("[data-testid=onnx-engine]")!.TextContent.Trim());
        Assert.Contains("1.24e-05", page.Find("[data-testid=onnx-table]").TextContent);
        Assert.Contains("Engine (TorchSharp, float32)", page.Find("[data-testid=onnx-table] thead").TextContent);
        Assert.Contains("within 1e-4 of the engine", page.Find("[data-testid=onnx-tolerance]").TextContent);
        var download = page.Find("[data-testid=download-onnx]");
        Assert.Equal($"/recipes/{export.Id:D}/lenet-300-100.float32.onnx", download.GetAttribute("href"));
        Assert.Contains("(682.8 kB)", download.TextContent);
        Assert.Contains("ONNX Runtime 75.00 %, engine 75.00 %", page.Find("[data-testid=onnx-progress] [data-testid=progress-message]").TextContent);
    }

    [Fact]
    public async Task MakeTheReportRunsAJobThenOffersTheHtmlFile()
    {
        AddModel("lenet");
        var page = Render<RecipePage>();

        await page.Find("button[data-testid=make-report]").ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs());
        var job = Assert.Single(Scheduler.List(), j => j.Kind == ReportJobs.Kind);
        backend.ReportResult = new RecipeReport(new ReportJobResult("/w/reports/x/report-lenet.html", ["model", "calibration"],
            [new ReportGap("sensitivity", "No sensitivity sweep")], 110_000), new RecipeDownload("report-lenet.html", 110_000, RecipeDownload.HrefOf(job.Id, "report-lenet.html")));
        await Scheduler.RunAsync(job.Id);

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=download-report]")), UiTimeout);
        var download = page.Find("[data-testid=download-report]");
        Assert.Equal("report-lenet.html", download.GetAttribute("download"));
        Assert.Equal($"/recipes/{job.Id:D}/report-lenet.html", download.GetAttribute("href"));
        Assert.Contains("Sections: model, calibration; missing: sensitivity.", page.Find("[data-testid=report-sections]").TextContent);
    }

    internal static OnnxExportOutcome SampleExport(double ort, double engine, double maxAbsDiff, string quantization = "float32") =>
        new("/w/recipes/x/onnx/lenet-300-100.float32.onnx", quantization, ModelZoo.Lenet300100, SampleRecipe.WeightsHash, "fashion-mnist", "validation/stratified-4/0123456789ab", null,
            new OnnxCheck(ort, engine, maxAbsDiff, 4, 0), 682_833, 685_197, true, 0.5);

    [Fact]
    public void AnUploadOverTheLimitOrMalformedIsRefusedAboveTheButtonAndAGoodOneCanBeApplied()
    {
        AddModel("lenet");
        var page = Render<RecipePage>();

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(new byte[RecipePageModel.UploadLimitBytes + 10], "big.yaml"));
        page.WaitForAssertion(() => Assert.Contains("big.yaml is 1.0 MB; a recipe file is at most 1 MB", page.Find("[data-testid=upload-error]").TextContent), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=apply-recipe]"));

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText(SampleRecipe.Yaml().Replace("version: 1", "version: 2", StringComparison.Ordinal), "recipe.yaml"));
        page.WaitForAssertion(() => Assert.Contains("(version): recipe format version 2 was written by a newer CompressionLab", page.Find("[data-testid=upload-error]").TextContent), UiTimeout);
        Assert.Contains("line ", page.Find("[data-testid=upload-error]").TextContent);

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText(SampleRecipe.Yaml(), "recipe.yaml"));
        page.WaitForAssertion(() => Assert.Contains("recipe.yaml", page.Find("[data-testid=uploaded-summary]").TextContent), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=upload-error]"));
        Assert.Contains("recorded top-1 50.00 % on 4 validation images", page.Find("[data-testid=uploaded-summary]").TextContent);
        Assert.NotNull(page.Find("[data-testid=apply-other-model]"));
        Assert.False(page.Find("button[data-testid=apply-recipe]").HasAttribute("disabled"));
    }
}
