using CompressionLab.Core.Models;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>The Distillation page driven from a browser, on an app of its own.</summary>
[CollectionDefinition(Name)]
public sealed class DistillationCollection : ICollectionFixture<DashboardApp>
{
    public const string Name = "Distillation in a browser";
}

[Collection(DistillationCollection.Name)]
public class DistillationTests(DashboardApp app, ITestOutputHelper output)
{
    private const string BarsData = "id => { const p = document.querySelector('[data-testid=kd-bars] .js-plotly-plot'); return p && p.data ? JSON.stringify(p.data.map(t => t.y)) : null; }";

    private const string MarkerX = "i => { const p = document.querySelector(`[data-testid=kd-curve-${i}] .js-plotly-plot`); const m = p && p.data && p.data.find(t => t.mode === 'markers'); return m ? m.x[0] : null; }";

    [Fact]
    public async Task MovingTheTSliderChangesTheBarsAndTheCurvesMarkerAndADistillationRunsBesideItsBaseline()
    {
        // Two lenet-300-100: one trained briefly (the teacher, more accurate), one left at its random weights (the student).
        var teacher = WorkspaceSeed.Import(app.WorkspaceFolder, ModelZoo.Lenet300100, trainingImages: 3000);
        var student = WorkspaceSeed.Import(app.WorkspaceFolder, ModelZoo.Lenet5, trainingImages: 0);

        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;
        await tab.GotoAsync("/distillation");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Distillation");
        await Expect(page.GetByTestId("kd-model-row")).ToHaveCountAsync(2);
        // The trained lenet-300-100 teaches the random lenet-5.
        var teacherBox = page.Locator($"[data-model-id='{teacher.Id}'] input[type=checkbox]");
        var studentAsTeacher = page.Locator($"[data-model-id='{student.Id}'] input[type=checkbox]");
        if (!await teacherBox.IsCheckedAsync()) await teacherBox.ClickAsync();
        await Expect(teacherBox).ToBeCheckedAsync();
        if (await studentAsTeacher.IsCheckedAsync()) await studentAsTeacher.ClickAsync();
        await Expect(studentAsTeacher).Not.ToBeCheckedAsync();
        await page.Locator($"[data-model-id='{student.Id}'] input[data-testid=kd-student]").CheckAsync();
        await page.Locator("input[data-testid=kd-subset]").FillAsync("500");
        await page.Locator("input[data-testid=kd-subset]").BlurAsync();
        // A bad T is refused beside the box, and the comparison waits for a good grid.
        var grid = page.Locator("input[data-testid=kd-grid]");
        await grid.FillAsync("1,2,zero");
        await grid.BlurAsync();
        await Expect(page.GetByTestId("compare-panel")).ToContainTextAsync("'zero' is not a temperature");
        await grid.FillAsync("1,2,3,4,6,8,12,16,20");
        await grid.BlurAsync();
        await Expect(page.GetByTestId("compare-panel")).Not.ToContainTextAsync("is not a temperature");

        await page.GetByTestId("kd-compute").ClickAsync();
        await Expect(page.GetByTestId("kd-compared")).ToContainTextAsync("500 validation images", new() { Timeout = 120_000 });
        await Expect(page.GetByTestId("t-value")).ToHaveTextAsync("T = 4");
        await page.WaitForFunctionAsync($"() => ({BarsData})() !== null");
        await page.WaitForFunctionAsync($"() => ({MarkerX})(1) === 4");
        var barsBefore = await page.EvaluateAsync<string>($"({BarsData})()");
        var klBefore = await page.GetByTestId("kd-kl").InnerTextAsync();
        await Expect(page.GetByTestId("kd-image")).ToBeVisibleAsync();
        await tab.ScreenshotAsync("distillation-compare-t4");

        // The T slider one step down (to T = 3): a range input gets what a drag gives it.
        var slider = page.Locator("input[data-testid=t-slider]");
        await slider.FocusAsync();
        await page.Keyboard.PressAsync("ArrowLeft");
        await Expect(page.GetByTestId("t-value")).ToHaveTextAsync("T = 3");
        await page.WaitForFunctionAsync($"() => ({MarkerX})(1) === 3");
        await page.WaitForFunctionAsync($"before => ({BarsData})() !== before", barsBefore);
        Assert.Equal(3, await page.EvaluateAsync<double>($"({MarkerX})(0)"));
        Assert.NotEqual(klBefore, await page.GetByTestId("kd-kl").InnerTextAsync());
        await Expect(page.GetByTestId("kd-bars")).ToHaveAttributeAsync("data-temperature", "3");

        // Down to T = 1 and jump to the image where teacher and student disagree most.
        await page.Keyboard.PressAsync("Home");
        await Expect(page.GetByTestId("t-value")).ToHaveTextAsync("T = 1");
        await page.WaitForFunctionAsync($"() => ({MarkerX})(2) === 1");
        await page.GetByTestId("kd-disagreeing").ClickAsync();
        await Expect(page.GetByTestId("kd-disagree-rank")).ToContainTextAsync("#1 most disagreeing");
        await page.GetByTestId("kd-log").ClickAsync();
        await page.WaitForFunctionAsync("() => { const p = document.querySelector('[data-testid=kd-bars] .js-plotly-plot'); return p && p._fullLayout && p._fullLayout.yaxis.type === 'log'; }");
        await tab.ScreenshotAsync("distillation-compare-t1-disagreeing");
        output.WriteLine($"KL at T=4: {klBefore}; agreement {await page.GetByTestId("kd-agreement").InnerTextAsync()}");

        // A short distillation (1 epoch, 1,000 training images) of a vgg-tiny from the teacher ticked above, with its baseline.
        await page.Locator("input[data-testid=kd-train-epochs]").FillAsync("1");
        await page.Locator("input[data-testid=kd-train-images]").FillAsync("1000");
        await page.Locator("input[data-testid=kd-train-images]").BlurAsync();
        await page.GetByTestId("kd-train-start").ClickAsync();
        await Expect(page.GetByTestId("kd-train-progress")).ToHaveAttributeAsync("data-state", "Succeeded", new() { Timeout = 300_000 });
        await Expect(page.GetByTestId("kd-distilled-epoch")).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("kd-baseline-epoch")).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("kd-train-result-top1")).ToContainTextAsync("without a teacher");
        await page.WaitForFunctionAsync("""
            () => { const p = document.querySelector('[data-testid=kd-train-top1] .js-plotly-plot');
                    return p && p.data && p.data.length === 2 && p.data.every(t => t.x.length === 1); }
            """);
        // The new model joins the workspace's models on the page.
        await Expect(page.GetByTestId("kd-model-row")).ToHaveCountAsync(3);
        await tab.ScreenshotAsync("distillation-trained");
        output.WriteLine($"Distilled: {await page.GetByTestId("kd-train-result-top1").InnerTextAsync()}");
        await tab.AssertNoErrorsAsync();
    }
}
