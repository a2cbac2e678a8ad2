using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Export;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;
using static CompressionLab.Tests.Cli.InProcessCli;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Cli;

/// <summary><c>export onnx</c> and <c>bench onnx</c> in-process, on a random lenet-5 and a few dozen Fashion-MNIST images.</summary>
[Collection(SerialCollection.Name)]
public sealed class OnnxCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-onnx-cli-").FullName;
    private readonly string _model;

    public OnnxCliTests()
    {
        manual_seed(9);
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        _model = Path.Combine(_folder, "lenet5.ckpt");
        Checkpoint.Save(network, _model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private (int Code, string Out, string Err) Export(params string[] extra) =>
        Run(["export", "onnx", "--model", _model, "--workspace", Path.Combine(_folder, "workspace"), "--limit", "70", .. extra]);

    private static JsonElement Json((int Code, string Out, string Err) run)
    {
        Assert.True(run.Code == CliApp.Success, run.Err);
        return LastJsonLine(run.Out);
    }

    [Fact]
    public void Float32ExportWritesAFileWhoseLogitsEqualTheEnginesAndReportsTheContractedFields()
    {
        var path = Path.Combine(_folder, "out", "lenet5.onnx");
        var json = Json(Export("--out", path, "--json"));

        Assert.Equal(Path.GetFullPath(path), json.GetProperty("out").GetString());
        Assert.True(json.GetProperty("max_abs_diff").GetDouble() <= 1e-4);
        Assert.Equal("float32", json.GetProperty("quantization").GetString());
        Assert.Equal(70, json.GetProperty("images").GetInt32());
        Assert.True(json.GetProperty("within_tolerance").GetBoolean());
        Assert.Equal(new FileInfo(path).Length, json.GetProperty("onnx_bytes").GetInt64());
        // torchsharp_top1 is what eval measures on the same 70 validation images; ORT agrees on this random model.
        var eval = Json(Run("eval", "--model", _model, "--dataset", "fashion-mnist", "--split", "val", "--limit", "70", "--json"));
        Assert.Equal(eval.GetProperty("top1").GetDouble(), json.GetProperty("torchsharp_top1").GetDouble());
        Assert.Equal(json.GetProperty("torchsharp_top1").GetDouble(), json.GetProperty("ort_top1").GetDouble());
        using var onnx = OnnxInference.Load(path, threads: 1);
        Assert.Equal(10, onnx.ClassCount);
    }

    [Fact]
    public void Int8ExportComparesOrtWithTheSimulationAndKeepsTheStatisticsInTheWorkspace()
    {
        var path = Path.Combine(_folder, "lenet5.int8.onnx");
        var json = Json(Export("--int8", "--method", "mse", "--calibration", "64", "--out", path, "--json"));

        Assert.Equal("symmetric mse; logits float", json.GetProperty("quantization").GetString());
        Assert.Contains("stratified-64", json.GetProperty("calibration_subset").GetString());
        Assert.InRange(Math.Abs(json.GetProperty("ort_top1").GetDouble() - json.GetProperty("torchsharp_top1").GetDouble()), 0, 0.003);
        Assert.True(json.GetProperty("within_tolerance").GetBoolean());
        // INT8 weights: about a quarter of the float file.
        Assert.True(json.GetProperty("onnx_bytes").GetInt64() < 0.35 * json.GetProperty("checkpoint_bytes").GetInt64());

        // The simulated top-1 is calibrate's top1_int8: calibrate measures on its calibration images, so the export is
        // checked on those same 64 validation images here.
        var same = Json(Run("export", "onnx", "--model", _model, "--workspace", Path.Combine(_folder, "workspace"), "--int8", "--method", "mse", "--calibration", "64",
            "--split", "val", "--limit", "64", "--out", path, "--json"));
        var calibrate = Json(Run("calibrate", "--model", _model, "--dataset", "fashion-mnist", "--method", "mse", "--limit", "64",
            "--workspace", Path.Combine(_folder, "workspace"), "--json"));
        Assert.Equal(calibrate.GetProperty("top1_int8").GetDouble(), same.GetProperty("torchsharp_top1").GetDouble());
    }

    [Fact]
    public void QuantizationOptionsWithoutInt8AreRefusedAndTheModelCannotBeOverwritten()
    {
        var before = File.ReadAllBytes(_model);
        var method = Export("--method", "mse", "--out", Path.Combine(_folder, "x.onnx"));
        Assert.Equal(CliApp.BadArguments, method.Code);
        Assert.Contains("error: --method:", method.Err);
        Assert.Contains("--int8", method.Err);

        var over = Export("--out", _model);
        Assert.Equal(CliApp.BadArguments, over.Code);
        Assert.Contains("error: --out:", over.Err);
        Assert.Equal(before, File.ReadAllBytes(_model));

        var badMethod = Export("--int8", "--method", "kl", "--out", Path.Combine(_folder, "x.onnx"));
        Assert.Equal(CliApp.BadArguments, badMethod.Code);
        Assert.Contains("error: --method:", badMethod.Err);
        var badLayer = Export("--int8", "--float", "stage9.conv1", "--out", Path.Combine(_folder, "x.onnx"));
        Assert.Equal(CliApp.BadArguments, badLayer.Code);
        Assert.Contains("error: --float:", badLayer.Err);
        Assert.False(File.Exists(Path.Combine(_folder, "x.onnx")));
    }

    [Fact]
    public void ACorruptModelFileIsAFailureNamingModel()
    {
        var corrupt = Path.Combine(_folder, "corrupt.ckpt");
        File.WriteAllBytes(corrupt, [.. File.ReadAllBytes(_model).Take(300)]);
        var run = Run("export", "onnx", "--model", corrupt, "--out", Path.Combine(_folder, "c.onnx"));
        Assert.Equal(CliApp.Failure, run.Code);
        Assert.Contains("error: --model:", run.Err);
        Assert.False(File.Exists(Path.Combine(_folder, "c.onnx")));
    }

    [Fact]
    public void BenchOnnxReportsBothBatchSizesTheirRatiosAndTheSizes()
    {
        var json = Json(Run("bench", "onnx", "--model", _model, "--dataset", "fashion-mnist", "--calibration", "32", "--images", "64", "--repeats", "1", "--threads", "1", "--json"));
        var batches = json.GetProperty("batches").EnumerateArray().ToArray();
        Assert.Equal([1, 64], batches.Select(b => b.GetProperty("batch_size").GetInt32()));
        foreach (var b in batches)
        {
            Assert.Equal(64, b.GetProperty("images").GetInt32());
            foreach (var field in new[] { "torchsharp_ms_per_image", "ort_fp32_ms_per_image", "ort_int8_ms_per_image", "fp32_speedup", "int8_speedup", "int8_over_fp32" })
                Assert.True(b.GetProperty(field).GetDouble() > 0, field);
            // One repeat: each ratio is the quotient of the times reported (which are rounded to 5 decimals: 2 % slack).
            var quotient = b.GetProperty("torchsharp_ms_per_image").GetDouble() / b.GetProperty("ort_fp32_ms_per_image").GetDouble();
            Assert.InRange(b.GetProperty("fp32_speedup").GetDouble() / quotient, 0.98, 1.02);
        }
        Assert.Equal(new FileInfo(_model).Length, json.GetProperty("checkpoint_bytes").GetInt64());
        Assert.True(json.GetProperty("onnx_int8_bytes").GetInt64() < json.GetProperty("onnx_fp32_bytes").GetInt64() / 3);
        Assert.Equal(1, json.GetProperty("threads").GetInt32());
    }
}
