using Microsoft.Playwright;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>One browser tab on the dashboard; collects console and page errors so a test can insist on none.</summary>
public sealed class DashboardTab : IAsyncDisposable
{
    private readonly IBrowserContext context;
    private readonly List<string> errors = [];

    internal DashboardTab(IBrowserContext context, IPage page)
    {
        this.context = context;
        Page = page;
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (errors) { errors.Add($"console: {message.Text}"); }
            }
        };
        page.PageError += (_, error) =>
        {
            lock (errors) { errors.Add($"page error: {error}"); }
        };
    }

    public IPage Page { get; }

    public IReadOnlyList<string> Errors
    {
        get { lock (errors) { return [.. errors]; } }
    }

    /// <summary>
    /// Opens a page of the dashboard and waits until its circuit is interactive, so clicks reach the server
    /// (before that the page is only prerendered HTML).
    /// </summary>
    public async Task GotoAsync(string path)
    {
        await Page.GotoAsync(path);
        await Page.Locator("[data-interactive=true]").WaitForAsync();
    }

    /// <summary>
    /// Picks the option showing <paramref name="optionText"/> in the MudSelect <paramref name="selectTestId"/> and waits
    /// until the select shows it and its list has closed. MudBlazor animates the list open; on a loaded machine a click
    /// that lands while it settles was seen to be dropped (CI), so a second attempt is made before the test fails.
    /// </summary>
    public async Task ChooseAsync(string selectTestId, string optionText)
    {
        var select = Page.GetByTestId(selectTestId);
        for (var attempt = 1; ; attempt++)
        {
            await select.ClickAsync();
            await Page.Locator(".mud-popover-open .mud-list-item", new() { HasText = optionText }).First.ClickAsync();
            try
            {
                await Assertions.Expect(select).ToContainTextAsync(optionText, new() { Timeout = 10_000 });
                await Assertions.Expect(Page.Locator(".mud-popover-open")).ToHaveCountAsync(0, new() { Timeout = 10_000 });
                return;
            }
            catch (PlaywrightException) when (attempt < 2)
            {
                await Page.Keyboard.PressAsync("Escape"); // close a list that stayed open, then choose again
            }
        }
    }

    /// <summary>Saves a full-page screenshot as &lt;name&gt;.png in <see cref="DashboardApp.ScreenshotFolder"/>.</summary>
    public async Task<string> ScreenshotAsync(string name)
    {
        Directory.CreateDirectory(DashboardApp.ScreenshotFolder);
        var path = Path.Combine(DashboardApp.ScreenshotFolder, $"{name}.png");
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    /// <summary>Fails when the browser reported any error, or Blazor showed its error bar.</summary>
    public async Task AssertNoErrorsAsync()
    {
        Assert.True(Errors.Count == 0, "The browser reported errors:\n" + string.Join("\n", Errors));
        Assert.False(await Page.Locator("#blazor-error-ui").IsVisibleAsync(), "Blazor's error bar is showing.");
    }

    public async ValueTask DisposeAsync() => await context.CloseAsync();
}
