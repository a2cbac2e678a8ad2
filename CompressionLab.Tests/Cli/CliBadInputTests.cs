using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Tests.Data;

using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// Bad files behind the arguments (a Fashion-MNIST copy whose headers are good but whose data is not, a corrupt
/// checkpoint or workspace database) and output paths that cannot be written: each ends in one line
/// "error: ARGUMENT: ..." and an exit code, never an unhandled exception, and outputs are refused before any work.
/// </summary>
public sealed class CliBadInputTests : IDisposable
{
    private readonly CliFolder _folder = new("clab-cli-bad-input-");

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("truncated-images", "train")]
    [InlineData("truncated-images", "eval")]
    [InlineData("truncated-images", "sweep")]
    [InlineData("truncated-images", "bench sweep")]
    [InlineData("truncated-images", "bench train")]
    [InlineData("truncated-gzip", "eval")]
    [InlineData("truncated-gzip", "train")]
    [InlineData("label-out-of-range", "train")]
    [InlineData("label-out-of-range", "sweep")]
    public void ADatasetWithGoodHeadersAndBadDataIsOneLineNamingTheFile(string corruption, string command)
    {
        var data = _folder.WriteTinyDataset("data");
        var (file, problem) = Corrupt(data, corruption);
        var config = _folder.SettingsWithDatasets(data);
        // The catalog reads headers only, so the copy is listed as found: the failure comes when it is loaded.
        Assert.Equal(data, FashionMnistPath(Run("datasets", "--json", "--config", config).Out));
        var model = _folder.PathOf("unused.ckpt");
        File.WriteAllText(model, "the dataset is loaded before the checkpoint is read");

        string[] args = command switch
        {
            "train" => ["train", "--arch", "lenet-300-100", "--out", _folder.PathOf("out", "m.ckpt")],
            "eval" => ["eval", "--model", model],
            "sweep" => ["sweep", "--model", model, "--criterion", "element", "--workspace", _folder.PathOf("ws")],
            "bench sweep" => ["bench", "sweep", "--model", model],
            _ => ["bench", "train", "--arch", "lenet-5"],
        };
        var (code, output, error) = Run([.. args, "--dataset", "fashion-mnist", "--json", "--config", config]);

        Assert.Equal(CliApp.Failure, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: --dataset: fashion-mnist cannot be loaded: {Path.GetFileName(file)}: ", line, StringComparison.Ordinal);
        Assert.Contains(file, line);
        Assert.Contains(problem, line);
    }

    [Theory]
    [InlineData("eval")]
    [InlineData("sweep")]
    [InlineData("bench sweep")]
    public void ACorruptModelIsOneLineNamingTheArgumentAndTheFile(string command)
    {
        var config = _folder.SettingsWithDatasets(_folder.WriteTinyDataset("data"));
        var model = _folder.PathOf("passwd");
        File.WriteAllText(model, "root:x:0:0:root:/root:/bin/bash\n");
        string[] args = command switch
        {
            "eval" => ["eval"],
            "sweep" => ["sweep", "--criterion", "element", "--limit", "5", "--workspace", _folder.PathOf("ws")],
            _ => ["bench", "sweep", "--limit", "5"],
        };

        var (code, output, error) = Run([.. args, "--model", model, "--dataset", "fashion-mnist", "--config", config]);

        Assert.Equal(CliApp.Failure, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: --model: Checkpoint {model}: ", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ACorruptWorkspaceDatabaseIsOneLineNamingWhereItCameFrom(bool byOption)
    {
        var workspace = _folder.PathOf("ws");
        Directory.CreateDirectory(workspace);
        File.WriteAllText(Path.Combine(workspace, "workspace.db"), "this is not an SQLite database, but it is long enough to be read as a header of one");
        var config = _folder.WriteSettings(new { Workspace = new { Folder = workspace } });
        var model = _folder.WriteLenetCheckpoint();

        var (code, output, error) = Run(["sweep", "--model", model, "--dataset", "fashion-mnist", "--criterion", "element",
            .. byOption ? new[] { "--workspace", workspace } : ["--config", config]]);

        Assert.Equal(CliApp.Failure, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: {(byOption ? "--workspace" : "Workspace:Folder")}: ", line, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(workspace, "workspace.db"), line);
    }

    /// <summary>/proc takes no new files, even for root (CI runs as root, so permissions cannot show this).</summary>
    [Theory]
    [InlineData("train --out /proc/clab-test.ckpt", "--out", "cannot write to the folder /proc (")]
    [InlineData("train --out /proc/clab-missing/y.ckpt", "--out", "cannot create the folder /proc/clab-missing (")]
    [InlineData("sweep --csv /proc/clab-sensitivity.csv", "--csv", "cannot write to the folder /proc (")]
    [InlineData("sweep --workspace /proc/clab-workspace", "--workspace", "cannot create the folder /proc/clab-workspace (")]
    [InlineData("sweep --config WORKSPACE-IN-PROC", "Workspace:Folder", "cannot write to the folder /proc (")]
    public void AnUnwritableOutputIsRefusedBeforeAnyWork(string commandLine, string argument, string detail)
    {
        var tiny = _folder.SettingsWithDatasets(_folder.WriteTinyDataset("data"));
        var workspaceInProc = _folder.WriteSettings(new { Workspace = new { Folder = "/proc" } }, "proc-workspace.json");
        var model = _folder.WriteLenetCheckpoint();
        var args = commandLine.Replace("WORKSPACE-IN-PROC", workspaceInProc, StringComparison.Ordinal).Split(' ');
        string[] rest = args[0] == "train"
            ? ["--arch", "lenet-300-100", "--dataset", "fashion-mnist", "--epochs", "1", "--config", tiny]
            : ["--model", model, "--dataset", "fashion-mnist", "--criterion", "element", "--levels", "0,0.5", "--limit", "20",
                .. args.Contains("--workspace") || args.Contains("--config") ? Array.Empty<string>() : ["--workspace", _folder.PathOf("ws")]];

        var (code, output, error) = Run([.. args, .. rest]);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries)); // nothing was trained or swept
        Assert.StartsWith($"error: {argument}: ", line, StringComparison.Ordinal);
        Assert.Contains(detail, line);
    }

    [Fact]
    public void ALimitBeyondTheTrainPartIsAnErrorNotASmallerRun()
    {
        var config = _folder.SettingsWithDatasets(_folder.WriteTinyDataset("data")); // 60 train images, 12 held out for validation

        var (code, _, error) = Run("train", "--arch", "lenet-300-100", "--dataset", "fashion-mnist", "--limit", "49",
            "--out", _folder.PathOf("m.ckpt"), "--config", config);

        Assert.Equal(CliApp.BadArguments, code);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: --limit: ", line, StringComparison.Ordinal);
        Assert.Contains("48", line);
    }

    /// <summary>Damages one file of a valid tiny dataset, keeping its header good; returns the file and a word of the expected problem.</summary>
    private static (string File, string Problem) Corrupt(string folder, string corruption)
    {
        var images = Path.Combine(folder, "train-images-idx3-ubyte.gz");
        var labels = Path.Combine(folder, "train-labels-idx1-ubyte.gz");
        switch (corruption)
        {
            case "truncated-images":
                // A well-formed gzip of a header for 60 images and the pixels of only 6.
                IdxFiles.Write(images, [.. IdxFiles.Header(60, 4, 4), .. new byte[6 * 16]], gzip: true);
                return (images, "data is truncated");
            case "truncated-gzip":
                {
                    // Incompressible pixels, so the header sits at the very start of the deflate data; then the
                    // gzip file itself is cut short: its header still reads, its body ends early.
                    var pixels = new byte[60 * 16];
                    new Random(5).NextBytes(pixels);
                    IdxFiles.Write(images, [.. IdxFiles.Header(60, 4, 4), .. pixels], gzip: true);
                    var bytes = File.ReadAllBytes(images);
                    File.WriteAllBytes(images, bytes[..(bytes.Length / 2)]);
                    return (images, "truncated");
                }
            default:
                IdxFiles.Write(labels, [.. IdxFiles.Header(60), .. Enumerable.Range(0, 60).Select(i => (byte)(i == 17 ? 12 : i % 10))], gzip: true);
                return (labels, "label 12 at index 17 is outside the 10 classes");
        }
    }

    private static string? FashionMnistPath(string output) =>
        LastJsonLine(output).GetProperty("datasets").EnumerateArray()
            .SingleOrDefault(d => d.GetProperty("name").GetString() == "fashion-mnist") is { ValueKind: JsonValueKind.Object } fashion
            ? fashion.GetProperty("path").GetString()
            : null;

    /// <summary>
    /// A native TorchSharp error that reaches the CLI is a crash inside a native op (as the freed-Scalar crash in AGP
    /// fine-tuning was), not bad input: exit 70 with its stack trace, not 1. SQLite errors (also ExternalExceptions)
    /// stay bad input: they come from a damaged or locked workspace database.
    /// </summary>
    [Fact]
    public void ANativeTorchErrorIsAnInternalErrorWhileASqliteErrorIsBadInput()
    {
        Assert.False(CliApp.IsBadInput(new System.Runtime.InteropServices.ExternalException("Expected false to be true, but got false. toBool")));
        Assert.False(CliApp.IsBadInput(new System.Runtime.InteropServices.SEHException()));
        Assert.True(CliApp.IsBadInput(new Microsoft.Data.Sqlite.SqliteException("database disk image is malformed", 11)));
    }
}
