using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Export;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>bench onnx --model FILE --dataset NAME [--method M] [--calibration N] [--images N] [--repeats N] [--threads N] [--json]</c>:
/// inference time of the float32 and INT8 ONNX graphs in ONNX Runtime against the dense TorchSharp model at batch 1 and
/// 64 (<see cref="OnnxBenchmark"/>: the three timed alternately in this one process, ratios taken per repeat, medians),
/// and the file sizes. Nothing is written.
/// </summary>
public sealed class BenchOnnxCommand : CliCommand
{
    private static readonly int[] BatchSizes = [1, 64];

    private readonly Option<string> _model = QuantInputs.Model();
    private readonly Option<string> _dataset = QuantInputs.Dataset();
    private readonly Option<string?> _method = new("--method") { Description = "INT8 clipping method for every layer (default entropy)", HelpName = "M" };
    private readonly Option<int?> _calibration = QuantInputs.Calibration();
    private readonly Option<int?> _images = RangedIntOption("--images", "test images run per timing, at each batch size (default 1024)", 64, 1_000_000);
    private readonly Option<int?> _repeats = RangedIntOption("--repeats", "timed rounds of the three engines; medians are reported (default 5)", 1, 1000);
    private readonly Option<int?> _threads = RangedIntOption("--threads", "intra-op threads of TorchSharp and ONNX Runtime alike (default: one per core)", 1, 1024);
    private readonly Option<bool> _json = JsonOption();

    public BenchOnnxCommand() : base("onnx", "time the float32 and INT8 ONNX graphs in ONNX Runtime against the dense TorchSharp model (batch 1 and 64), and the file sizes")
    {
        foreach (var option in new Option[] { _model, _dataset, _method, _calibration, _images, _repeats, _threads, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Bench;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [ModelSource.Setting] = "--model",
        [nameof(QuantizationChoice.Method)] = "--method",
        ["CalibrationSize"] = "--calibration",
        ["Images"] = "--images",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = PlanInputs.ModelFile(parse.GetRequiredValue(_model));
        var choice = QuantizationChoice.Parse("symmetric", parse.GetValue(_method) ?? "entropy");
        var dataset = DatasetSource.Load(context, parse.GetRequiredValue(_dataset));
        var threads = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        TorchRuntime.Configure(threads);
        using var checkpoint = Checkpoint.Load(model.Source.Path);
        var calibration = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, parse.GetValue(_calibration) ?? Int8Images.DefaultCalibrationSize, "CalibrationSize");
        var timed = AnalysisSubset.ForRequest(dataset, SplitPart.Test, parse.GetValue(_images) ?? 1024, "Images");
        checkpoint.Model.CheckAccepts(timed.Images);
        var repeats = parse.GetValue(_repeats) ?? 5;
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{checkpoint.Model.Architecture}: calibrating {choice.Key} on {calibration.Count:N0} validation images, then timing TorchSharp, ORT float32 and ORT INT8 alternately on {timed.Count:N0} test images, {repeats} times, {threads} threads; {RuntimeSettings}"));
        QuantizationThresholds thresholds;
        try
        {
            var profile = CalibrationCollector.Collect(checkpoint.Model, checkpoint.Metadata.ContentHash, dataset.Name, calibration, cancellationToken: context.CancellationToken);
            thresholds = QuantizationThresholds.For(profile, choice);
        }
        catch (NonFiniteTensorException e)
        {
            throw new InputFileException("--model", e.Message, e);
        }
        var result = OnnxBenchmark.Run(checkpoint, thresholds, timed.Images, BatchSizes, repeats, threads, context.CancellationToken);

        var json = new BenchOnnxJson(
            [.. result.Batches.Select(b => new BenchOnnxBatchJson(b.BatchSize, b.Images, CliJson.Round(b.TorchSharpMsPerImage, 5), CliJson.Round(b.OrtFp32MsPerImage, 5),
                CliJson.Round(b.OrtInt8MsPerImage, 5), CliJson.Round(b.Fp32Speedup, 4), CliJson.Round(b.Int8Speedup, 4), CliJson.Round(b.Int8OverFp32, 4),
                CliJson.Round(b.Fp32SpeedupCpu, 4), CliJson.Round(b.Int8SpeedupCpu, 4), CliJson.Round(b.Int8OverFp32Cpu, 4)))],
            result.CheckpointBytes, result.Fp32Bytes, result.Int8Bytes, CliJson.Round((double)result.CheckpointBytes / result.Int8Bytes, 4),
            result.Repeats, result.Threads, result.Quantization, checkpoint.Model.Architecture);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
            return CliApp.Success;
        }
        context.Out.WriteLine($"{"batch",5} {"TorchSharp ms/img",18} {"ORT fp32",10} {"ORT INT8",10} {"fp32 speedup",13} {"INT8 speedup",13} {"INT8/fp32",10}   (CPU time: fp32, INT8, INT8/fp32)");
        foreach (var b in json.Batches)
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{b.BatchSize,5} {b.TorchsharpMsPerImage,18:0.0000} {b.OrtFp32MsPerImage,10:0.0000} {b.OrtInt8MsPerImage,10:0.0000} {b.Fp32Speedup,12:0.00}× {b.Int8Speedup,12:0.00}× {b.Int8OverFp32,9:0.00}×   ({b.Fp32SpeedupCpu:0.00}×, {b.Int8SpeedupCpu:0.00}×, {b.Int8OverFp32Cpu:0.00}×)"));
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sizes: checkpoint {result.CheckpointBytes:N0} bytes, ONNX float32 {result.Fp32Bytes:N0}, ONNX INT8 {result.Int8Bytes:N0} ({json.CheckpointOverInt8:0.00}× smaller than the checkpoint)"));
        return CliApp.Success;
    }
}

internal sealed record BenchOnnxBatchJson(int BatchSize, int Images, double TorchsharpMsPerImage, double OrtFp32MsPerImage, double OrtInt8MsPerImage, double Fp32Speedup, double Int8Speedup, double Int8OverFp32,
    double Fp32SpeedupCpu, double Int8SpeedupCpu, double Int8OverFp32Cpu);

/// <summary><c>bench onnx --json</c>: per batch size the three engines' ms per image and the speed-ups (TorchSharp time / ORT time), then the sizes.</summary>
internal sealed record BenchOnnxJson(
    IReadOnlyList<BenchOnnxBatchJson> Batches,
    long CheckpointBytes,
    long OnnxFp32Bytes,
    long OnnxInt8Bytes,
    double CheckpointOverInt8,
    int Repeats,
    int Threads,
    string Quantization,
    string Architecture);
