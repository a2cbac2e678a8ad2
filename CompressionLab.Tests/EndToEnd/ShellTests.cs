using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace CompressionLab.Tests.EndToEnd;

[Collection(DashboardCollection.Name)]
public class ShellTests(DashboardApp app)
{
    [Fact]
    public async Task OpensOnModelsAndDataAndNavigatesToJobs()
    {
        await using var tab = await app.OpenTabAsync();
        var page = tab.Page;

        await page.GotoAsync("/");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Models & data");
        await Expect(page.GetByTestId("app-title")).ToHaveTextAsync("CompressionLab");
        await tab.ScreenshotAsync("shell-home");

        await page.GetByRole(AriaRole.Link, new() { Name = "Jobs", Exact = true }).ClickAsync();

        await Expect(page).ToHaveURLAsync(new Uri(app.BaseUrl, "/jobs").ToString());
        await Expect(page.Locator("h1")).ToHaveTextAsync("Jobs");
        await Expect(page).ToHaveTitleAsync("Jobs · CompressionLab");
        await Expect(page.GetByTestId("no-jobs")).ToBeVisibleAsync();
        await tab.ScreenshotAsync("shell-jobs");
        await tab.AssertNoErrorsAsync();
    }
}
