using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>
/// The Models &amp; data page driven from a browser, on an app of its own: it trains models and starts jobs,
/// which the other browser tests must not see in their workspace.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ModelsDataCollection : ICollectionFixture<DashboardApp>
{
    public const string Name = "Models & data in a browser";
}

[Collection(ModelsDataCollection.Name)]
public partial class ModelsDataTests(DashboardApp app, ITestOutputHelper output)
{
    /// <summary>Large enough that a 1-epoch run spans several progress renders (4 per second), small enough to take seconds.</summary>
    private const int TrainingImages = 10_000;

    [Fact]
    public async Task TrainsAModelFromTheBrowserWatchesItsProgressAndEvaluatesIt()
    {
        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;
        await tab.GotoAsync("/");

        // A fresh workspace: the first-run card offers the starter pair with a time measured on this machine.
        await Expect(page.Locator("h1")).ToHaveTextAsync("Models & data");
        await Expect(page.GetByTestId("first-run-estimate")).ToContainTextAsync("Estimated time on this machine: about");
        await Expect(page.Locator("[data-testid=dataset-row][data-dataset=synthetic] [data-testid=synthetic-label]")).ToHaveTextAsync("synthetic (generated in code)");
        await Expect(page.Locator("[data-testid=dataset-row][data-dataset=fashion-mnist] [data-testid=dataset-train]")).ToHaveTextAsync("60,000");
        await ScreenshotAsync(tab, "models-first-run");

        // A bad upload is refused in words and adds nothing.
        await page.Locator("[data-testid=upload-checkpoint] input[type=file]").SetInputFilesAsync(new FilePayload
        {
            Name = "corrupt.ckpt",
            MimeType = "application/octet-stream",
            Buffer = "this is not a checkpoint"u8.ToArray(),
        });
        await Expect(page.GetByTestId("upload-error")).ToContainTextAsync("corrupt.ckpt was not imported: not a CompressionLab checkpoint");
        await Expect(page.GetByTestId("no-models")).ToBeVisibleAsync();
        await ScreenshotAsync(tab, "models-upload-error");

        // Bad form input is explained and starts nothing.
        await page.GetByTestId("train-epochs").FillAsync("0");
        await page.GetByTestId("train-epochs").PressAsync("Tab");
        await page.GetByTestId("start-training").ClickAsync();
        await Expect(page.GetByTestId("train-form")).ToContainTextAsync("Enter a whole number of epochs from 1 to 1000.");
        await Expect(page.GetByTestId("training-progress")).ToHaveCountAsync(0);

        await tab.ChooseAsync("train-architecture", "lenet-300-100");
        await Expect(page.GetByTestId("train-epochs")).ToHaveValueAsync("12"); // the architecture's default
        await page.GetByTestId("train-epochs").FillAsync("1");
        await page.GetByTestId("train-epochs").PressAsync("Tab");
        await page.GetByTestId("train-images").FillAsync(TrainingImages.ToString(CultureInfo.InvariantCulture));
        await page.GetByTestId("train-images").PressAsync("Tab");
        await ScreenshotAsync(tab, "models-train-form");

        // Every value the progress percentage and message show is recorded in the page, so none is missed between
        // two of Playwright's polls (one epoch on 10,000 images can end within a second or two).
        await page.EvaluateAsync("""
            () => {
                window.trainingProgress = [];
                window.trainingMessages = [];
                const record = () => {
                    const job = document.querySelector('[data-testid=training-progress]');
                    if (!job) return;
                    const message = job.querySelector('[data-testid=progress-message]').textContent;
                    if (window.trainingMessages[window.trainingMessages.length - 1] !== message) window.trainingMessages.push(message);
                    const entry = job.getAttribute('data-state') + ' ' + job.querySelector('[data-testid=progress-percent]').textContent.trim();
                    if (window.trainingProgress[window.trainingProgress.length - 1] !== entry) window.trainingProgress.push(entry);
                };
                new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
            }
            """);
        await page.GetByTestId("start-training").ClickAsync();

        var progress = page.GetByTestId("training-progress");
        await Expect(progress.GetByTestId("progress-title")).ToHaveTextAsync("Train lenet-300-100 on fashion-mnist");
        await ScreenshotAsync(tab, "models-training");
        await Expect(progress).ToHaveAttributeAsync("data-state", "Succeeded");
        await Expect(progress.GetByTestId("progress-message")).ToContainTextAsync("test top-1");

        var messages = await page.EvaluateAsync<string[]>("() => window.trainingMessages");
        Assert.True(messages.Any(m => m.Contains("epoch 1/1 · batch ", StringComparison.Ordinal)),
            $"While it runs, the progress should name the epoch and batch; it showed: {string.Join(" | ", messages)}");
        var seen = await page.EvaluateAsync<string[]>("() => window.trainingProgress");
        output.WriteLine($"Progress shown: {string.Join(", ", seen)}");
        var running = seen.Where(e => e.StartsWith("Running ", StringComparison.Ordinal)).Select(e => e["Running ".Length..]).Distinct().ToArray();
        Assert.True(running.Length >= 2, $"The progress bar should move while the job runs; it showed: {string.Join(", ", seen)}");
        Assert.Equal("Succeeded 100\u00a0%", seen[^1]);

        // The model is in the table with its test accuracy, and the first-run card is gone.
        var row = page.Locator("tr", new() { Has = page.Locator("[data-testid=model-arch]", new() { HasTextString = "lenet-300-100" }) });
        await Expect(row.GetByTestId("model-top1")).ToHaveTextAsync(Accuracy());
        var top1 = await row.GetByTestId("model-top1").TextContentAsync();
        Assert.True(Percent(top1!) > 70, $"lenet-300-100 after one epoch on {TrainingImages:N0} images: {top1}");
        Assert.Equal("266,610", (await row.GetByTestId("model-params").TextContentAsync())!.Trim());
        await Expect(page.GetByTestId("first-run-card")).ToHaveCountAsync(0);
        await ScreenshotAsync(tab, "models-trained");

        // Its checkpoint downloads as a CompressionLab file.
        var href = await row.GetByTestId("download-model").GetAttributeAsync("href");
        var download = await page.APIRequest.GetAsync(href!);
        Assert.Equal(200, download.Status);
        Assert.Equal("CLABCKPT"u8.ToArray(), (await download.BodyAsync())[..8]);

        // Evaluating on the test split again gives the same top-1, with the confusion matrix drawn by plotly.
        await row.GetByTestId("evaluate-model").ClickAsync();
        var evaluation = page.GetByTestId("evaluation-panel");
        await Expect(evaluation.GetByTestId("evaluation-top1")).ToHaveTextAsync(top1!.Trim());
        await Expect(evaluation.Locator("[data-testid=confusion-matrix] .heatmaplayer image")).ToHaveCountAsync(1);
        await Expect(evaluation.Locator("[data-testid=confusion-matrix] .ytick text", new() { HasTextString = "Ankle boot" })).ToHaveCountAsync(1);
        await Expect(evaluation.GetByTestId("per-class-row")).ToHaveCountAsync(10);
        await ScreenshotAsync(tab, "models-evaluation");

        await tab.AssertNoErrorsAsync();
    }

    /// <summary>From the top of the page, so the sticky app bar does not land in the middle of a full-page shot.</summary>
    private static async Task ScreenshotAsync(DashboardTab tab, string name)
    {
        await tab.Page.EvaluateAsync("() => window.scrollTo(0, 0)");
        await tab.ScreenshotAsync(name);
    }

    [GeneratedRegex(@"^\d{1,3}\.\d\d\u00a0%$")]
    private static partial Regex Accuracy();

    private static double Percent(string text) => double.Parse(text.Trim().TrimEnd('%').Trim('\u00a0', ' '), CultureInfo.InvariantCulture);
}
