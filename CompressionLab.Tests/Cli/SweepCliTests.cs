using System.Globalization;
using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Models;
using static CompressionLab.Tests.Cli.InProcessCli;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Cli;

/// <summary>The sweep and bench commands in-process, on a random lenet-300-100 and a few dozen Fashion-MNIST validation images.</summary>
public sealed class SweepCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-sweep-cli-").FullName;
    private readonly string _model;

    public SweepCliTests()
    {
        manual_seed(3);
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        _model = Path.Combine(_folder, "lenet.ckpt");
        Checkpoint.Save(network, _model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
    }

    private string Workspace => Path.Combine(_folder, "workspace");

    public void Dispose() => Directory.Delete(_folder, recursive: true);



    private (int Code, string Out, string Err) Sweep(params string[] extra) =>
        Run(["sweep", "--model", _model, "--dataset", "fashion-mnist", "--workspace", Workspace, .. extra]);

    [Fact]
    public void EvalOfTheValidationSubsetReproducesTheSweepsBaseline()
    {
        // A vgg-tiny (BatchNorm, so both sides fold it) and a layer of the second block, so the sweep's baseline is
        // computed from its cached block input; 300 images make a last batch of 44.
        manual_seed(8);
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var model = Path.Combine(_folder, "tiny.ckpt");
        Checkpoint.Save(network, model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);

        var sweep = Run("sweep", "--model", model, "--dataset", "fashion-mnist", "--workspace", Workspace, "--criterion", "element",
            "--levels", "0,0.5", "--layers", "stage2.conv1", "--limit", "300", "--json");
        var eval = Run("eval", "--model", model, "--dataset", "fashion-mnist", "--split", "val", "--limit", "300", "--json");

        Assert.True(sweep.Code == CliApp.Success, sweep.Err);
        Assert.True(eval.Code == CliApp.Success, eval.Err);
        var baseline = LastJsonLine(sweep.Out).GetProperty("baseline");
        var measured = LastJsonLine(eval.Out);
        Assert.Equal(300, measured.GetProperty("samples").GetInt32());
        Assert.Equal(
            (baseline.GetProperty("top1").GetDouble(), baseline.GetProperty("top5").GetDouble(), baseline.GetProperty("loss").GetDouble()),
            (measured.GetProperty("top1").GetDouble(), measured.GetProperty("top5").GetDouble(), measured.GetProperty("loss").GetDouble()));
    }

    [Fact]
    public void SweepPrintsTheContractJsonWritesDistillerCsvAndARepeatIsServedFromTheWorkspace()
    {
        var csv = Path.Combine(_folder, "out", "sensitivity.csv");

        var first = Sweep("--criterion", "element", "--levels", "0.5,0,0.5", "--limit", "50", "--csv", csv, "--json");

        Assert.True(first.Code == CliApp.Success, first.Err);
        var json = LastJsonLine(first.Out);
        Assert.Equal(6, json.GetProperty("cells").GetInt32()); // 3 layers × levels {0, 0.5}
        Assert.Equal(3, json.GetProperty("cells_computed").GetInt32());
        Assert.Equal(0, json.GetProperty("cells_cached").GetInt32());
        Assert.Equal(50, json.GetProperty("samples").GetInt32());
        Assert.True(json.GetProperty("seconds").GetDouble() > 0);
        var baseline = json.GetProperty("baseline");
        var layers = json.GetProperty("layers").EnumerateArray().ToArray();
        Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], layers.Select(l => l.GetProperty("name").GetString()));
        foreach (var layer in layers)
        {
            var points = layer.GetProperty("points").EnumerateArray().ToArray();
            Assert.Equal([0, 0.5], points.Select(p => p.GetProperty("sparsity").GetDouble()));
            Assert.Equal([0, 0.5], points.Select(p => p.GetProperty("actual_sparsity").GetDouble())); // 784×300, 300×100 and 100×10 weights halve exactly
            Assert.Equal(baseline.GetProperty("top1").GetDouble(), points[0].GetProperty("top1").GetDouble()); // level 0 is the baseline
            Assert.Equal(baseline.GetProperty("loss").GetDouble(), points[0].GetProperty("loss").GetDouble());
            Assert.All(points, p => Assert.InRange(p.GetProperty("top5").GetDouble(), p.GetProperty("top1").GetDouble(), 1)); // fractions, as train and eval report them
        }
        Assert.Contains("hidden.fc2 · 50% · top-1 ", first.Err); // progress per computed cell on stderr
        Assert.EndsWith($"; convolutions: {TorchRuntime.ConvolutionInstructionSet}", first.Err.Split('\n')[0].TrimEnd()); // the plan line

        var rows = File.ReadAllLines(csv);
        Assert.Equal("parameter,sparsity,top1,top5,loss", rows[0]);
        Assert.Equal(7, rows.Length);
        Assert.StartsWith("hidden.fc1.weight,0.5,", rows[2], StringComparison.Ordinal);
        Assert.Equal(PointsOf(layers[0])[1].GetProperty("top1").GetDouble() * 100, // the CSV keeps Distiller's percent
            double.Parse(rows[2].Split(',')[2], CultureInfo.InvariantCulture), 5);

        var again = Sweep("--criterion", "element", "--levels", "0,0.5", "--limit", "50", "--json");
        Assert.True(again.Code == CliApp.Success, again.Err);
        var repeated = LastJsonLine(again.Out);
        Assert.Equal((0, 3), (repeated.GetProperty("cells_computed").GetInt32(), repeated.GetProperty("cells_cached").GetInt32()));
        Assert.Equal(json.GetProperty("layers").GetRawText(), repeated.GetProperty("layers").GetRawText());

        // Another criterion is another set of cells; a filter sweep leaves out the output layer and says why.
        var filter = Sweep("--criterion", "filter", "--norm", "l2", "--levels", "0,0.5", "--limit", "50", "--json");
        Assert.True(filter.Code == CliApp.Success, filter.Err);
        var filterJson = LastJsonLine(filter.Out);
        Assert.Equal(("filter-l2", 2), (filterJson.GetProperty("criterion").GetString(), filterJson.GetProperty("cells_computed").GetInt32()));
        Assert.Equal(["hidden.fc1", "hidden.fc2"], filterJson.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()));
        var leftOut = Assert.Single(filterJson.GetProperty("left_out").EnumerateArray());
        Assert.Equal("classifier.fc", leftOut.GetProperty("name").GetString());
        Assert.Contains("removes a class", leftOut.GetProperty("reason").GetString());
        // Said with the plan, before the first cell, as the sweep's result also says it.
        var errLines = filter.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var leftOutLine = Array.FindIndex(errLines, l => l.StartsWith("classifier.fc is left out: it is the output layer", StringComparison.Ordinal));
        Assert.True(leftOutLine > 0, filter.Err);
        Assert.Contains(" sweep of 2 layers ", errLines[leftOutLine - 1]);
        Assert.Equal(leftOutLine, Array.FindLastIndex(errLines, l => l.Contains(" is left out: ", StringComparison.Ordinal))); // once
        Assert.Empty(json.GetProperty("left_out").EnumerateArray()); // the element sweep covered it

        // Three runs of the element sweep and one filter sweep: two rows in the history, both finished.
        using var database = new CompressionLab.Core.Workspace.WorkspaceDatabase(new CompressionLab.Core.Workspace.WorkspaceOptions { Folder = Workspace });
        var history = new CompressionLab.Core.Workspace.SweepHistory(database).List();
        Assert.Equal(["filter-l2", "element"], history.Select(h => h.Criterion));
        Assert.All(history, h => Assert.True(h.IsFinished));
        Assert.Equal(json.GetProperty("sweep_id").GetGuid(), repeated.GetProperty("sweep_id").GetGuid());

        static JsonElement[] PointsOf(JsonElement layer) => layer.GetProperty("points").EnumerateArray().ToArray();
    }

    [Fact]
    public void TheCliRecordsNoJobBesideItsSweepAndKeepsTheJobOfADashboardRunOfTheSameSweep()
    {
        string[] sweep = ["--criterion", "element", "--levels", "0,0.5", "--limit", "20", "--json"];
        var cli = Sweep(sweep);
        Assert.True(cli.Code == CliApp.Success, cli.Err);
        using var database = new WorkspaceDatabase(new WorkspaceOptions { Folder = Workspace });
        var history = new SweepHistory(database);
        Assert.Null(Assert.Single(history.List()).JobId); // the CLI runs no job, so it names none

        // The dashboard's job sweeps the same file the same way, then the CLI repeats it: the row keeps naming the
        // dashboard's job, which is how the Sensitivity page finds the sweep of a job.
        var job = Guid.NewGuid();
        SweepJob.Run(new SweepRequest(new CheckpointFile(_model), IdxDataset.FashionMnistName, Levels: [0, 0.5], SubsetSize: 20), Guid.NewGuid(),
            DatasetSource.Catalog(new CliSettings(new(), new())), new ModelStore(database), new SqliteSweepCellStore(database), history, job,
            new RecordingProgress(), CancellationToken.None);
        var again = Sweep(sweep);

        Assert.True(again.Code == CliApp.Success, again.Err);
        var row = Assert.Single(history.List());
        Assert.Equal(job, row.JobId);
        Assert.Equal(row.Id, history.FindByJob(job)?.Id);
    }

    [Theory]
    [InlineData("--criterion element --levels 0,1.5", "--levels", "1.5")]
    [InlineData("--criterion element --levels 0,half", "--levels", "'half'")]
    [InlineData("--criterion element --levels 0,-0.2", "--levels", "-0.2 is outside [0, 1): it is negative")]
    [InlineData("--criterion element --levels 0,NaN", "--levels", "NaN is not a number")]
    [InlineData("--criterion element --levels 0,1e-20", "--levels", "0.00000000000000000001 is finer than 0.0001")]
    [InlineData("--criterion filter --layers hidden.fc1,classifier.fc", "--layers", "'classifier.fc' cannot be in a filter sweep: it is the output layer")]
    [InlineData("--criterion element --layers hidden.fc1,stage9.conv", "--layers", "'stage9.conv'")]
    [InlineData("--criterion magnitude", "--criterion", "magnitude")]
    [InlineData("--criterion filter --norm l3", "--norm", "l3")]
    [InlineData("--criterion element --norm l2", "--norm", "A norm only applies to the filter criterion")]
    [InlineData("--criterion element --norm l1", "--norm", "A norm only applies to the filter criterion")]
    [InlineData("--criterion element --limit 0", "--limit", "The subset needs at least one image (got 0).")]
    [InlineData("--criterion element --batch 0", "--batch", "The batch takes 1 to 65,536 images (got 0).")]
    [InlineData("--criterion element --batch 65537", "--batch", "The batch takes 1 to 65,536 images (got 65537).")]
    [InlineData("--criterion element --limit 5001", "--limit", "5,000")]
    [InlineData("--levels 0,0.5", "--criterion", "required")]
    public void BadSweepArgumentsExitNonZeroWithOneLineNamingTheArgument(string commandLine, string argument, string detail)
    {
        AssertRefused(Sweep(commandLine.Split(' ')), argument, detail);
    }

    /// <summary>A relative <c>--workspace</c> is taken from the current folder, as every other path option is.</summary>
    [Fact]
    public void ARelativeWorkspaceIsTakenFromTheCurrentFolder()
    {
        var name = $"clab-relative-workspace-{Guid.NewGuid():N}";
        var expected = Path.GetFullPath(name);
        var underDataFolder = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "CompressionLab", name);
        try
        {
            var (code, _, error) = Run("sweep", "--model", _model, "--dataset", "fashion-mnist", "--criterion", "element", "--levels", "0,0.5",
                "--limit", "10", "--workspace", name);

            Assert.True(code == CliApp.Success, error);
            Assert.Contains($"(cells cached in {expected})", error);
            Assert.True(File.Exists(Path.Combine(expected, "workspace.db")));
            Assert.False(Directory.Exists(underDataFolder));
        }
        finally
        {
            foreach (var folder in new[] { expected, underDataFolder })
                if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void AMissingModelFileIsRefusedWithTheRequestBeforeTheWorkspaceIsMade()
    {
        var missing = Path.Combine(_folder, "no-such.ckpt");

        var (code, output, error) = Run("sweep", "--model", missing, "--dataset", "fashion-mnist", "--criterion", "element", "--workspace", Workspace);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        Assert.Equal($"error: --model: file not found: {missing}", error.Trim());
        Assert.False(Directory.Exists(Workspace));
    }

    /// <summary>The benchmark prepares its sweep as the sweep job does, so a setting the job refuses names the same option.</summary>
    [Theory]
    [InlineData("--limit 5001", "--limit", "5,000")]
    [InlineData("--limit 0", "--limit", "at least one image")]
    [InlineData("--layers hidden.fc1,stage9.conv", "--layers", "'stage9.conv'")]
    [InlineData("--criterion filter --layers classifier.fc", "--layers", "it is the output layer")]
    [InlineData("--levels 0,1.5", "--levels", "1.5")]
    public void BadBenchSweepArgumentsNameTheOptionAsTheSweepDoes(string commandLine, string argument, string detail)
    {
        AssertRefused(Run(["bench", "sweep", "--model", _model, "--dataset", "fashion-mnist", .. commandLine.Split(' ')]), argument, detail);
    }

    /// <summary>Exit code 2, nothing on stdout, and one error line naming <paramref name="argument"/> with <paramref name="detail"/>.</summary>
    private static void AssertRefused((int Code, string Out, string Err) run, string argument, string detail)
    {
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Equal("", run.Out);
        var line = Assert.Single(run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: {argument}: ", line, StringComparison.Ordinal);
        Assert.Contains(detail, line);
    }

    [Fact]
    public void BenchSweepReportsBothTimingsTheCeilingAndThePeak()
    {
        var (code, output, error) = Run("bench", "sweep", "--model", _model, "--dataset", "fashion-mnist", "--limit", "40",
            "--levels", "0,0.5,0.9", "--json");

        Assert.True(code == CliApp.Success, error);
        var json = LastJsonLine(output);
        foreach (var field in new[] { "naive_seconds", "cached_seconds", "speedup", "flop_ratio", "time_ratio", "images_per_second", "gflops", "peak_gflops" })
            Assert.True(json.GetProperty(field).GetDouble() > 0, field);
        Assert.True(json.GetProperty("results_identical").GetBoolean());
        Assert.Equal(TorchRuntime.ConvolutionInstructionSet, json.GetProperty("onednn_isa").GetString());
        Assert.Contains($"convolutions: {TorchRuntime.ConvolutionInstructionSet}", error);
        Assert.Equal((40, 6), (json.GetProperty("images").GetInt32(), json.GetProperty("pruned_cells").GetInt32()));
        var ratio = json.GetProperty("naive_seconds").GetDouble() / json.GetProperty("cached_seconds").GetDouble();
        Assert.Equal(ratio, json.GetProperty("speedup").GetDouble(), tolerance: 1e-3 * ratio); // within the JSON's rounding
    }

    [Fact]
    public void BenchWithoutWhatToBenchmarkNamesTheCommand()
    {
        var (code, _, error) = Run("bench", "--model", _model);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Contains("'bench sweep'", error);
    }
}
