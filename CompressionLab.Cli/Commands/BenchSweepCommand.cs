using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>bench sweep --model FILE --dataset NAME [--limit N] [--criterion element|filter] [--levels LIST] [--batch N] [--threads N] [--json]</c>:
/// the same sweep timed naive (whole network per cell) and cached (prefix caching) in one process, beside the FLOP
/// ceiling of caching and the machine's measured fp32 matrix-multiply peak. No cell cache is used: both runs compute.
/// </summary>
public sealed class BenchSweepCommand : CliCommand
{
    private readonly SweepOptions _sweep = new("checkpoint file (the issue's benchmark uses a vgg-small)",
        $"validation images per cell (default {AnalysisSubset.DefaultSize})", $"images per forward pass (default {SweepRequest.DefaultBatchSize})",
        defaultCriterion: "element");
    private readonly Option<int?> _threads = RangedIntOption("--threads", "intra-op threads for the timed runs (default: one per core)", 1, 1024);
    private readonly Option<bool> _json = JsonOption();

    public BenchSweepCommand() : base("sweep", "time a sweep naive vs cached; speed-up beside the FLOP ceiling, GFLOP/s beside the mm peak")
    {
        foreach (var option in _sweep.All.Append(_threads).Append(_json)) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Bench;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions => SweepOptions.SettingOptions;

    public override int Execute(ParseResult parse, CliContext context)
    {
        // The sweep job's request and its first half (model, subset, settings); the benchmark then times the sweep itself.
        var request = _sweep.Request(parse);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        using var sweep = SweepJob.Prepare(request, DatasetSource.Catalog(context.Settings), store: null, progress: null, context.CancellationToken);
        var settings = sweep.Settings;
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{sweep.Model.Architecture}: {settings.CriterionKey} sweep of {settings.Layers!.Count} layers × {settings.Levels.Count} levels on {sweep.Subset.Count:N0} images, naive then cached; {RuntimeSettings}"));
        var r = SweepBenchmark.Run(sweep.Checkpoint.Model, sweep.Subset.Images, settings, parse.GetValue(_threads), context.CancellationToken);

        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new BenchSweepJson(
                CliJson.Round(r.NaiveSeconds), CliJson.Round(r.CachedSeconds), CliJson.Round(r.Speedup, 4), CliJson.Round(r.FlopRatio, 4),
                CliJson.Round(r.TimeRatio, 4), CliJson.Round(r.SpeedupOfCeiling, 4), CliJson.Round(r.SpeedupOfTimeCeiling, 4),
                CliJson.Round(r.ImagesPerSecond, 1), CliJson.Round(r.Gflops, 3), CliJson.Round(r.CachedGflops, 3), CliJson.Round(r.PeakGflops, 3),
                CliJson.Round(r.FractionOfPeak, 4), r.Architecture, r.Images, r.Layers, r.Levels, r.PrunedCells, r.Threads, TorchRuntime.WaitPolicy, TorchRuntime.ConvolutionInstructionSet,
                r.BatchSize, r.FoldBatchNorm, r.ResultsIdentical, CliJson.Round(r.PeakRssBytes / (1024.0 * 1024.0), 1)));
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Architecture}, {r.Images} images, {r.PrunedCells} pruned cells: naive {r.NaiveSeconds:0.00} s, cached {r.CachedSeconds:0.00} s, speed-up {r.Speedup:0.00}× of a {r.FlopRatio:0.00}× FLOP ceiling ({r.SpeedupOfCeiling:P0}) and a {r.TimeRatio:0.00}× ceiling by measured block times ({r.SpeedupOfTimeCeiling:P0})"));
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"evaluation {r.ImagesPerSecond:0} images/s, {r.Gflops:0.0} GFLOP/s of a {r.PeakGflops:0.0} GFLOP/s mm peak ({r.FractionOfPeak:P0}); {r.Threads} threads, batch {r.BatchSize}; results identical: {r.ResultsIdentical}; peak RSS {r.PeakRssBytes / (1024.0 * 1024.0):0} MiB"));
        }
        return CliApp.Success;
    }
}

internal sealed record BenchSweepJson(
    double NaiveSeconds, double CachedSeconds, double Speedup, double FlopRatio, double TimeRatio, double SpeedupOfCeiling, double SpeedupOfTimeCeiling,
    double ImagesPerSecond, double Gflops, double CachedGflops, double PeakGflops, double FractionOfPeak, string Architecture, int Images,
    int Layers, int Levels, int PrunedCells, int Threads, string OmpWait, string OnednnIsa, int BatchSize, bool FoldBatchNorm, bool ResultsIdentical, double PeakRssMib);
