using System.Text.Json;
using System.Text.RegularExpressions;
using CompressionLab.Core.Data;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>The Sensitivity page driven from a browser, on an app of its own (its sweeps must not show up elsewhere).</summary>
[CollectionDefinition(Name)]
public sealed class SensitivityCollection : ICollectionFixture<DashboardApp>
{
    public const string Name = "Sensitivity in a browser";
}

[Collection(SensitivityCollection.Name)]
public class SensitivityTests(DashboardApp app, ITestOutputHelper output)
{
    /// <summary>3 layers × the default 20 levels.</summary>
    private const int Cells = 60;

    /// <summary>
    /// Records in the page every distinct progress message and number of points the chart holds (a small sweep can
    /// end between two of Playwright's polls), and counts plotly's redraws
    /// (react) and extensions (extendTraces), so the test can tell growth by extension from redrawing.
    /// </summary>
    private const string Recorder = """
        () => {
            window.sweepPoints = [];
            window.sweepMessages = [];
            window.plotlyCalls = { react: 0, extendTraces: 0 };
            const look = () => {
                if (window.Plotly && !window.Plotly.__counted) {
                    for (const name of ['react', 'extendTraces']) {
                        const original = window.Plotly[name];
                        window.Plotly[name] = function () { window.plotlyCalls[name]++; return original.apply(this, arguments); };
                    }
                    window.Plotly.__counted = true;
                }
                const message = document.querySelector('[data-testid=sweep-progress] [data-testid=progress-message]');
                if (message && window.sweepMessages[window.sweepMessages.length - 1] !== message.textContent) window.sweepMessages.push(message.textContent);
                const plot = document.querySelector('[data-testid=sensitivity-chart] .js-plotly-plot');
                if (!plot || !plot.data) return;
                const points = plot.data.reduce((sum, trace) => sum + (trace.x ? trace.x.length : 0), 0);
                if (window.sweepPoints[window.sweepPoints.length - 1] !== points) window.sweepPoints.push(points);
            };
            window.setInterval(look, 20);
        }
        """;

