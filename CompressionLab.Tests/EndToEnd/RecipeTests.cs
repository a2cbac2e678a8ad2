using CompressionLab.Core.Export;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;
using CompressionLab.Web.Components.Pages.Recipe;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>The Recipe page driven from a browser, on an app of its own (its builds and applies must not show up elsewhere).</summary>
[CollectionDefinition(Name)]
public sealed class RecipeCollection : ICollectionFixture<DashboardApp>
{
    public const string Name = "Recipe in a browser";
}

[Collection(RecipeCollection.Name)]
public class RecipeTests(DashboardApp app, ITestOutputHelper output)
{
    [Fact]
    public async Task ARecipeBuiltInTheBrowserOffersEveryFileExportsOnnxCheckedInOrtAndIsUploadedAppliedAndMeasuresWhatItRecorded()
    {
        // Another architecture first (the newest model is chosen first), then a lenet trained briefly with a plan evaluated for it.
        var other = WorkspaceSeed.Import(app.WorkspaceFolder, ModelZoo.Lenet5, trainingImages: 0);
        var model = WorkspaceSeed.ImportLenet(app.WorkspaceFolder, trainingImages: 3000);
        var plan = WorkspaceSeed.EvaluatePlan(app.WorkspaceFolder, model, rate: 0.6, subsetSize: 300);
        WorkspaceSeed.Calibrate(app.WorkspaceFolder, model, subsetSize: 128);

        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;
        await tab.GotoAsync("/recipe");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Recipe");
        await Expect(page.GetByTestId("recipe-model")).ToContainTextAsync(model.DisplayName);
        await Expect(page.Locator("[data-testid=recipe-section][data-section=pruning]")).ToHaveAttributeAsync("data-present", "true");
        // The stored calibration is chosen; without it, quantization is a gap that links to the page that fills it.
        var quantization = page.Locator("[data-testid=recipe-section][data-section=quantization]");
        await Expect(quantization).ToHaveAttributeAsync("data-present", "true");
        await PickAsync(page, "recipe-calibration", "none (float)");
        await Expect(quantization).ToHaveAttributeAsync("data-present", "false");
        await Expect(quantization).ToContainTextAsync("No calibration yet: run it on the Quantization page");
        await Expect(quantization.GetByTestId("gap-link")).ToHaveAttributeAsync("href", "/quantization");
        await tab.ScreenshotAsync("recipe-gap");
        await PickAsync(page, "recipe-calibration", "128 fashion-mnist images");
        await Expect(quantization).ToHaveAttributeAsync("data-present", "true");
        await Expect(quantization).ToContainTextAsync("Simulated INT8, mse for every layer's input");

        var subset = page.Locator("input[data-testid=recipe-subset]");
        await subset.FillAsync("300");
        await subset.BlurAsync();
        await page.GetByTestId("build-recipe").ClickAsync();
        await Expect(page.GetByTestId("build-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
        await Expect(page.Locator("[data-section=results]")).ToContainTextAsync("with the recipe, on 300 validation images");
        await tab.ScreenshotAsync("recipe-built");

        // Download recipe.yaml as a browser does, then upload that very file.
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("download-recipe-yaml").ClickAsync());
        Assert.Equal("recipe.yaml", download.SuggestedFilename);
        var folder = Directory.CreateTempSubdirectory("clab-e2e-recipe-").FullName;
        try
        {
            var file = Path.Combine(folder, "recipe.yaml");
            await download.SaveAsAsync(file);
            var text = await File.ReadAllTextAsync(file);
            var recipe = RecipeFile.Parse(text, "recipe.yaml");
            Assert.Equal(plan.Key.PlanHash, recipe.Pruning?.PlanHash);
            await CheckEveryFileOnnxAndReportAsync(tab, folder, recipe);

            await page.Locator("[data-testid=upload-recipe] input[type=file]").SetInputFilesAsync(file);
            await Expect(page.GetByTestId("uploaded-summary")).ToContainTextAsync("recipe.yaml");
            await Expect(page.GetByTestId("apply-model")).ToContainTextAsync(model.DisplayName);
            await page.GetByTestId("apply-recipe").ClickAsync();
            await Expect(page.GetByTestId("apply-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
            await Expect(page.GetByTestId("apply-match")).ToContainTextAsync("matches: the same images right");
            await Expect(page.GetByTestId("apply-detail")).ToContainTextAsync("2 masks reproduced");
            await Expect(page.GetByTestId("apply-detail")).Not.ToContainTextAsync(" 0 layers in INT8");
            var top1 = page.Locator("[data-testid=apply-row]").First;
            var measured = (await top1.GetByTestId("apply-measured").InnerTextAsync()).Trim();
            Assert.Equal(measured, (await top1.GetByTestId("apply-recorded").InnerTextAsync()).Trim());
            Assert.EndsWith("%", measured);
            await Expect(page.Locator("[data-section=results]")).ToContainTextAsync($"→ {measured} with the recipe");
            output.WriteLine($"Applied: top-1 {measured} measured = recorded; plan sparsity {plan.Pruned.Sparsity:P1}");
            await tab.ScreenshotAsync("recipe-applied");

            // Applied to another model: refused in place, naming what differs.
            await tab.ChooseAsync("apply-model", other.DisplayName);
            await Expect(page.GetByTestId("apply-other-model")).ToBeVisibleAsync();
            await page.GetByTestId("apply-recipe").ClickAsync();
            await Expect(page.GetByTestId("apply-refusal")).ToContainTextAsync("is for another model");
            await Expect(page.GetByTestId("apply-refusal")).ToContainTextAsync("architecture");
            await Expect(page.GetByTestId("apply-table")).ToHaveCountAsync(0);
            await tab.ScreenshotAsync("recipe-refused");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
        await tab.AssertNoErrorsAsync();
    }

    /// <summary>
    /// The rest of the build's half of the page: the downloads are exactly the files the job wrote (Distiller's statistics
    /// from the workspace's calibration profile among them), the binary state dict downloads byte for byte, the INT8 and
    /// float32 ONNX exports run in ONNX Runtime beside the engine, and the report downloads as one HTML file.
    /// </summary>
    private async Task CheckEveryFileOnnxAndReportAsync(DashboardTab tab, string folder, CompressionRecipe recipe)
    {
        var page = tab.Page;
        var links = page.Locator("[data-testid=download-list] a[download]");
        var names = new List<string>();
        foreach (var link in await links.AllAsync()) names.Add((await link.GetAttributeAsync("download"))!);
        // The build's folder is keyed by what was chosen (recipes/build-<hash>): the one this build wrote last.
        var buildFolder = Directory.GetDirectories(Path.Combine(app.WorkspaceFolder, "recipes"), "build-*")
            .OrderByDescending(d => File.GetLastWriteTimeUtc(Path.Combine(d, RecipeFile.YamlFileName))).First();
        Assert.Equal(Directory.GetFiles(buildFolder).Select(Path.GetFileName).Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
        Assert.Contains("distiller_activation_stats.yaml", names);
        Assert.DoesNotContain(recipe.Gaps, g => g.Section == "dialects");
        Assert.Contains(RecipeExportJob.PrunedStateDictFile, names);

        // The binary state dict as a browser saves it: the file the build wrote, byte for byte, a readable safetensors file.
        var stateDict = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("download-pytorch_model-safetensors").ClickAsync());
        Assert.Equal(RecipeExportJob.StateDictFile, stateDict.SuggestedFilename);
        var saved = Path.Combine(folder, RecipeExportJob.StateDictFile);
        await stateDict.SaveAsAsync(saved);
        var bytes = await File.ReadAllBytesAsync(saved);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(buildFolder, RecipeExportJob.StateDictFile)), bytes);
        Assert.Equal(recipe.Provenance.WeightsHash, Safetensors.ReadHeader(bytes).Metadata["source_weights_hash"]);
        Assert.Equal(bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            await page.GetByTestId("download-pytorch_model-safetensors").GetAttributeAsync("data-bytes"));

        // INT8 with the recipe's grids, on the recipe's images: the engine's column is the recipe's measured result.
        await page.GetByTestId("export-onnx-int8").ClickAsync();
        await Expect(page.GetByTestId("onnx-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
        var top1 = page.Locator("[data-testid=onnx-row][data-what=Top-1]");
        var ort = (await top1.GetByTestId("onnx-ort").InnerTextAsync()).Trim();
        var simulated = (await top1.GetByTestId("onnx-engine").InnerTextAsync()).Trim();
        Assert.Equal(RecipeText.Top1(recipe.Results!.Result.Top1), simulated);
        Assert.EndsWith("%", ort);
        await Expect(page.Locator("[data-testid=onnx-table] thead")).ToContainTextAsync("Simulated INT8");
        var difference = (await page.Locator("[data-testid=onnx-row]").Nth(1).GetByTestId("onnx-ort").InnerTextAsync()).Trim();
        output.WriteLine($"INT8 ONNX: ORT top-1 {ort}, simulated INT8 {simulated}, max |dlogit| {difference}");
        await tab.ScreenshotAsync("recipe-onnx-int8");
        var onnx = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("download-onnx").ClickAsync());
        Assert.EndsWith(".int8.onnx", onnx.SuggestedFilename, StringComparison.Ordinal);
        var onnxFile = Path.Combine(folder, onnx.SuggestedFilename);
        await onnx.SaveAsAsync(onnxFile);
        Assert.Equal((await page.GetByTestId("download-onnx").GetAttributeAsync("data-bytes"))!,
            new FileInfo(onnxFile).Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using (var session = OnnxInference.Load(await File.ReadAllBytesAsync(onnxFile))) { }

        // float32 of the same masked weights: ONNX Runtime equals the engine to 1e-4.
        await page.GetByTestId("export-onnx-float").ClickAsync();
        await Expect(page.Locator("[data-testid=onnx-table] thead")).ToContainTextAsync("Engine (TorchSharp, float32)");
        await Expect(page.GetByTestId("onnx-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
        await Expect(page.GetByTestId("onnx-tolerance")).ToContainTextAsync("within 1e-4 of the engine");
        var floatOrt = (await top1.GetByTestId("onnx-ort").InnerTextAsync()).Trim();
        Assert.Equal(floatOrt, (await top1.GetByTestId("onnx-engine").InnerTextAsync()).Trim());
        output.WriteLine($"float32 ONNX: ORT top-1 {floatOrt} = engine");
        await tab.ScreenshotAsync("recipe-onnx-float32");

        // The report: one self-contained HTML file.
        await page.GetByTestId("make-report").ClickAsync();
        await Expect(page.GetByTestId("report-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
        var report = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("download-report").ClickAsync());
        Assert.EndsWith(".html", report.SuggestedFilename, StringComparison.Ordinal);
        var reportFile = Path.Combine(folder, report.SuggestedFilename);
        await report.SaveAsAsync(reportFile);
        var html = await File.ReadAllTextAsync(reportFile);
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("default-src 'none'", html, StringComparison.Ordinal);
        Assert.Contains(recipe.Provenance.WeightsHash, html, StringComparison.Ordinal);
        await Expect(page.GetByTestId("report-sections")).ToContainTextAsync("plan");
        await Expect(page.GetByTestId("report-sections")).ToContainTextAsync("calibration");
    }

    /// <summary>Clicks an option of a MudSelect and waits until its list has closed (the caller checks what the choice changed).</summary>
    private static async Task PickAsync(IPage page, string selectTestId, string optionText)
    {
        await page.GetByTestId(selectTestId).ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new() { HasText = optionText }).First.ClickAsync();
        await Expect(page.Locator(".mud-popover-open")).ToHaveCountAsync(0);
    }
}
