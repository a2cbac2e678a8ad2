using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>bench thin --model FILE [--plan FILE | --rates LIST] [--norm l1|l2] [--batch N] [--threads N] [--repeats N] [--json]</c>:
/// inference time of the dense model, the thinned model and the thinned model rounded to multiples of 8 channels, timed
/// interleaved in one process (<see cref="ThinningBenchmark"/>), each speed-up beside its MAC ratio. Without a plan, a
/// filter-pruned model is thinned by its silent filters. Nothing is written.
/// </summary>
public sealed class BenchThinCommand : CliCommand
{
    /// <summary>The target: the speed-up reaches at least this fraction of the MAC ratio.</summary>
    public const double Target = 0.8;

    /// <summary>The rounding the third network gets: oneDNN's vectorised kernels work in blocks of 8 channels with AVX2.</summary>
    public const int RoundTo = 8;

    private readonly Option<string> _model = PlanInputs.Model();
    private readonly Option<string?> _plan = ThinInputs.PlanOption();
    private readonly Option<string?> _rates = ThinInputs.RatesOption();
    private readonly Option<string?> _norm = ThinInputs.NormOption();
    private readonly Option<int?> _batch = RangedIntOption("--batch", $"images per forward pass (default {Evaluator.DefaultBatchSize}, the evaluation's)", 1, 65_536);
    private readonly Option<int?> _threads = RangedIntOption("--threads", "intra-op threads for the timed runs (default: one per core)", 1, 1024);
    private readonly Option<int?> _repeats = RangedIntOption("--repeats", "timed rounds of every network; the median is reported (default 21)", 1, 10_000);
    private readonly Option<bool> _json = JsonOption();

    public BenchThinCommand() : base("thin", "time the dense model against its thinned versions (exact and rounded to 8 channels); speed-up beside the MAC ratio")
    {
        foreach (var option in new Option[] { _model, _plan, _rates, _norm, _batch, _threads, _repeats, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Bench;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string> { [ModelSource.Setting] = "--model" };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = PlanInputs.ModelFile(parse.GetRequiredValue(_model));
        var (plan, planOption) = ThinInputs.Plan(parse, model, _plan, _rates, _norm);

        TorchRuntime.Configure();
        using var checkpoint = Checkpoint.Load(model.Source.Path);
        var network = checkpoint.Model;
        var exact = ThinInputs.Refusing(planOption, () => ThinningJob.Masks(network, new ThinningRequest(model.Source, plan, 1, "-")).Masks);
        var rounded = ThinInputs.Refusing(planOption, () => ThinningJob.Masks(network, new ThinningRequest(model.Source, plan, RoundTo, "-")).Masks);
        using var thin = Thinning.Thin(network, exact);
        using var thin8 = Thinning.Thin(network, rounded);
        if (parse.GetValue(_threads) is null) context.Err.WriteLine("threads: libtorch's default");
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{network.Architecture}: dense, thinned ({thin.MacFraction:P1} of the MACs) and thinned rounded to {RoundTo} ({thin8.MacFraction:P1}), timed interleaved; {RuntimeSettings}"));
        var r = ThinningBenchmark.Run(network, [("thin", thin), ($"thin-round{RoundTo}", thin8)], parse.GetValue(_batch) ?? Evaluator.DefaultBatchSize,
            parse.GetValue(_threads), parse.GetValue(_repeats) ?? 21, cancellationToken: context.CancellationToken);

        var json = BenchThinJson.From(r);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Architecture}, batch {r.BatchSize}, {r.Threads} threads, median of {r.Repeats} × {r.PassesPerRepeat} passes: dense {json.Dense.Ms:0.000} ms ({r.Dense.Macs:N0} MACs)"));
            foreach (var t in json.Thinned)
                context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{t.Name}: {t.Ms:0.000} ms ({t.Macs:N0} MACs), speed-up {t.Speedup:0.00}× of a {t.MacRatio:0.00}× MAC ratio ({t.FractionOfMacRatio:P0}); CPU time {t.CpuSpeedup:0.00}× ({t.CpuFractionOfMacRatio:P0}); widths {string.Join("/", t.Widths)}"));
        }
        return CliApp.Success;
    }
}

/// <summary>One network of <c>bench thin --json</c>; times in milliseconds per forward pass of one batch.</summary>
/// <c>cpu_*</c>: the same from the process's CPU time per pass (null where there is no such clock), which on a shared machine
/// leaves out the time other processes held the cores. <c>page_faults_per_pass</c>: the process's minor page faults per pass (median).
internal sealed record BenchThinNetworkJson(string Name, long Macs, long Params, double Ms, double Speedup, double MacRatio, double FractionOfMacRatio, double MaxDifference, IReadOnlyList<int> Widths,
    double? CpuMs, double? CpuSpeedup, double? CpuFractionOfMacRatio, double? PageFaultsPerPass)
{
    public static BenchThinNetworkJson From(ThinningBenchmarkVariant dense, ThinningBenchmarkVariant variant) => new(
        variant.Name, variant.Macs, variant.Parameters, CliJson.Round(variant.MedianSeconds * 1000, 4),
        CliJson.Round(ThinningBenchmarkResult.Speedup(dense, variant), 4), CliJson.Round(ThinningBenchmarkResult.MacRatio(dense, variant), 4),
        CliJson.Round(ThinningBenchmarkResult.FractionOfMacRatio(dense, variant), 4), variant.MaxDifference, variant.Widths,
        Rounded(variant.MedianCpuSeconds * 1000), Rounded(ThinningBenchmarkResult.CpuSpeedup(dense, variant)), Rounded(ThinningBenchmarkResult.CpuFractionOfMacRatio(dense, variant)),
        Rounded(variant.MedianPageFaultsPerPass));

    private static double? Rounded(double? value) => value is { } v ? CliJson.Round(v, 4) : null;
}

/// <summary>
/// <c>bench thin --json</c>: the exact thin network's speed-up, MAC ratio and fraction at the top level (and whether it meets
/// the target), every network under <c>dense</c> and <c>thinned</c>.
/// </summary>
internal sealed record BenchThinJson(
    double Speedup,
    double MacRatio,
    double FractionOfMacRatio,
    double? CpuFractionOfMacRatio,
    double Target,
    bool MeetsTarget,
    BenchThinNetworkJson Dense,
    IReadOnlyList<BenchThinNetworkJson> Thinned,
    string Architecture,
    int Batch,
    int Threads,
    int Repeats,
    int PassesPerRepeat,
    string OmpWait,
    string OnednnIsa,
    string Allocator)
{
    public static BenchThinJson From(ThinningBenchmarkResult r)
    {
        var thinned = r.Thinned.Select(v => BenchThinNetworkJson.From(r.Dense, v)).ToArray();
        var exact = thinned[0];
        return new BenchThinJson(exact.Speedup, exact.MacRatio, exact.FractionOfMacRatio, exact.CpuFractionOfMacRatio, BenchThinCommand.Target, exact.FractionOfMacRatio >= BenchThinCommand.Target,
            BenchThinNetworkJson.From(r.Dense, r.Dense), thinned, r.Architecture, r.BatchSize, r.Threads, r.Repeats, r.PassesPerRepeat,
            TorchRuntime.WaitPolicy, TorchRuntime.ConvolutionInstructionSet, TorchRuntime.AllocatorSettings);
    }
}
