using System.Globalization;
using CompressionLab.Core.Models;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>The Quantization page driven from a browser, on an app of its own (its jobs and measurements must not show up elsewhere).</summary>
[CollectionDefinition(Name)]
public sealed class QuantizationCollection : ICollectionFixture<DashboardApp>
{
    public const string Name = "Quantization in a browser";
}

[Collection(QuantizationCollection.Name)]
public class QuantizationTests(DashboardApp app, ITestOutputHelper output)
{
    [Fact]
    public async Task ALayersHistogramShowsEveryThresholdAndSwitchingTheMethodMovesTheLineAndTheSimulatedAccuracy()
    {
        // vgg-tiny (BatchNorm to fold) trained one short epoch; calibrated on 128 images so the collection takes seconds.
        var model = WorkspaceSeed.Import(app.WorkspaceFolder, ModelZoo.VggTiny, trainingImages: 3000);

        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;
        await tab.GotoAsync("/quantization");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Quantization");
        await Expect(page.GetByTestId("quant-model")).ToContainTextAsync(model.DisplayName);
        var subset = page.Locator("input[data-testid=quant-subset]");
        await subset.FillAsync("128");
        await subset.BlurAsync();
        await page.GetByTestId("collect").ClickAsync();
        await Expect(page.GetByTestId("collect-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
        await Expect(page.GetByTestId("calibration-row").First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("profile-status")).ToContainTextAsync("128");
        var rows = await page.GetByTestId("calibration-row").CountAsync();
        Assert.True(rows >= 3, $"{rows} layers in the table");
        await Expect(page.GetByTestId("logits-note")).ToContainTextAsync("stay float by default");

        // The second conv's input comes after a ReLU: unsigned grid. Open its histogram.
        var layer = await page.GetByTestId("calibration-row").Nth(1).GetAttributeAsync("data-layer");
        var row = page.Locator($"[data-testid=calibration-row][data-layer='{layer}']");
        await row.Locator("[data-testid=row-grid]").ClickAsync();
        await Expect(page.GetByTestId("layer-panel")).ToHaveAttributeAsync("data-layer", layer!);
        await Expect(row.Locator("[data-testid=row-grid]")).ToContainTextAsync("uint8");
        await page.WaitForFunctionAsync("""
            () => { const p = document.querySelector('[data-testid=histogram-chart] .js-plotly-plot');
                    return p && p.data && p.data.length === 11 && p.data.filter(t => t.type === 'scatter').length === 10; }
            """);
        var chosenBefore = await ChosenLineAsync(page);
        Assert.Equal("mse (chosen)", chosenBefore.Name);
        await page.WaitForFunctionAsync("""
            () => { const p = document.querySelector('[data-testid=error-curve-chart] .js-plotly-plot');
                    return p && p.data && p.data.length === 11 && p.data[0].x.length > 10; }
            """);
        await page.WaitForFunctionAsync("""
            () => { const p = document.querySelector('[data-testid=channel-chart] .js-plotly-plot');
                    return p && p.data && p.data.length === 2 && (p.data[0].x.length + p.data[1].x.length) > 0; }
            """);
        await tab.ScreenshotAsync("quant-histogram-mse");

        // Switch the layer to max: its threshold in the table and its solid line move to the largest value.
        var threshold = row.Locator("[data-testid=row-threshold]");
        var before = (await threshold.InnerTextAsync()).Trim();
        await ChooseInRowAsync(page, row, "max");
        await Expect(threshold).Not.ToHaveTextAsync(before);
        await page.WaitForFunctionAsync("""
            () => { const p = document.querySelector('[data-testid=histogram-chart] .js-plotly-plot');
                    return p && p.data && p.data.some(t => t.name === 'max (chosen)'); }
            """);
        var chosenAfter = await ChosenLineAsync(page);
        Assert.Equal("max (chosen)", chosenAfter.Name);
        Assert.True(chosenAfter.X > chosenBefore.X, $"max at {chosenAfter.X}, mse at {chosenBefore.X}");
        var shown = double.Parse((await threshold.InnerTextAsync()).Trim(), CultureInfo.InvariantCulture); // 4 significant digits
        Assert.True(Math.Abs(shown - chosenAfter.X) <= 1e-3 * chosenAfter.X, $"table {shown}, line at {chosenAfter.X}");
        await tab.ScreenshotAsync("quant-histogram-max");

        // Simulated INT8: float, each method for all layers, and the mix (max on this layer, mse elsewhere).
        await page.GetByTestId("compare").ClickAsync();
        var progress = page.GetByTestId("compare-progress");
        await Expect(progress).ToHaveAttributeAsync("data-state", "Succeeded", new() { Timeout = 240_000 });
        await Expect(page.GetByTestId("comparison-row")).ToHaveCountAsync(12);
        var mix = page.Locator("[data-testid=comparison-row][data-label='chosen mix'] [data-testid=comparison-top1]");
        var firstMix = (await mix.InnerTextAsync()).Trim();
        var methods = await AllLayerRowsAsync(page);
        output.WriteLine($"Mix 1: {firstMix}; for all layers: {string.Join(", ", methods.Select(m => $"{m.Key} {m.Value}"))}");

        // Apply a method to every layer whose all-layers accuracy differs from this mix's: the mix is now that method
        // for all layers (the same configuration, read back), so its accuracy changes to that row's.
        var other = methods.First(m => m.Value != firstMix);
        await tab.ChooseAsync("apply-all", other.Key);
        await Expect(page.GetByTestId("comparison-stale")).ToBeVisibleAsync();
        await page.GetByTestId("compare").ClickAsync();
        await Expect(mix).ToHaveTextAsync(other.Value, new() { Timeout = 240_000 });
        await Expect(page.GetByTestId("compare-progress")).ToHaveAttributeAsync("data-state", "Succeeded");
        await Expect(page.GetByTestId("comparison-stale")).ToHaveCountAsync(0);
        await tab.ScreenshotAsync("quant-simulated");
        await tab.AssertNoErrorsAsync();
    }

    /// <summary>The histogram's solid (chosen) threshold line: its legend name and where it stands.</summary>
    private static async Task<(string Name, double X)> ChosenLineAsync(IPage page)
    {
        var line = await page.Locator("[data-testid=histogram-chart] .js-plotly-plot").EvaluateAsync<System.Text.Json.JsonElement>("""
            p => { const t = p.data.find(t => t.name.endsWith('(chosen)')); return { name: t.name, x: t.x[0] }; }
            """);
        return (line.GetProperty("name").GetString()!, line.GetProperty("x").GetDouble());
    }

    /// <summary>Each "M for all layers" row's top-1 text, by method.</summary>
    private static async Task<IReadOnlyDictionary<string, string>> AllLayerRowsAsync(IPage page)
    {
        var result = new Dictionary<string, string>();
        foreach (var row in await page.GetByTestId("comparison-row").AllAsync())
        {
            var label = await row.GetAttributeAsync("data-label");
            if (label is null or "float" or "chosen mix") continue;
            result[label] = (await row.GetByTestId("comparison-top1").InnerTextAsync()).Trim();
        }
        return result;
    }

    private static async Task ChooseInRowAsync(IPage page, ILocator row, string method)
    {
        var select = row.Locator("[data-testid=row-method]");
        await select.ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new() { HasText = method }).First.ClickAsync();
        await Expect(select).ToContainTextAsync(method);
        await Expect(page.Locator(".mud-popover-open")).ToHaveCountAsync(0);
    }
}
