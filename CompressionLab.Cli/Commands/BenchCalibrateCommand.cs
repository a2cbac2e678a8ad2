using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>bench calibrate --model FILE --dataset NAME [--limit N] [--repeats N] [--json]</c>: what calibration costs.
/// <c>collect_overhead</c> = statistics collection time / plain evaluation time of the same validation images, the two
/// timed alternately in this one process (<see cref="CollectionBenchmark"/>; the median of the repeats' ratios, so
/// changing load on a shared machine cancels out); <c>entropy_ms_per_tensor</c> = the entropy (KL) search with its costing
/// on the collected histograms (<see cref="CalibrationBenchmark.Entropy"/>), the median over the activation tensors.
/// <c>collect_overhead_cpu</c>: the same ratio from the process's CPU time, steadier on a shared machine.
/// Nothing is written.
/// </summary>
public sealed class BenchCalibrateCommand : CliCommand
{
    /// <summary>The bounds: collection at most 1.5× an evaluation, the entropy search under 10 ms per tensor.</summary>
    public const double OverheadBound = 1.5;
    public const double EntropyBoundMs = 10;

    private readonly Option<string> _model = QuantInputs.Model();
    private readonly Option<string> _dataset = QuantInputs.Dataset();
    private readonly Option<int?> _limit = RangedIntOption("--limit", $"validation images timed (default {CalibrationRequest.DefaultSubsetSize})", 1, 1_000_000);
    private readonly Option<int?> _repeats = RangedIntOption("--repeats", "evaluate/collect pairs timed; the median ratio is reported (default 5)", 1, 1000);
    private readonly Option<bool> _json = JsonOption();

    public BenchCalibrateCommand() : base("calibrate", "time statistics collection against a plain evaluation of the same images, and the entropy search per tensor")
    {
        foreach (var option in new Option[] { _model, _dataset, _limit, _repeats, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Bench;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string> { [ModelSource.Setting] = "--model", ["SubsetSize"] = "--limit" };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = PlanInputs.ModelFile(parse.GetRequiredValue(_model));
        var datasetName = parse.GetRequiredValue(_dataset);
        var dataset = DatasetSource.Load(context, datasetName);
        TorchRuntime.Configure();
        using var checkpoint = Checkpoint.Load(model.Source.Path);
        var network = checkpoint.Model;
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, parse.GetValue(_limit) ?? CalibrationRequest.DefaultSubsetSize, "SubsetSize");
        network.CheckAccepts(subset.Images);
        var repeats = parse.GetValue(_repeats) ?? 5;
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{network.Architecture}: evaluating and collecting {subset.Count:N0} validation images alternately, {repeats} times; {RuntimeSettings}"));

        CollectTiming timing;
        try
        {
            timing = CollectionBenchmark.Run(network, subset, repeats, context.CancellationToken);
        }
        catch (NonFiniteTensorException e)
        {
            throw new InputFileException("--model", e.Message, e);
        }
        var entropy = timing.Profile.Layers.SelectMany(l => new[] { l.Input, l.Output })
            .Select(t => CalibrationBenchmark.Entropy(t.Magnitude).MillisecondsPerTensor).ToArray();
        var entropyMs = CollectionBenchmark.Median(entropy);

        var json = new BenchCalibrateJson(CliJson.Round(timing.Overhead, 4), CliJson.Round(entropyMs, 4), CliJson.Round(timing.CpuOverhead, 4), CliJson.Round(entropy.Max(), 4),
            CliJson.Round(timing.MedianCollectSeconds, 4), CliJson.Round(timing.MedianEvaluateSeconds, 4), timing.Repeats, timing.Images, entropy.Length,
            OverheadBound, EntropyBoundMs, timing.Overhead <= OverheadBound && entropyMs < EntropyBoundMs, network.Architecture);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{network.Architecture}, {timing.Images:N0} images: collection {timing.MedianCollectSeconds:0.000} s vs evaluation {timing.MedianEvaluateSeconds:0.000} s, overhead {timing.Overhead:0.000}× (CPU time {timing.CpuOverhead:0.000}×; bound {OverheadBound}×); entropy search {entropyMs:0.000} ms per tensor (max {entropy.Max():0.000}, bound {EntropyBoundMs} ms)"));
        }
        return CliApp.Success;
    }
}

/// <summary><c>bench calibrate --json</c>: the two figures the issue bounds first, then what they come from.</summary>
internal sealed record BenchCalibrateJson(
    double CollectOverhead,
    double EntropyMsPerTensor,
    double CollectOverheadCpu,
    double EntropyMsMax,
    double CollectSeconds,
    double EvaluateSeconds,
    int Repeats,
    int Images,
    int Tensors,
    double OverheadBound,
    double EntropyBoundMs,
    bool WithinBounds,
    string Architecture);
