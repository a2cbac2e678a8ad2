using System.Globalization;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>bench sweep --model FILE --dataset NAME [--limit N] [--criterion element|filter] [--levels LIST] [--batch N] [--threads N] [--json]</c>:
/// the same sweep timed naive (whole network per cell) and cached (prefix caching) in one process, beside the FLOP
/// ceiling of caching and the machine's measured fp32 matrix-multiply peak. No cell cache is used: both runs compute.
/// </summary>
public sealed class BenchSweepCommand : ICliCommand
{
    public string Name => "bench sweep";
    public string Summary => "time a sweep naive vs cached; speed-up beside the FLOP ceiling, GFLOP/s beside the mm peak";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("model", "checkpoint file (the issue's benchmark uses a vgg-small)", Required: true, ValueName: "FILE"),
        new("dataset", "dataset name (fashion-mnist or synthetic)", Required: true, ValueName: "NAME"),
        new("limit", $"validation images per cell (default {AnalysisSubset.DefaultSize})", ValueName: "N"),
        new("criterion", "element (default) or filter", ValueName: "element|filter"),
        new("norm", "filter ranking norm, l1 (default) or l2", ValueName: "l1|l2"),
        new("levels", "sparsity levels (default 0,0.05,...,0.95)", ValueName: "LIST"),
        new("layers", "layer names, comma-separated (default: all)", ValueName: "LIST"),
        new("batch", "images per forward pass (default 64)", ValueName: "N"),
        new("threads", "intra-op threads for the timed runs (default: one per core)", ValueName: "N"),
        new("json", "print one JSON object as the last line", IsFlag: true),
    ];

    public int Run(ParsedOptions options, CliContext context)
    {
        var path = SweepInputs.ModelPath(options);
        var dataset = SweepInputs.LoadDataset(options, context);
        var subset = SweepInputs.Subset(dataset, options);

        TorchRuntime.Configure();
        using var checkpoint = SweepInputs.LoadCheckpoint(path, subset.Images);
        var settings = SweepInputs.Settings(options, checkpoint.Model, defaultCriterion: "element");
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{checkpoint.Model.Architecture}: {settings.CriterionKey} sweep of {settings.Layers!.Count} layers × {settings.Levels.Count} levels on {subset.Count:N0} images, naive then cached"));
        var threads = options.Int("threads", 1, 1024);
        var r = SweepBenchmark.Run(checkpoint.Model, subset.Images, settings, threads, context.CancellationToken);

        if (options.Flag("json"))
        {
            CliJson.WriteLine(context.Out, new Dictionary<string, object>
            {
                ["naive_seconds"] = CliJson.Round(r.NaiveSeconds),
                ["cached_seconds"] = CliJson.Round(r.CachedSeconds),
                ["speedup"] = CliJson.Round(r.Speedup, 4),
                ["flop_ratio"] = CliJson.Round(r.FlopRatio, 4),
                ["time_ratio"] = CliJson.Round(r.TimeRatio, 4),
                ["speedup_of_ceiling"] = CliJson.Round(r.SpeedupOfCeiling, 4),
                ["speedup_of_time_ceiling"] = CliJson.Round(r.SpeedupOfTimeCeiling, 4),
                ["images_per_second"] = CliJson.Round(r.ImagesPerSecond, 1),
                ["gflops"] = CliJson.Round(r.Gflops, 3),
                ["cached_gflops"] = CliJson.Round(r.CachedGflops, 3),
                ["peak_gflops"] = CliJson.Round(r.PeakGflops, 3),
                ["fraction_of_peak"] = CliJson.Round(r.FractionOfPeak, 4),
                ["architecture"] = r.Architecture,
                ["images"] = r.Images,
                ["layers"] = r.Layers,
                ["levels"] = r.Levels,
                ["pruned_cells"] = r.PrunedCells,
                ["threads"] = r.Threads,
                ["omp_wait"] = TorchRuntime.WaitPolicy,
                ["batch_size"] = r.BatchSize,
                ["fold_batch_norm"] = r.FoldBatchNorm,
                ["results_identical"] = r.ResultsIdentical,
                ["peak_rss_mib"] = CliJson.Round(r.PeakRssBytes / (1024.0 * 1024.0), 1),
            });
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
