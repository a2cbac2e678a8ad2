using System.Text.RegularExpressions;
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
        // A fresh workspace: the first-run card queues its training-time estimate as a job once the page is interactive.
        await Expect(page.GetByTestId("first-run-estimate")).ToHaveAttributeAsync("data-state", new Regex("^(Queued|Running|Succeeded)$"));
        await tab.ScreenshotAsync("shell-home");

        await page.GetByRole(AriaRole.Link, new() { Name = "Jobs", Exact = true }).ClickAsync();

        await Expect(page).ToHaveURLAsync(new Uri(app.BaseUrl, "/jobs").ToString());
        await Expect(page.Locator("h1")).ToHaveTextAsync("Jobs");
        await Expect(page).ToHaveTitleAsync("Jobs · CompressionLab");
        // The Jobs page lists every job, that estimate too (the empty list is covered by the bUnit JobsPageTests).
        var estimate = page.Locator("tr", new() { Has = page.Locator("[data-testid=job-kind]", new() { HasTextString = "estimate" }) });
        await Expect(estimate.GetByTestId("job-title")).ToHaveTextAsync(new Regex("^Estimate the starter pair's training time on "));
        await Expect(page.GetByTestId("no-jobs")).ToHaveCountAsync(0);
        await tab.ScreenshotAsync("shell-jobs");
        await tab.AssertNoErrorsAsync();
    }
}
