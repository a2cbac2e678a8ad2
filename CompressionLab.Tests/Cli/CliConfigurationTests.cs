using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Workspace;

using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// The CLI reads the dashboard's settings: a <c>--config</c> file in appsettings.json's shape in-process, and
/// environment variables in .NET's form (<c>Datasets__Folders__0</c>) in a child process, since the environment is
/// shared by every test running in this one.
/// </summary>
public sealed class CliConfigurationTests : IDisposable
{
    private readonly CliFolder _folder = new("clab-cli-config-");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void DatasetsListsTheFolderOfTheConfigFile()
    {
        var data = _folder.WriteTinyDataset("data", trainCount: 30, testCount: 12);
        var config = _folder.SettingsWithDatasets(data);

        var (code, output, error) = Run("datasets", "--json", "--config", config);

        Assert.True(code == CliApp.Success, error);
        var fashion = FashionMnist(output);
        Assert.Equal(data, fashion.GetProperty("path").GetString()); // searched before the shared copy the default search finds
        Assert.Equal((30, 12), (fashion.GetProperty("train").GetInt32(), fashion.GetProperty("test").GetInt32()));
    }

    [Fact]
    public void TheDashboardsOwnAppsettingsIsAValidConfigFile()
    {
        var appsettings = Path.Combine(RepositoryRoot(), "CompressionLab.Web", "appsettings.json");

        var (code, output, error) = Run("datasets", "--json", "--config", appsettings);

        Assert.True(code == CliApp.Success, error);
        Assert.Equal(Path.GetFullPath(TestData.FashionMnistFolder), FashionMnist(output).GetProperty("path").GetString()); // its blank settings mean the defaults
    }

    [Fact]
    public void SweepKeepsItsCellsInTheWorkspaceOfTheConfigFile()
    {
        var workspace = _folder.PathOf("configured-workspace");
        var config = _folder.WriteSettings(new { Workspace = new { Folder = workspace } });
        var model = _folder.WriteLenetCheckpoint();

        var (code, output, error) = Run("sweep", "--model", model, "--dataset", "fashion-mnist", "--criterion", "element",
            "--levels", "0,0.5", "--layers", "classifier.fc", "--limit", "20", "--json", "--config", config);

        Assert.True(code == CliApp.Success, error);
        Assert.Contains($"cells cached in {workspace})", error);
        var sweepId = LastJsonLine(output).GetProperty("sweep_id").GetGuid();
        using var database = new WorkspaceDatabase(new WorkspaceOptions { Folder = workspace });
        Assert.NotNull(new SweepHistory(database).Get(sweepId));
    }

    [Fact]
    public void WorkspaceOptionOverridesTheConfigFile()
    {
        var configured = _folder.PathOf("configured-workspace");
        var given = _folder.PathOf("given-workspace");
        var config = _folder.WriteSettings(new { Workspace = new { Folder = configured } });
        var model = _folder.WriteLenetCheckpoint();

        var (code, _, error) = Run("sweep", "--model", model, "--dataset", "fashion-mnist", "--criterion", "element",
            "--levels", "0", "--layers", "classifier.fc", "--limit", "10", "--workspace", given, "--config", config);

        Assert.True(code == CliApp.Success, error);
        Assert.True(File.Exists(Path.Combine(given, WorkspaceDatabase.FileName)));
        Assert.False(Directory.Exists(configured));
    }

    [Theory]
    [InlineData("missing", "file not found")]
    [InlineData("folder", "is a folder")]
    [InlineData("malformed", "JSON")]
    [InlineData("bad-value", "Datasets:AllowDownload")]
    public void ABadConfigFileIsOneLineNamingIt(string kind, string detail)
    {
        var path = _folder.PathOf("settings.json");
        switch (kind)
        {
            case "folder": Directory.CreateDirectory(path); break;
            case "malformed": File.WriteAllText(path, """{ "Datasets": { "Folders": [ "/data" """); break;
            case "bad-value": File.WriteAllText(path, """{ "Datasets": { "AllowDownload": "perhaps" } }"""); break;
        }

        var (code, output, error) = Run("datasets", "--json", "--config", path);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: --config: ", line, StringComparison.Ordinal);
        Assert.Contains(path, line);
        Assert.Contains(detail, line);
    }

    /// <summary>
    /// The real executable with <c>Datasets__Folders__0</c> and <c>Workspace__Folder</c> set: they reach <c>datasets</c>
    /// and <c>sweep</c>, and override a <c>--config</c> file, as they override appsettings.json for the dashboard.
    /// </summary>
    [Fact]
    public void EnvironmentVariablesConfigureDatasetsAndTheWorkspaceAndOverrideTheConfigFile()
    {
        var fromEnvironment = _folder.WriteTinyDataset("env-data", trainCount: 40, testCount: 10);
        var fromFile = _folder.WriteTinyDataset("file-data", trainCount: 30, testCount: 12);
        var config = _folder.SettingsWithDatasets(fromFile);
        var workspace = _folder.PathOf("env-workspace");
        var environment = new Dictionary<string, string>
        {
            ["Datasets__Folders__0"] = fromEnvironment,
            ["Datasets__SyntheticTrainCount"] = "200",
            ["Workspace__Folder"] = workspace,
        };

        var listed = RunExecutable(environment, "datasets", "--json", "--config", config);

        Assert.True(listed.Code == CliApp.Success, listed.Err);
        Assert.Equal(fromEnvironment, FashionMnist(listed.Out).GetProperty("path").GetString());
        Assert.Equal(40, FashionMnist(listed.Out).GetProperty("train").GetInt32());
        Assert.Equal(200, LastJsonLine(listed.Out).GetProperty("datasets").EnumerateArray()
            .Single(d => d.GetProperty("name").GetString() == "synthetic").GetProperty("train").GetInt32());

        // The environment's dataset folder has 4×4 images, which the 28×28 model refuses; the (small) synthetic set has 28×28.
        var model = _folder.WriteLenetCheckpoint();
        var swept = RunExecutable(environment, "sweep", "--model", model, "--dataset", "synthetic", "--criterion", "element",
            "--levels", "0", "--layers", "classifier.fc", "--limit", "10", "--json");

        Assert.True(swept.Code == CliApp.Success, swept.Err);
        Assert.True(File.Exists(Path.Combine(workspace, WorkspaceDatabase.FileName)), swept.Err);
        Assert.Contains($"cells cached in {workspace})", swept.Err);
    }

    private static JsonElement FashionMnist(string output) =>
        LastJsonLine(output).GetProperty("datasets").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "fashion-mnist");

    /// <summary>Runs the built <c>compressionlab</c> in a child process with extra environment variables.</summary>
    private static (int Code, string Out, string Err) RunExecutable(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliDll());
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var (name, value) in environment) start.Environment[name] = value;

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {start.FileName}.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    /// <summary>The CLI's build output beside this test project's (…/CompressionLab.Cli/bin/&lt;Configuration&gt;/&lt;tfm&gt;/).</summary>
    private static string CliDll()
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = typeof(CliConfigurationTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var dll = Path.Combine(RepositoryRoot(), "CompressionLab.Cli", "bin", configuration, testOutput.Name, "compressionlab.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"The CLI build '{dll}' is missing; build the solution in {configuration} first.", dll);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CompressionLab.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"Found no CompressionLab.sln above {AppContext.BaseDirectory}.");
    }
}
