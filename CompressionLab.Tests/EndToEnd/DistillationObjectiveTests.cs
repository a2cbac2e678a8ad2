using CompressionLab.Core.Models;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>The Distillation page's objective settings driven from a browser, on an app of its own (its model counts are its own).</summary>
[CollectionDefinition(Name)]
public sealed class DistillationObjectiveCollection : ICollectionFixture<DashboardApp>
{
    public const string Name = "Distillation objectives in a browser";
}

[Collection(DistillationObjectiveCollection.Name)]
public class DistillationObjectiveTests(DashboardApp app, ITestOutputHelper output)
{
    [Fact]
    public async Task FitNetsHintsWithAChosenStageRefuseABadStageInPlaceThenTrainBesideTheBaselineAndDrawBothCurves()
    {
        // A lenet-5 at its seeded weights teaches a lenet-5 student: both have stage1 (6×14×14) and stage2 (16×5×5) maps.
        // Tiny on purpose: 500 training images, 2 epochs, a small CNN; the run is seconds, the test evaluations most of it.
        var teacher = WorkspaceSeed.Import(app.WorkspaceFolder, ModelZoo.Lenet5, trainingImages: 0);

        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;
        await tab.GotoAsync("/distillation");
        var teacherBox = page.Locator($"[data-model-id='{teacher.Id}'] input[type=checkbox]");
        if (!await teacherBox.IsCheckedAsync()) await teacherBox.ClickAsync();
        await Expect(teacherBox).ToBeCheckedAsync();

        await tab.ChooseAsync("kd-objective", "FitNets hints");
        await tab.ChooseAsync("kd-student-arch", "lenet-5");
        var panel = page.GetByTestId("kd-objective-settings");
        // Which stages can be hinted is said under the field before anything runs.
        await Expect(panel).ToContainTextAsync("Shared: stage1 14×14 (6 → 6 channels), stage2 5×5 (16 → 16 channels)");
        await page.Locator("input[data-testid=kd-train-epochs]").FillAsync("2");
        await page.Locator("input[data-testid=kd-train-images]").FillAsync("500");
        var stages = page.Locator("input[data-testid=kd-hint-stages]");
        await stages.FillAsync("stage9");
        await stages.BlurAsync();

        // A stage the networks do not share is refused beside the field, and nothing starts.
        await page.GetByTestId("kd-train-start").ClickAsync();
        await Expect(panel).ToContainTextAsync("Stage 'stage9' cannot be hinted");
        await Expect(page.GetByTestId("kd-train-error")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("kd-train-progress")).ToHaveCountAsync(0);

        await stages.FillAsync("stage2");
        await stages.BlurAsync();
        await Expect(panel).Not.ToContainTextAsync("cannot be hinted");
        await tab.ScreenshotAsync("distillation-hints-settings");

        await page.GetByTestId("kd-train-start").ClickAsync();
        await Expect(page.GetByTestId("kd-train-progress")).ToHaveAttributeAsync("data-state", "Succeeded", new() { Timeout = 180_000 });
        await Expect(page.GetByTestId("kd-distilled-epoch")).ToHaveCountAsync(2);
        await Expect(page.GetByTestId("kd-baseline-epoch")).ToHaveCountAsync(2);
        // Both curves, two epochs each, on both charts.
        foreach (var chart in new[] { "kd-train-top1", "kd-train-loss" })
        {
            await page.WaitForFunctionAsync(
                "id => { const p = document.querySelector(`[data-testid=${id}] .js-plotly-plot`); return p && p.data && p.data.length === 2 && p.data.every(t => t.x.length === 2); }", chart);
        }
        var result = page.GetByTestId("kd-train-result");
        await Expect(result).ToContainTextAsync("without a teacher");
        await Expect(result).ToContainTextAsync("hint=added beta=1 stages=stage2"); // the settings the new model records
        await Expect(page.GetByTestId("kd-train-result-teachers")).ToContainTextAsync("teacher: ");
        await Expect(page.GetByTestId("kd-train-result-start")).ToContainTextAsync("the seeded initial weights of lenet-5");
        await Expect(page.GetByTestId("kd-model-row")).ToHaveCountAsync(2); // the distilled student joined the workspace
        await tab.ScreenshotAsync("distillation-hints-trained");
        output.WriteLine(await result.InnerTextAsync());
        await tab.AssertNoErrorsAsync();
    }
}
