using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

[Collection(DashboardCollection.Name)]
public class ChartTests(DashboardApp app)
{
    [Fact]
    public async Task HeatmapAndLineChartDrawAndTheLineGrowsLive()
    {
        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;
        await tab.GotoAsync("/diagnostics/charts");

        // plotly draws a heatmap as an image in its heatmap layer and writes each cell's count as text.
        var heatmap = page.GetByTestId("heatmap-chart");
        await Expect(heatmap.Locator(".heatmaplayer image")).ToHaveCountAsync(1);
        await Expect(heatmap.Locator("text", new() { HasTextString = "50" }).First).ToBeVisibleAsync();
        var line = page.GetByTestId("line-chart");
        await Expect(line.Locator(".scatterlayer .trace")).ToHaveCountAsync(1);
        Assert.Equal(4, await PointCountAsync(line, 0));

        await page.GetByTestId("add-point").ClickAsync();
        await page.GetByTestId("add-point").ClickAsync();
        await Expect(line.Locator(".scatterlayer .trace .points path")).ToHaveCountAsync(6);
        Assert.Equal(6, await PointCountAsync(line, 0));

        await page.GetByTestId("add-line").ClickAsync();
        await Expect(line.Locator(".scatterlayer .trace")).ToHaveCountAsync(2);

        await tab.ScreenshotAsync("charts");
        await tab.AssertNoErrorsAsync();
    }

    private static Task<int> PointCountAsync(Microsoft.Playwright.ILocator chart, int trace) =>
        chart.Locator(".js-plotly-plot").EvaluateAsync<int>("(plot, trace) => plot.data[trace].x.length", trace);
}
