using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Pruning;
using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary><c>export state-dict</c> and <c>export dialects</c> in-process on a random vgg-tiny checkpoint.</summary>
[Collection(SerialCollection.Name)] // RandomZooModel seeds TorchSharp's global generator
public sealed class ExportCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-export-cli-").FullName;
    private readonly string _model;

    public ExportCliTests()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 12);
        _model = PathOf("tiny.ckpt");
        Checkpoint.Save(network, _model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    private static JsonElement Json((int Code, string Out, string Err) run)
    {
        Assert.True(run.Code == CliApp.Success, run.Err);
        return LastJsonLine(run.Out);
    }

    [Fact]
    public void StateDictIsTheCheckpointsWeightsUnderPyTorchNames()
    {
        var json = Json(Run("export", "state-dict", "--model", _model, "--out", PathOf("tiny.safetensors"), "--python", PathOf("tiny.py"), "--json"));

        Assert.Equal(PathOf("tiny.safetensors"), json.GetProperty("out").GetString());
        Assert.Equal(38, json.GetProperty("tensors").GetInt32()); // 6 convs without bias, 6 BatchNorms × 5 entries, the linear's weight and bias
        Assert.Equal("sequential", json.GetProperty("names").GetString());
        var bytes = File.ReadAllBytes(PathOf("tiny.safetensors"));
        Assert.Equal(bytes.LongLength, json.GetProperty("bytes").GetInt64());
        var header = Safetensors.ReadHeader(bytes);
        using var checkpoint = Checkpoint.Load(_model);
        Assert.Equal(checkpoint.Metadata.ContentHash, header.Metadata["source_weights_hash"]);
        var weight = header.Entries.Single(e => e.Name == "17.weight");
        Assert.Equal(checkpoint.Model.LayerWeight("stage3.conv2").data<float>().ToArray(), Safetensors.Floats(bytes, header, weight));
        Assert.Contains("nn.Conv2d(16, 24, kernel_size=3, padding=1, bias=False),  # 14: stage3.conv1", File.ReadAllText(PathOf("tiny.py")), StringComparison.Ordinal);
    }

    [Fact]
    public void StateDictRefusesToOverwriteTheModel()
    {
        var before = File.ReadAllBytes(_model);
        var (code, output, error) = Run("export", "state-dict", "--model", _model, "--out", _model, "--json");
        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        Assert.StartsWith("error: --out: ", error, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(_model));
    }

    [Fact]
    public void DialectsWritesEveryFileForRatesAndACalibrationMethod()
    {
        var stats = PathOf("stats.yaml");
        using (var network = ModelZoo.Create(ModelZoo.VggTiny))
        {
            File.WriteAllText(stats, DistillerStatsYaml.Write([.. network.Layers.Select(l => new DistillerLayerStats(l.Name,
                new DistillerTensorStats(-1, 1, -0.5, 0.5, 0, 0.3, "(64, 1, 28, 28)"), new DistillerTensorStats(-2, 2, -1, 1, 0, 0.6, "(64, 8, 28, 28)")))]));
        }
        var json = Json(Run("export", "dialects", "--model", _model, "--rates", "stage1=0.5,stage3.conv2=0.3", "--epochs", "6",
            "--quant-method", "avg", "--stats-yaml", stats, "--out", PathOf("dialects"), "--json"));

        var files = json.GetProperty("files").EnumerateArray().Select(f => Path.GetFileName(f.GetString()!)).ToArray();
        Assert.Equal(["pytorch_model.py", "distiller_schedule.yaml", "sparseml_recipe.yaml", "nni_config_list.levelpruner.json", "distiller_ptq.yaml", "distiller_activation_stats.yaml"], files);
        var schedule = File.ReadAllText(PathOf(Path.Combine("dialects", "distiller_schedule.yaml")));
        Assert.Contains("weights: ['0.weight', '3.weight']", schedule, StringComparison.Ordinal);
        Assert.Contains("weights: ['17.weight']", schedule, StringComparison.Ordinal);
        Assert.Contains("ending_epoch: 5", schedule, StringComparison.Ordinal); // ⌊0.75 · 6⌋ + 1
        Assert.Equal(["0", "3", "7", "10", "14", "17", "23"], DistillerStatsYaml.Read(File.ReadAllText(PathOf(Path.Combine("dialects", "distiller_activation_stats.yaml")))).Select(s => s.Layer));
    }

    [Theory]
    [InlineData("--quant-mode", "asymmetric", "--quant-mode")]
    [InlineData("--epochs", "0", "--epochs")]
    [InlineData("--rates", "stage9=0.5", "--rates")]
    [InlineData("--schedule", "cubic", "--schedule")]
    public void DialectsRefusesBadOptionsWritingNothing(string option, string value, string named)
    {
        var (code, output, error) = Run("export", "dialects", "--model", _model, option, value, "--out", PathOf("bad"), "--json");
        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(PathOf("bad")) && Directory.EnumerateFileSystemEntries(PathOf("bad")).Any());
    }

    [Fact]
    public void StatisticsForAnotherNetworkAreRefusedNamingTheLayer()
    {
        var stats = PathOf("other.yaml");
        File.WriteAllText(stats, DistillerStatsYaml.Write([new DistillerLayerStats("hidden.fc1",
            new DistillerTensorStats(-1, 1, -0.5, 0.5, 0, 0.3, "(64, 784)"), new DistillerTensorStats(-2, 2, -1, 1, 0, 0.6, "(64, 300)"))]));
        var (code, _, error) = Run("export", "dialects", "--model", _model, "--quant-method", "max", "--stats-yaml", stats, "--out", PathOf("other"));
        Assert.Equal(CliApp.Failure, code); // a file that cannot be used, as a bad dataset or checkpoint file
        Assert.StartsWith("error: --stats-yaml: ", error, StringComparison.Ordinal);
        Assert.Contains("hidden.fc1", error, StringComparison.Ordinal);
    }
}
