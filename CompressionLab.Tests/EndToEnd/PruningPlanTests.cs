using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Pruning;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>The Pruning plan page driven from a browser, on an app of its own (its evaluations must not show up elsewhere).</summary>
[CollectionDefinition(Name)]
public sealed class PruningPlanCollection : ICollectionFixture<DashboardApp>
{
    public const string Name = "Pruning plan in a browser";
}

[Collection(PruningPlanCollection.Name)]
public class PruningPlanTests(DashboardApp app, ITestOutputHelper output)
{
    [Fact]
    public async Task AStageSliderMovesThePredictionAndEvaluatePlanMeasuresIt()
    {
        // lenet-300-100 trained briefly, swept on 500 validation images at a few levels (a few seconds together).
        var model = WorkspaceSeed.ImportLenet(app.WorkspaceFolder, trainingImages: 3000);
        WorkspaceSeed.Sweep(app.WorkspaceFolder, model, [0, 0.3, 0.6, 0.9], subsetSize: 500);

        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;
        await tab.GotoAsync("/pruning");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Pruning plan");
        await Expect(page.GetByTestId("plan-model")).ToContainTextAsync(model.DisplayName);
        var predicted = page.GetByTestId("predicted-top1");
        await Expect(predicted).ToContainTextAsync("drop 0.00 pts");
        await Expect(page.GetByTestId("overall-sparsity")).ToHaveTextAsync("0.0 %");
        await Expect(page.Locator("[data-layer='classifier.fc'] [data-testid=exclusion-reason]")).ToContainTextAsync("output layer");
        var before = await predicted.InnerTextAsync();

        // The hidden stage's slider to 60 %: the range input gets what a drag gives it, input events.
        var slider = page.Locator("input[data-testid=stage-slider-hidden]");
        await slider.FocusAsync();
        await slider.EvaluateAsync("el => { el.value = '0.59'; el.dispatchEvent(new Event('input', { bubbles: true })); }");
        await page.Keyboard.PressAsync("ArrowRight");
        await Expect(page.Locator("[data-stage=hidden] [data-testid=stage-rate]")).ToHaveTextAsync("60 %");
        await Expect(predicted).Not.ToHaveTextAsync(before);
        await Expect(predicted).Not.ToContainTextAsync("drop 0.00 pts");
        await Expect(page.Locator("[data-layer='hidden.fc1'] [data-testid=layer-sparsity]")).ToHaveTextAsync("60.0 %");
        var sparsity = await page.GetByTestId("overall-sparsity").InnerTextAsync();
        Assert.NotEqual("0.0 %", sparsity.Trim());

        // The chosen levels sit on the curves as markers: hidden.fc1's at 0.6.
        var chart = page.Locator("[data-testid=plan-curves-chart] .js-plotly-plot");
        await page.WaitForFunctionAsync("""
            () => { const p = document.querySelector('[data-testid=plan-curves-chart] .js-plotly-plot');
                    return p && p.data && p.data.some(t => t.name === 'hidden.fc1 chosen' && t.x[0] === 0.6); }
            """);
        Assert.Equal(4, await chart.EvaluateAsync<int>("p => p.data.length")); // two curves (fc1, fc2) and their markers
        await tab.ScreenshotAsync("plan-moved");

        await page.GetByTestId("evaluate-plan").ClickAsync();
        var progress = page.GetByTestId("evaluation-progress");
        await Expect(progress).ToHaveAttributeAsync("data-state", "Succeeded");
        var measured = page.GetByTestId("measured-top1");
        await Expect(measured).ToContainTextAsync("on 500 validation images");
        var text = await measured.InnerTextAsync();
        // The page shows what the job measured and the workspace keeps: this plan's levels on the 500 images.
        using (var database = new WorkspaceDatabase(new WorkspaceOptions { Folder = app.WorkspaceFolder }))
        {
            var stored = Assert.Single(new PlanEvaluationStore(database).List());
            Assert.Equal(500, stored.Measured.Samples);
            Assert.Equal(0.6, Assert.Single(stored.Levels, l => l.Layer == "hidden.fc1").Level, 6);
            Assert.StartsWith(PruningText.Percent(stored.Measured.Top1, 2), text.Trim(), StringComparison.Ordinal);
        }
        await Expect(page.GetByTestId("evaluation-row")).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("evaluation-top1")).ToHaveTextAsync(text[..(text.IndexOf('%', StringComparison.Ordinal) + 1)]);
        await tab.ScreenshotAsync("plan-evaluated");
        output.WriteLine($"Predicted: {await predicted.InnerTextAsync()}; measured: {text}");

        // An element plan cannot be thinned: the thinning section says so instead of offering the job.
        await Expect(page.GetByTestId("thinning-needs-filter-plan")).ToContainTextAsync("Thinning needs a filter plan");

        // Fine-tune the same plan for one short epoch (2,000 training images): the recovery curve gets its point between
        // the reference lines, and the new model arrives in the workspace and the model picker.
        await page.Locator("input[data-testid=finetune-epochs]").FillAsync("1");
        await page.Locator("input[data-testid=finetune-images]").FillAsync("2000");
        await page.Locator("input[data-testid=finetune-images]").BlurAsync();
        await page.GetByTestId("finetune-start").ClickAsync();
        await Expect(page.GetByTestId("finetune-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
        await Expect(page.GetByTestId("recovery-point")).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("recovery-pruned")).ToContainTextAsync(text[..(text.IndexOf('%', StringComparison.Ordinal) + 1)].Trim());
        await page.WaitForFunctionAsync("""
            () => { const p = document.querySelector('[data-testid=recovery-chart] .js-plotly-plot');
                    return p && p.data && p.data.length === 3 && p.data.some(t => t.name === 'fine-tuned (validation)' && t.x.length === 2); }
            """);
        var result = page.GetByTestId("finetune-result-name");
        await Expect(result).ToContainTextAsync(model.DisplayName + " · pruned");
        var name = (await result.InnerTextAsync()).Trim();
        await Expect(page.GetByTestId("finetune-result-top1")).ToContainTextAsync("→");
        await tab.ScreenshotAsync("plan-fine-tuned");
        await page.GetByTestId("finetune-open").ClickAsync();
        await Expect(page.GetByTestId("plan-model")).ToContainTextAsync(name);
        output.WriteLine($"Fine-tuned: {name}: {await page.GetByTestId("finetune-result-top1").InnerTextAsync()}");
        await tab.AssertNoErrorsAsync();
    }
}
