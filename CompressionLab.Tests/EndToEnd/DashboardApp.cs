using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>
/// Starts the real dashboard (the Web project's own build output, same configuration as these tests)
/// as a child process on a free loopback port with a temporary workspace, and a headless Chromium.
/// Shared by every test in the <see cref="DashboardCollection"/>; killed on dispose. A test that stops the app itself
/// (<see cref="TerminateAsync"/>) starts its own with <see cref="StartAsync"/>.
/// </summary>
public sealed partial class DashboardApp : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";
    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(90);

    /// <summary>
    /// How long a browser step or expectation may wait: the first chart parses 4.5 MB of plotly.js, which takes
    /// several seconds, and much longer on a 2-core machine busy with other tests. Expectations return as soon as they hold.
    /// </summary>
    public static readonly TimeSpan BrowserTimeout = TimeSpan.FromSeconds(60);

    private readonly StringBuilder output = new();
    private readonly TaskCompletionSource<Uri> listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? process;
    private IPlaywright? playwright;
    private string? givenWorkspace;

    public Uri BaseUrl { get; private set; } = null!;

    public string WorkspaceFolder { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where screenshots go; a person looks at them after a run.</summary>
    public static string ScreenshotFolder =>
        Environment.GetEnvironmentVariable("COMPRESSIONLAB_SHOTS") is { Length: > 0 } folder ? folder : Path.Combine(Path.GetTempPath(), "shots");

    /// <summary>Everything the app printed so far (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get { lock (output) { return output.ToString(); } }
    }

    /// <summary>
    /// Starts an app of the caller's own, on <paramref name="workspaceFolder"/> when given (e.g. that of an app stopped
    /// before, which is then left in place on dispose) or on a new temporary workspace.
    /// </summary>
    public static async Task<DashboardApp> StartAsync(string? workspaceFolder = null)
    {
        var app = new DashboardApp { givenWorkspace = workspaceFolder };
        try
        {
            await app.InitializeAsync();
            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public async Task InitializeAsync()
    {
        var webDll = LocateWebApp();
        WorkspaceFolder = givenWorkspace ?? Directory.CreateTempSubdirectory("compressionlab-e2e-").FullName;
        StartApp(webDll);
        BaseUrl = await WaitUntilListeningAsync();
        await CheckAnswersAsync();

        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException(
                $"Browser tests need Debian's Chromium at {ChromiumPath}; install it with 'apt-get install -y chromium' (.ci/run does this).");
        }
        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    /// <summary>A fresh browser tab on the app that records console errors and uncaught page errors.</summary>
    public async Task<DashboardTab> OpenTabAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseUrl.ToString(),
            ViewportSize = new ViewportSize { Width = 1366, Height = 860 },
        });
        context.SetDefaultTimeout((float)BrowserTimeout.TotalMilliseconds);
        Assertions.SetDefaultExpectTimeout((float)BrowserTimeout.TotalMilliseconds);
        var page = await context.NewPageAsync();
        return new DashboardTab(context, page);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }
        playwright?.Dispose();
        StopApp();
        if (givenWorkspace is null && WorkspaceFolder is not null && Directory.Exists(WorkspaceFolder))
        {
            Directory.Delete(WorkspaceFolder, recursive: true);
        }
    }

    /// <summary>
    /// Sends the app SIGTERM (what Ctrl+C or a service manager sends) and waits for it to exit: how long that took
    /// from the signal, and its exit code. Fails when it is still running after <paramref name="patience"/>.
    /// </summary>
    public async Task<(TimeSpan Elapsed, int ExitCode)> TerminateAsync(TimeSpan patience)
    {
        var app = process ?? throw new InvalidOperationException("The dashboard is not running.");
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", app.Id.ToString(CultureInfo.InvariantCulture) } })
            ?? throw new InvalidOperationException("Could not run kill."))
        {
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(patience);
        try
        {
            await app.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The dashboard was still running {patience.TotalSeconds:0} s after SIGTERM. Its output:\n{Output}");
        }
        return (clock.Elapsed, app.ExitCode);
    }

    /// <summary>
    /// The Web project's build output beside this test project's: …/CompressionLab.Tests/bin/&lt;Configuration&gt;/&lt;tfm&gt;/
    /// maps to …/CompressionLab.Web/bin/&lt;Configuration&gt;/&lt;tfm&gt;/. Running it from there (not from a copy next to
    /// the tests) keeps its appsettings.json and static web assets manifest. COMPRESSIONLAB_WEB_DLL overrides.
    /// </summary>
    private static string LocateWebApp()
    {
        if (Environment.GetEnvironmentVariable("COMPRESSIONLAB_WEB_DLL") is { Length: > 0 } overridden)
        {
            return File.Exists(overridden)
                ? overridden
                : throw new FileNotFoundException($"COMPRESSIONLAB_WEB_DLL points to '{overridden}', which does not exist.");
        }

        var testOutput = new DirectoryInfo(AppContext.BaseDirectory);
        var targetFramework = testOutput.Name;
        var configuration = typeof(DashboardApp).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration
            ?? testOutput.Parent?.Name
            ?? "Release";
        var root = testOutput;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "CompressionLab.sln")))
        {
            root = root.Parent;
        }
        if (root is null)
        {
            throw new DirectoryNotFoundException($"Found no CompressionLab.sln above the test output '{testOutput.FullName}'.");
        }
        var dll = Path.Combine(root.FullName, "CompressionLab.Web", "bin", configuration, targetFramework, "CompressionLab.Web.dll");
        return File.Exists(dll)
            ? dll
            : throw new FileNotFoundException(
                $"The dashboard build '{dll}' is missing; build the solution in {configuration} first (dotnet build CompressionLab.sln -c {configuration}).", dll);
    }

    private void StartApp(string webDll)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(webDll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(webDll);
        // Port 0: Kestrel picks a free port and logs it, so there is no race for a port chosen in advance.
        start.ArgumentList.Add("--urls=http://127.0.0.1:0");
        start.ArgumentList.Add($"--Workspace:Folder={WorkspaceFolder}");
        start.ArgumentList.Add("--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("DOTNET_URLS");

        process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, line) => Record(line.Data);
        process.ErrorDataReceived += (_, line) => Record(line.Data);
        process.Exited += (_, _) =>
        {
            // Waiting again lets the redirected output drain, so the message holds the app's last words.
            process.WaitForExit();
            listening.TrySetException(new InvalidOperationException(
                $"The dashboard exited with code {process.ExitCode} before it listened. Its output:\n{Output}"));
        };
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start '{start.FileName} {webDll}'.");
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (output)
        {
            output.AppendLine(line);
        }
        if (ListeningLine().Match(line) is { Success: true } match)
        {
            listening.TrySetResult(new Uri(match.Groups["url"].Value));
        }
    }

    private async Task<Uri> WaitUntilListeningAsync()
    {
        try
        {
            return await listening.Task.WaitAsync(StartupTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The dashboard did not start listening within {StartupTimeout.TotalSeconds:0} s. Its output:\n{Output}");
        }
    }

    private async Task CheckAnswersAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseUrl, Timeout = StartupTimeout };
        using var response = await http.GetAsync("/");
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"The dashboard answered GET / with {(int)response.StatusCode}. Its output:\n{Output}");
        }
    }

    private void StopApp()
    {
        if (process is null)
        {
            return;
        }
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        process.Dispose();
        process = null;
    }

    [GeneratedRegex(@"Now listening on: (?<url>http://\S+)")]
    private static partial Regex ListeningLine();
}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardApp>
{
    public const string Name = "Dashboard in a browser";
}