    [Fact]
    public async Task RunsASweepInTheBrowserAndWatchesTheCurvesGrow()
    {
        var model = WorkspaceSeed.ImportLenet(app.WorkspaceFolder, trainingImages: 3000);
        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;
        await tab.GotoAsync("/sensitivity");

        await Expect(page.Locator("h1")).ToHaveTextAsync("Sensitivity");
        await Expect(page.GetByTestId("no-sweeps")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("sweep-model")).ToContainTextAsync($"{model.DisplayName} ({model.Architecture})");
        await Expect(page.GetByTestId("sweep-dataset")).ToContainTextAsync(IdxDataset.FashionMnistName);

        // Bad levels are explained in place.
        await page.GetByTestId("sweep-levels").FillAsync("0, 1.2");
        await Expect(page.GetByTestId("sweep-form")).ToContainTextAsync("Sparsity level 1.2 is outside [0, 1)");
        await page.GetByTestId("sweep-levels").FillAsync("0:0.95:0.05");
        await Expect(page.GetByTestId("sweep-form")).ToContainTextAsync("20 levels: 0, 0.05, 0.1 … 0.95");
        await ScreenshotAsync(tab, "sens-form");

        await page.EvaluateAsync(Recorder);
        await page.GetByTestId("start-sweep").ClickAsync();
        var progress = page.GetByTestId("sweep-progress");
        // A per-cell message (" · top-1 ") or, when the small sweep already ended, the summary ("baseline top-1").
        await Expect(progress.GetByTestId("progress-message")).ToContainTextAsync(new Regex(" · top-1 |baseline top-1"));
        await Expect(page.GetByTestId("chart-loading")).ToHaveCountAsync(0); // the chart is drawn (the run may have ended meanwhile)
        await ScreenshotAsync(tab, "sens-running");
        await Expect(progress).ToHaveAttributeAsync("data-state", "Succeeded");
        var messages = await page.EvaluateAsync<string[]>("() => window.sweepMessages");
        Assert.True(messages.Any(m => m.Contains(" · top-1 ", StringComparison.Ordinal)),
            $"While it runs, the progress should name the cell and its top-1; it showed: {string.Join(" | ", messages)}");
        await Expect(page.GetByTestId("curves-detail")).ToContainTextAsync($"{Cells} of {Cells} cells");

        var chart = page.Locator("[data-testid=sensitivity-chart] .js-plotly-plot");
        await Expect(chart.Locator(".scatterlayer .trace")).ToHaveCountAsync(3);
        await Expect(chart.Locator(".scatterlayer .trace .points path")).ToHaveCountAsync(Cells);
        var seen = await page.EvaluateAsync<int[]>("() => window.sweepPoints");
        var calls = await page.EvaluateAsync<JsonElement>("() => window.plotlyCalls");
        output.WriteLine($"Points seen in the chart: {string.Join(", ", seen)}; plotly calls: {calls}");
        Assert.Equal(Cells, seen[^1]);
        Assert.Equal(seen.Order(), seen); // only ever grew
        // How many intermediate states the chart shows depends on the machine's load (renders are throttled to 4/s).
        Assert.True(seen.Any(n => n > 0 && n < Cells), $"The curves should grow while the sweep runs; the chart held {string.Join(", ", seen)} points.");
        Assert.True(calls.GetProperty("extendTraces").GetInt32() >= 2, $"plotly calls: {calls}");
        Assert.True(calls.GetProperty("react").GetInt32() <= 2, $"The figure should be extended, not redrawn per cell; plotly calls: {calls}");
        Assert.Contains("parameters", await chart.EvaluateAsync<string>("plot => plot.data[0].hovertemplate"));
        // Each point says what its level really pruned: 0.95 of hidden.fc1's 784 × 300 weights is 223,440 (appended points included).
        Assert.Equal("223,440 of 235,200 weights pruned", await chart.EvaluateAsync<string>("plot => plot.data[0].text[19]"));

        // The numbers: a sortable table of every cell, and a ranking of the layers.
        await Expect(page.GetByTestId("ranking-row")).ToHaveCountAsync(3);
        await Expect(page.Locator("[data-testid=sweep-table] [data-testid=cell-layer]")).ToHaveCountAsync(50); // first page
        await ScreenshotAsync(tab, "sens-finished");

        // Clicking a legend entry shows that layer alone; clicking it again shows all.
        await chart.Locator(".legend .traces").First.ClickAsync();
        await page.WaitForFunctionAsync(Visibility("shown,hidden,hidden"));
        await ScreenshotAsync(tab, "sens-isolated");
        await chart.Locator(".legend .traces").First.ClickAsync();
        await page.WaitForFunctionAsync(Visibility("shown,shown,shown"));

        // The metric toggle redraws the same lines against another axis.
        await page.GetByTestId("metric-toggle").GetByText("Drop").ClickAsync();
        await Expect(chart.Locator(".ytitle")).ToHaveTextAsync("Top-1 drop (points)");
        Assert.Equal(0, await chart.EvaluateAsync<double>("plot => plot.data[0].y[0]")); // no drop at level 0

        // Downloads: Distiller's CSV, the JSON document, and the chart as a PNG.
        var csv = await page.APIRequest.GetAsync((await page.GetByTestId("download-csv").GetAttributeAsync("href"))!);
        var rows = (await csv.TextAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("parameter,sparsity,top1,top5,loss", rows[0]);
        Assert.Equal(Cells + 1, rows.Length);
        var json = await page.APIRequest.GetAsync((await page.GetByTestId("download-json").GetAttributeAsync("href"))!);
        var document = JsonDocument.Parse(await json.TextAsync()).RootElement;
        Assert.Equal(Cells, document.GetProperty("cells").GetArrayLength());
        // The download says what it measured and in which units.
        Assert.Equal(model.DisplayName, document.GetProperty("model").GetProperty("name").GetString());
        Assert.Equal(64, document.GetProperty("model").GetProperty("weightsHash").GetString()!.Length);
        Assert.Equal((IdxDataset.FashionMnistName, 2000), (document.GetProperty("data").GetProperty("dataset").GetString(), document.GetProperty("data").GetProperty("subsetSize").GetInt32()));
        Assert.Equal("fraction", document.GetProperty("units").GetProperty("top1").GetString());
        Assert.False(document.GetProperty("settings").TryGetProperty("norm", out _)); // an element sweep has no norm
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("download-png").ClickAsync());
        Assert.EndsWith(".png", download.SuggestedFilename, StringComparison.Ordinal);
        var png = Path.Combine(Path.GetTempPath(), $"sens-{Guid.NewGuid():N}.png");
        await download.SaveAsAsync(png);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
        File.Delete(png);

        // A filter sweep of the same model (its two hidden layers: the output layer is left out, and the page says why),
        // then the element sweep laid over it (dashed): two solid lines and three dashed ones.
        await tab.ChooseAsync("sweep-criterion", "filter");
        await page.GetByTestId("start-sweep").ClickAsync();
        try
        {
            await Expect(page.GetByTestId("curves-title")).ToContainTextAsync("filter-l1");
        }
        catch (PlaywrightException)
        {
            await ScreenshotAsync(tab, "sens-failure");
            output.WriteLine("Sweep panel: " + await page.GetByTestId("sweep-panel").InnerTextAsync());
            output.WriteLine("App output: " + app.Output);
            throw;
        }
        await Expect(progress).ToHaveAttributeAsync("data-state", "Succeeded");
        await Expect(chart.Locator(".scatterlayer .trace")).ToHaveCountAsync(2);
        await Expect(page.GetByTestId("curves-detail")).ToContainTextAsync("40 of 40 cells");
        await Expect(page.GetByTestId("left-out-note")).ToContainTextAsync("The output layer is left out of filter sweeps");
        await Expect(page.GetByTestId("ranking-row")).ToHaveCountAsync(2);
        await Expect(page.GetByTestId("history-row")).ToHaveCountAsync(2);
        await page.Locator("[data-testid=history-row]", new() { Has = page.Locator("[data-testid=history-criterion]", new() { HasTextString = "element" }) })
            .GetByTestId("overlay-sweep").ClickAsync();
        await Expect(page.GetByTestId("overlay-detail")).ToContainTextAsync("dashed:");
        await Expect(chart.Locator(".scatterlayer .trace")).ToHaveCountAsync(5);
        Assert.Equal("solid,solid,dash,dash,dash",
            await chart.EvaluateAsync<string>("plot => plot.data.map(t => (t.line && t.line.dash) || 'solid').join(',')"));
        await ScreenshotAsync(tab, "sens-overlay");

        await tab.AssertNoErrorsAsync();
    }

    /// <summary>A condition on which lines plotly shows (legend clicks hide others with visible = 'legendonly').</summary>
    private static string Visibility(string expected) =>
        "() => Array.from(document.querySelector('[data-testid=sensitivity-chart] .js-plotly-plot').data, " +
        $"t => t.visible === 'legendonly' ? 'hidden' : 'shown').join(',') === '{expected}'";

    /// <summary>From the top of the page, so the sticky app bar does not land in the middle of a full-page shot.</summary>
    private static async Task ScreenshotAsync(DashboardTab tab, string name)
    {
        await tab.Page.EvaluateAsync("() => window.scrollTo(0, 0)");
        await tab.ScreenshotAsync(name);
    }
}
