using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;
using static CompressionLab.Tests.Cli.InProcessCli;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Cli;

/// <summary>The quant commands in-process, on a random lenet-300-100 and a few dozen Fashion-MNIST validation images.</summary>
[Collection(SerialCollection.Name)]
public sealed class QuantCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-quant-cli-").FullName;
    private readonly string _model;

    public QuantCliTests()
    {
        manual_seed(7);
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        _model = Path.Combine(_folder, "lenet.ckpt");
        Checkpoint.Save(network, _model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private (int Code, string Out, string Err) Quant(string command, params string[] extra) =>
        Run(["quant", command, "--model", _model, "--dataset", "fashion-mnist", "--workspace", Path.Combine(_folder, "workspace"),
            .. extra.Contains("--limit") ? Array.Empty<string>() : ["--limit", "60"], "--calibration", "40", .. extra]);

    private static JsonElement Json((int Code, string Out, string Err) run)
    {
        Assert.True(run.Code == CliApp.Success, run.Err);
        return LastJsonLine(run.Out);
    }

    [Fact]
    public void SensitivityPrintsEveryLayerAndAOneLayerRowIsTheComparisonOfTheSameMix()
    {
        var json = Json(Quant("sensitivity", "--method", "max", "--json"));
        var layers = json.GetProperty("layers").EnumerateArray().ToArray();
        Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], layers.Select(l => l.GetProperty("name").GetString()));
        Assert.All(layers, l => Assert.InRange(l.GetProperty("top1_int8_only_this").GetDouble(), 0, 1));
        Assert.Equal(60, json.GetProperty("samples").GetInt32());

        // Float is what eval measures on the same 60 validation images.
        var eval = Json(Run("eval", "--model", _model, "--dataset", "fashion-mnist", "--split", "val", "--limit", "60", "--json"));
        Assert.Equal(eval.GetProperty("top1").GetDouble(), json.GetProperty("top1_float").GetDouble());

        // hidden.fc1 quantized alone on max is the mix "max, fc2 and fc in float": the comparison reads that very row back.
        var compare = Json(Quant("compare", "--methods", "max", "--method", "max", "--float", "hidden.fc2,classifier.fc", "--json"));
        var rows = compare.GetProperty("configurations").EnumerateArray().ToArray();
        Assert.Equal(["float", "max", "chosen mix"], rows.Select(r => r.GetProperty("label").GetString()));
        Assert.All(rows, r => Assert.True(r.GetProperty("from_workspace").GetBoolean())); // float, max for all, fc1 alone: all measured by the sensitivity run
        Assert.Equal(layers[0].GetProperty("top1_int8_only_this").GetDouble(), rows[2].GetProperty("top1").GetDouble());
        Assert.Equal(json.GetProperty("top1_int8").GetDouble(), rows[1].GetProperty("top1").GetDouble());
    }

    [Fact]
    public void CompareInAsymmetricModeSaysWhyEntropyDoesNotApply()
    {
        var json = Json(Quant("compare", "--methods", "mse,entropy", "--mode", "asymmetric", "--json"));
        var rows = json.GetProperty("configurations").EnumerateArray().ToArray();
        Assert.Equal(["float", "mse", "entropy"], rows.Select(r => r.GetProperty("label").GetString()));
        Assert.InRange(rows[1].GetProperty("top1").GetDouble(), 0, 1);
        Assert.Equal(JsonValueKind.Null, rows[2].GetProperty("top1").ValueKind);
        Assert.Contains("hidden.fc1", rows[2].GetProperty("problem").GetString()); // its input (normalised pixels) is signed
    }

    [Theory]
    [InlineData("compare", "--layer-method", "nolayer=mse", "--layer-method", "nolayer")]
    [InlineData("compare", "--float", "hidden.fc9", "--float", "hidden.fc9")]
    [InlineData("compare", "--method", "kl", "--method", "kl")]
    [InlineData("compare", "--methods", "max,percentile:120", "--methods", "percentile:120")]
    [InlineData("sensitivity", "--method", "max,max", "--method", "twice")]
    [InlineData("sensitivity", "--mode", "unsigned", "--mode", "unsigned")]
    public void BadSettingsNameTheirOption(string command, string option, string value, string named, string mentioned)
    {
        var extra = command == "sensitivity" && option != "--method" ? new[] { "--method", "max", option, value } : [option, value];
        var run = Quant(command, extra);
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Contains($"error: {named}:", run.Err);
        Assert.Contains(mentioned, run.Err);
    }

    [Fact]
    public void ALimitOfZeroIsRefusedNamingLimit()
    {
        var run = Quant("sensitivity", "--method", "max", "--limit", "0");
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Contains("error: --limit:", run.Err);
    }
}
