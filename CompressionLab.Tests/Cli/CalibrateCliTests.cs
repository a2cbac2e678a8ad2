using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Tests.Models;
using static CompressionLab.Tests.Cli.InProcessCli;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Cli;

/// <summary><c>calibrate</c> and <c>bench calibrate</c> in-process, on a random lenet-5 and a few dozen Fashion-MNIST validation images.</summary>
[Collection(SerialCollection.Name)]
public sealed class CalibrateCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-calibrate-cli-").FullName;
    private readonly string _model;

    public CalibrateCliTests()
    {
        manual_seed(5);
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        _model = Path.Combine(_folder, "lenet5.ckpt");
        Checkpoint.Save(network, _model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private (int Code, string Out, string Err) Calibrate(params string[] extra) =>
        Run(["calibrate", "--model", _model, "--dataset", "fashion-mnist", "--workspace", Path.Combine(_folder, "workspace"),
            .. extra.Contains("--limit") ? Array.Empty<string>() : ["--limit", "40"], .. extra]);

    private static JsonElement Json((int Code, string Out, string Err) run)
    {
        Assert.True(run.Code == CliApp.Success, run.Err);
        return LastJsonLine(run.Out);
    }

    private static readonly string[] Layers = ["stage1.conv1", "stage2.conv1", "classifier.fc1", "classifier.fc2", "classifier.fc"];

    [Fact]
    public void JsonHasEveryLayersInputOutputAndWeightWithTheContractedFields()
    {
        var json = Json(Calibrate("--method", "percentile:99.9", "--json"));
        var rows = json.GetProperty("layers").EnumerateArray().ToArray();
        Assert.Equal(Layers.SelectMany(l => new[] { (l, "input"), (l, "output"), (l, "weight") }),
            rows.Select(r => (r.GetProperty("name").GetString()!, r.GetProperty("tensor").GetString()!)));
        foreach (var row in rows)
        {
            var amax = row.GetProperty("amax").GetDouble();
            Assert.True(amax > 0);
            // Unsigned after a ReLU (an input of every layer but the first): 255 steps over [0, amax]; symmetric 127.
            var steps = row.GetProperty("grid").GetString() == "unsigned" ? 255 : 127;
            Assert.Equal(amax / steps, row.GetProperty("scale").GetDouble(), 6);
            Assert.Equal(0, row.GetProperty("zero_point").GetInt32());
            Assert.InRange(row.GetProperty("clipped_fraction").GetDouble(), 0, 0.01);
            Assert.True(row.GetProperty("sqnr_db").GetDouble() > 0);
        }
        Assert.Equal("symmetric", rows[0].GetProperty("grid").GetString());   // normalised pixels are signed
        Assert.Equal("unsigned", rows[3].GetProperty("grid").GetString());    // stage2.conv1 reads ReLU + pool
        Assert.InRange(json.GetProperty("top1_int8").GetDouble(), 0, 1);
        Assert.True(json.GetProperty("seconds").GetDouble() > 0);
        Assert.Equal(40, json.GetProperty("images").GetInt32());
        Assert.False(json.GetProperty("profile_from_workspace").GetBoolean());

        // Float is what eval measures on the same 40 validation images.
        var eval = Json(Run("eval", "--model", _model, "--dataset", "fashion-mnist", "--split", "val", "--limit", "40", "--json"));
        Assert.Equal(eval.GetProperty("top1").GetDouble(), json.GetProperty("top1_float").GetDouble());

        // The second run reads the statistics back from the workspace and gives the same answer.
        var again = Json(Calibrate("--method", "percentile:99.9", "--json"));
        Assert.True(again.GetProperty("profile_from_workspace").GetBoolean());
        Assert.Equal(json.GetProperty("layers").GetRawText(), again.GetProperty("layers").GetRawText());
        Assert.Equal(json.GetProperty("top1_float").GetDouble(), again.GetProperty("top1_float").GetDouble());
        Assert.Equal(json.GetProperty("top1_int8").GetDouble(), again.GetProperty("top1_int8").GetDouble());
    }

    [Fact]
    public void MaxClipsNothingAndItsInputAmaxIsTheLargestMagnitudeOfDistillersStatistics()
    {
        var yaml = Path.Combine(_folder, "out", "stats.yaml");
        var json = Json(Calibrate("--method", "max", "--stats-yaml", yaml, "--json"));
        var stats = DistillerStatsYaml.Read(File.ReadAllText(yaml));
        Assert.Equal(Layers, stats.Select(s => s.Layer));
        Assert.Equal(Path.GetFullPath(yaml), json.GetProperty("stats_yaml").GetString());
        var rows = json.GetProperty("layers").EnumerateArray().ToArray();
        Assert.All(rows, r => Assert.Equal(0, r.GetProperty("clipped_fraction").GetDouble()));
        foreach (var layer in stats)
        {
            // Two independent paths: the histogram's observed range (amax) and TensorStatistics' min/max (the YAML), rounded to 8 digits.
            var input = rows.Single(r => r.GetProperty("name").GetString() == layer.Layer && r.GetProperty("tensor").GetString() == "input");
            Assert.Equal(Math.Max(Math.Abs(layer.Input.Min), Math.Abs(layer.Input.Max)), input.GetProperty("amax").GetDouble(), 6);
            var output = rows.Single(r => r.GetProperty("name").GetString() == layer.Layer && r.GetProperty("tensor").GetString() == "output");
            Assert.Equal(Math.Max(Math.Abs(layer.Output.Min), Math.Abs(layer.Output.Max)), output.GetProperty("amax").GetDouble(), 6);
            Assert.Equal("(40, 1, 28, 28)", stats[0].Input.Shape);
        }
    }

    [Theory]
    [InlineData("--method", "kl", "--method", "kl")]
    [InlineData("--method", "percentile:120", "--method", "percentile:120")]
    [InlineData("--mode", "unsigned", "--mode", "unsigned")]
    [InlineData("--limit", "0", "--limit", "0")]
    [InlineData("--limit", "999999", "--limit", "999,999")]
    public void BadSettingsNameTheirOption(string option, string value, string named, string mentioned)
    {
        var run = Calibrate([.. option == "--method" ? Array.Empty<string>() : ["--method", "max"], option, value]);
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Contains($"error: {named}:", run.Err);
        Assert.Contains(mentioned, run.Err);
    }

    [Fact]
    public void EntropyInAsymmetricModeIsRefusedNamingMethodAndTheStatsFileCannotBeTheModel()
    {
        var run = Calibrate("--method", "entropy", "--mode", "asymmetric");
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Contains("error: --method:", run.Err);
        Assert.Contains("symmetric", run.Err);

        var before = File.ReadAllBytes(_model);
        var over = Calibrate("--method", "max", "--stats-yaml", _model);
        Assert.Equal(CliApp.BadArguments, over.Code);
        Assert.Contains("error: --stats-yaml:", over.Err);
        Assert.Equal(before, File.ReadAllBytes(_model));
    }

    [Fact]
    public void ANonFiniteWeightFailsNamingLayerAndTensor()
    {
        manual_seed(5);
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        using (no_grad()) network.LayerWeight("classifier.fc2")[0, 0] = float.NaN;
        var broken = Path.Combine(_folder, "broken.ckpt");
        Checkpoint.Save(network, broken, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        var run = Run("calibrate", "--model", broken, "--dataset", "fashion-mnist", "--method", "max", "--limit", "8", "--workspace", Path.Combine(_folder, "workspace"));
        Assert.Equal(CliApp.Failure, run.Code);
        Assert.Contains("error: --model:", run.Err);
        Assert.Contains("classifier.fc2, weight tensor", run.Err);
        Assert.Contains("NaN", run.Err);
    }

    [Fact]
    public void BenchCalibrateReportsTheOverheadAndTheEntropyTime()
    {
        var json = Json(Run("bench", "calibrate", "--model", _model, "--dataset", "fashion-mnist", "--limit", "64", "--repeats", "1", "--json"));
        Assert.True(json.GetProperty("collect_overhead").GetDouble() > 0);
        Assert.True(json.GetProperty("entropy_ms_per_tensor").GetDouble() > 0);
        Assert.Equal(10, json.GetProperty("tensors").GetInt32()); // input and output of 5 layers
        Assert.Equal(64, json.GetProperty("images").GetInt32());
    }
}
