using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;
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
    public async Task ARecipeDownloadedInTheBrowserIsUploadedAppliedAndMeasuresWhatItRecordedAndAnotherModelIsRefused()
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

    /// <summary>Clicks an option of a MudSelect and waits until its list has closed (the caller checks what the choice changed).</summary>
    private static async Task PickAsync(IPage page, string selectTestId, string optionText)
    {
        await page.GetByTestId(selectTestId).ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new() { HasText = optionText }).First.ClickAsync();
        await Expect(page.Locator(".mud-popover-open")).ToHaveCountAsync(0);
    }
}
