using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static CompressionLab.Tests.Cli.InProcessCli;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Cli;

/// <summary>The plan commands in-process, on a random lenet-300-100 and a few dozen Fashion-MNIST validation images.</summary>
public sealed class PlanCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-plan-cli-").FullName;
    private readonly string _model;

    public PlanCliTests()
    {
        manual_seed(5);
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        _model = PathOf("lenet.ckpt");
        Checkpoint.Save(network, _model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    private (int Code, string Out, string Err) Plan(string command, params string[] extra) =>
        Run(["plan", command, "--model", _model, "--dataset", "fashion-mnist", "--workspace", PathOf("workspace"), .. extra]);

    private static JsonElement Json((int Code, string Out, string Err) run)
    {
        Assert.True(run.Code == CliApp.Success, run.Err);
        return LastJsonLine(run.Out);
    }

    [Fact]
    public void EvaluatePrintsTheContractJsonAndADensePlanMeasuresWhatEvalMeasures()
    {
        var json = Json(Plan("evaluate", "--rates", "hidden=0.5", "--limit", "60", "--json"));

        // 0.5 of fc1's 235,200 and fc2's 30,000 weights; the output layer's 1,000 stay: 1 − 133,600 / 266,200.
        Assert.Equal(Math.Round(1 - (133_600 / 266_200.0), 6), json.GetProperty("sparsity").GetDouble());
        Assert.Equal(133_600 + 300 + 100 + 10, json.GetProperty("params").GetInt64()); // kept weights and every bias
        Assert.Equal(133_600, json.GetProperty("macs").GetInt64());
        Assert.True(json.GetProperty("size_bytes").GetProperty("csr").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("predicted_top1").ValueKind); // no sweep in this workspace yet
        Assert.Equal(["hidden.fc1", "hidden.fc2"], json.GetProperty("layers_without_curve").EnumerateArray().Select(l => l.GetString()));
        Assert.InRange(json.GetProperty("top1").GetDouble(), 0, 1);
        Assert.Equal(60, json.GetProperty("samples").GetInt32());
        var layers = json.GetProperty("layers").EnumerateArray().ToArray();
        Assert.Equal([("hidden.fc1", 0.5), ("hidden.fc2", 0.5), ("classifier.fc", 0.0)],
            layers.Select(l => (l.GetProperty("name").GetString(), l.GetProperty("sparsity").GetDouble())));
        Assert.True(layers[2].GetProperty("excluded").GetBoolean());

        // The dense plan is the model itself on the same images: eval --split val --limit 60 measures the same top-1.
        var dense = Json(Plan("evaluate", "--rates", "hidden=0", "--limit", "60", "--json"));
        var eval = Json(Run("eval", "--model", _model, "--dataset", "fashion-mnist", "--split", "val", "--limit", "60", "--json"));
        Assert.Equal(eval.GetProperty("top1").GetDouble(), dense.GetProperty("top1").GetDouble());
        Assert.Equal(0, dense.GetProperty("sparsity").GetDouble());
    }

    [Fact]
    public void AllocateRunsTheMissingSweepSavesBothPlansAndEvaluatePredictsTheSame()
    {
        var allocated = PathOf("allocated.json");
        var uniform = PathOf("uniform.json");

        var run = Plan("allocate", "--target-sparsity", "0.6", "--limit", "60", "--levels", "0,0.25,0.5,0.75,0.9", "--out", allocated, "--uniform-out", uniform, "--json");

        var json = Json(run);
        Assert.Contains("no curve yet for hidden.fc1, hidden.fc2: running the element sweep", run.Err);
        Assert.Equal(8, json.GetProperty("cells_swept").GetInt32()); // 2 layers × 4 pruned levels (the output layer is excluded)
        Assert.True(json.GetProperty("met").GetBoolean());
        Assert.InRange(json.GetProperty("sparsity").GetDouble(), 0.6, 0.6001);
        var proposal = json.GetProperty("uniform");
        Assert.InRange(proposal.GetProperty("sparsity").GetDouble(), 0.6, 0.6002); // one level for 265,200 weights: a 0.0001 step moves about 27 of them
        var uniformLevels = proposal.GetProperty("layers").EnumerateArray().Where(l => !l.GetProperty("excluded").GetBoolean())
            .Select(l => l.GetProperty("sparsity").GetDouble()).Distinct();
        Assert.Equal([proposal.GetProperty("uniform_level").GetDouble()], uniformLevels);
        Assert.Equal(("sparsity", 0.6), (json.GetProperty("target").GetProperty("goal").GetString(), json.GetProperty("target").GetProperty("value").GetDouble()));
        foreach (var top1 in new[] { json.GetProperty("predicted_top1"), proposal.GetProperty("predicted_top1"), json.GetProperty("baseline_top1") })
            Assert.InRange(top1.GetDouble(), 0, 1);
        Assert.True(File.Exists(allocated) && File.Exists(uniform));

        // Again: every curve is in the workspace now, nothing is swept.
        Assert.Equal(0, Json(Plan("allocate", "--target-sparsity", "0.6", "--limit", "60", "--json")).GetProperty("cells_swept").GetInt32());

        // The saved plan evaluates with the levels and the prediction allocate gave.
        var evaluated = Json(Plan("evaluate", "--plan", allocated, "--limit", "60", "--json"));
        Assert.Equal(Levels(json), Levels(evaluated));
        Assert.Equal(json.GetProperty("predicted_top1").GetDouble(), evaluated.GetProperty("predicted_top1").GetDouble());
        Assert.Empty(evaluated.GetProperty("layers_without_curve").EnumerateArray());

        static (string?, double)[] Levels(JsonElement json) =>
            [.. json.GetProperty("layers").EnumerateArray().Select(l => (l.GetProperty("name").GetString(), l.GetProperty("sparsity").GetDouble()))];
    }

    [Theory]
    [InlineData("evaluate", "--limit 60", "--rates", "give the rates")]
    [InlineData("evaluate", "--rates stage9=0.5", "--rates", "'stage9' is neither a stage (hidden, classifier) nor a layer")]
    [InlineData("evaluate", "--rates hidden=1.5", "--rates", "1.5 is outside [0, 1)")]
    [InlineData("evaluate", "--rates hidden:0.5", "--rates", "is not name=level")]
    [InlineData("evaluate", "--criterion filter --rates classifier.fc=0.3", "--rates", "cannot be pruned by filter")]
    [InlineData("evaluate", "--rates hidden=0.5 --norm l2", "--norm", "only applies to --criterion filter")]
    [InlineData("evaluate", "--rates hidden=0.5 --limit 0", "--limit", "between 1")]
    [InlineData("evaluate", "--rates hidden=0.5 --limit 999999", "--limit", "validation images")]
    [InlineData("allocate", "--limit 60", "--target-sparsity", "give one target")]
    [InlineData("allocate", "--target-sparsity 0.5 --max-drop 0.01", "--max-drop", "not both --target-sparsity and --max-drop")]
    [InlineData("allocate", "--target-sparsity 1.2", "--target-sparsity", "1.2 is outside [0, 1)")]
    [InlineData("allocate", "--target-macs 0", "--target-macs", "above 0 and at most 1")]
    [InlineData("allocate", "--max-drop 1.5", "--max-drop", "from 0 to below 1")]
    [InlineData("allocate", "--target-sparsity 0.5 --levels 0,2", "--levels", "outside [0, 1)")]
    public void BadArgumentsExitTwoWithOneLineNamingTheOption(string command, string commandLine, string option, string detail)
    {
        var (code, output, error) = Plan(command, commandLine.Split(' '));

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.StartsWith($"error: {option}: ", line, StringComparison.Ordinal);
        Assert.Contains(detail, line);
    }

    [Fact]
    public void APlanFileForAnotherModelOrACorruptOneExitsOneNamingPlan()
    {
        var mine = PathOf("mine.json");
        Json(Plan("evaluate", "--rates", "hidden=0.5", "--limit", "60", "--out", mine, "--json"));
        manual_seed(6);
        using (var other = ModelZoo.Create(ModelZoo.Lenet300100))
            Checkpoint.Save(other, PathOf("other.ckpt"), IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        var corrupt = PathOf("corrupt.json");
        File.WriteAllText(corrupt, "{ \"format\": ");

        var forOther = Run("plan", "evaluate", "--model", PathOf("other.ckpt"), "--dataset", "fashion-mnist", "--plan", mine, "--workspace", PathOf("workspace"));
        var broken = Plan("evaluate", "--plan", corrupt);

        Assert.Equal(CliApp.Failure, forOther.Code);
        Assert.StartsWith($"error: --plan: Plan file {mine}: the plan is for other weights of lenet-300-100 ('lenet')", forOther.Err, StringComparison.Ordinal);
        Assert.Equal(CliApp.Failure, broken.Code);
        Assert.StartsWith($"error: --plan: Plan file {corrupt}: not a valid plan file at line 1", broken.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchPlanReportsTheMedianAndP95OfSliderMoves()
    {
        var json = Json(Run("bench", "plan", "--moves", "200", "--json"));

        Assert.Equal(("vgg-small", 7, 4, 200), (json.GetProperty("architecture").GetString(), json.GetProperty("layers").GetInt32(),
            json.GetProperty("stages").GetInt32(), json.GetProperty("moves").GetInt32()));
        var (median, p95, max) = (json.GetProperty("median_ms").GetDouble(), json.GetProperty("p95_ms").GetDouble(), json.GetProperty("max_ms").GetDouble());
        Assert.True(median > 0 && median <= p95 && p95 <= max, $"{median} {p95} {max}");
        Assert.Equal(p95 < 100, json.GetProperty("within_bound").GetBoolean());
    }

    [Fact]
    public void APlanWithoutACommandListsItsCommands()
    {
        var (code, _, error) = Run("plan");

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Contains("'plan evaluate' or 'plan allocate'", error);
    }
}
