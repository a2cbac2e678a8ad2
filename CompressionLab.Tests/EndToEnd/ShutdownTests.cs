using System.Globalization;
using System.Text.RegularExpressions;
using CompressionLab.Core.Models;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>
/// Stopping the dashboard with SIGTERM, what Ctrl+C and service managers send. Each test starts the real app on its
/// own (it ends it), drives it in Chromium, signals it and times the exit.
/// </summary>
public sealed partial class ShutdownTests(ITestOutputHelper output)
{
    /// <summary>
    /// An idle app should be gone within 2 s of the signal (it took 0.2–0.9 s when measured); 3 s more are slack for
    /// a 2-core machine busy with parallel tests. The fault this guards against held the stop for 30 s, the host's
    /// shutdown timeout.
    /// </summary>
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(2 + 3);

    /// <summary>How long to wait for the exit at all before failing with the app's output (well past 30 s).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AnIdleDashboardStopsAtOnceAfterItsPagesWereOpenedAndClosed()
    {
        var app = await DashboardApp.StartAsync();
        await using var _ = app;
        WorkspaceSeed.ImportLenet(app.WorkspaceFolder, trainingImages: 0);
        await using (var setup = await app.OpenTabAsync())
        {
            // A workspace that holds a sweep, so the Sensitivity page draws a chart.
            await setup.GotoAsync("/sensitivity");
            await setup.Page.GetByTestId("sweep-levels").FillAsync("0, 0.5, 0.9");
            await setup.Page.GetByTestId("start-sweep").ClickAsync();
            await Expect(setup.Page.GetByTestId("sweep-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
        }

        await using (var tab = await app.OpenTabAsync())
        {
            var page = tab.Page;
            await tab.GotoAsync("/");
            await Expect(page.Locator("h1")).ToHaveTextAsync("Models & data");
            // plotly.js is held back, so the chart's first plot is still waiting for the browser when the tab moves on:
            // the moment at which closing a chart used to hold the circuit's teardown, and the app's stop, for 30 s.
            await page.RouteAsync("**/plotly-*.min.js", _ => Task.CompletedTask);
            await tab.GotoAsync("/sensitivity");
            await Expect(page.GetByTestId("chart-loading")).ToBeVisibleAsync();
            await page.UnrouteAllAsync(new() { Behavior = UnrouteBehavior.IgnoreErrors });
            await tab.GotoAsync("/jobs");
            await Expect(page.GetByTestId("jobs-table")).ToBeVisibleAsync();
            await tab.GotoAsync("/pruning");
            await Expect(page.Locator("h1")).ToHaveTextAsync("Pruning plan");
        }

        var (elapsed, exitCode) = await app.TerminateAsync(Patience);

        output.WriteLine($"Exited {elapsed.TotalSeconds:0.00} s after SIGTERM with code {exitCode}.");
        Assert.True(elapsed < StopBound, $"An idle dashboard took {elapsed.TotalSeconds:0.0} s to stop (bound {StopBound.TotalSeconds:0} s). Its output:\n{app.Output}");
        Assert.Equal(0, exitCode);
    }

    [Fact]
    public async Task RunningJobsStopAsInterruptedAndCanBeResumed()
    {
        // A training with a browser open on it: stopped within the bound, it keeps its saved epochs and offers Resume.
        var first = await DashboardApp.StartAsync();
        await using var _ = first;
        // The first app made the workspace and deletes it when disposed, after the two that reopen it.
        var workspace = first.WorkspaceFolder;
        // For the sweep: vgg-tiny's convolutions make a sweep of its 140 cells take minutes, so it is surely stopped midway.
        WorkspaceSeed.Import(workspace, ModelZoo.VggTiny, trainingImages: 0);
        await using var tab = await first.OpenTabAsync();
        await tab.GotoAsync("/");
        await tab.ChooseAsync("train-architecture", "lenet-300-100");
        await tab.Page.GetByTestId("train-epochs").FillAsync("4");
        await tab.Page.GetByTestId("train-epochs").PressAsync("Tab");
        await tab.Page.GetByTestId("train-images").FillAsync("30000");
        await tab.Page.GetByTestId("train-images").PressAsync("Tab");
        await tab.Page.GetByTestId("start-training").ClickAsync();
        // In epoch 2: epoch 1 is saved.
        await Expect(tab.Page.GetByTestId("training-progress").GetByTestId("progress-message")).ToContainTextAsync("epoch 2/4");
        await StopWithinBoundAsync(first, "training");

        await using (var second = await DashboardApp.StartAsync(workspace))
        {
            await using (var jobs = await second.OpenTabAsync())
            {
                await jobs.GotoAsync("/jobs");
                var row = jobs.Page.Locator("tr", new() { Has = jobs.Page.GetByTestId("job-kind").Filter(new() { HasTextRegex = new Regex("^train$") }) });
                await Expect(row.GetByTestId("job-state")).ToHaveTextAsync("Interrupted");
                await Expect(row.GetByTestId("job-saved-epochs")).ToContainTextAsync(SavedEpochs());
                await Expect(row.GetByTestId("resume-job")).ToBeVisibleAsync();
                await jobs.ScreenshotAsync("shutdown-training-interrupted");
            }

            // A sweep stopped after its first cells.
            await using var sweep = await second.OpenTabAsync();
            await sweep.GotoAsync("/sensitivity");
            await sweep.Page.GetByTestId("start-sweep").ClickAsync();
            await Expect(sweep.Page.GetByTestId("sweep-progress").GetByTestId("progress-message")).ToContainTextAsync(" · top-1 ");
            await StopWithinBoundAsync(second, "sweep");
        }

        await using var third = await DashboardApp.StartAsync(workspace);
        await using var after = await third.OpenTabAsync();
        await after.GotoAsync("/sensitivity");
        // The cells measured before the stop are kept; the sweep offers Resume for the rest.
        var detail = await after.Page.GetByTestId("curves-detail").TextContentAsync();
        var cells = KeptCells().Match(detail!);
        var (kept, planned) = (int.Parse(cells.Groups["kept"].Value, CultureInfo.InvariantCulture), int.Parse(cells.Groups["planned"].Value, CultureInfo.InvariantCulture));
        Assert.InRange(kept, 1, planned - 1);
        var unfinished = after.Page.Locator("[data-testid=history-row]", new() { HasTextString = "not finished" });
        await Expect(unfinished.GetByTestId("resume-sweep")).ToBeEnabledAsync();
        await after.ScreenshotAsync("shutdown-sweep-interrupted");
        await after.GotoAsync("/jobs");
        var sweepRow = after.Page.Locator("tr", new() { Has = after.Page.GetByTestId("job-kind").Filter(new() { HasTextRegex = new Regex("^sweep$") }) });
        await Expect(sweepRow.GetByTestId("job-state")).ToHaveTextAsync("Interrupted");
    }

    private async Task StopWithinBoundAsync(DashboardApp app, string job)
    {
        var (elapsed, exitCode) = await app.TerminateAsync(Patience);
        output.WriteLine($"With a {job} running: exited {elapsed.TotalSeconds:0.00} s after SIGTERM with code {exitCode}.");
        Assert.True(elapsed < StopBound, $"With a {job} running the dashboard took {elapsed.TotalSeconds:0.0} s to stop (bound {StopBound.TotalSeconds:0} s). Its output:\n{app.Output}");
        Assert.Equal(0, exitCode);
    }

    [GeneratedRegex(@"[1-3] of 4 epochs (was|were) finished and saved")]
    private static partial Regex SavedEpochs();

    [GeneratedRegex(@"(?<kept>\d+) of (?<planned>\d+) cells")]
    private static partial Regex KeptCells();
}
