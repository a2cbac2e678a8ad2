using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>bench plan [--arch NAME] [--moves N] [--json]</c>: the server-side time of one stage-slider move on the pruning plan
/// page (change a stage rate, resolve, predict sizes and top-1), median and 95th percentile over N moves
/// (<see cref="PlanBenchmark"/>). No weights and no data are read: a prediction does not touch them.
/// </summary>
public sealed class BenchPlanCommand : CliCommand
{
    /// <summary>The issue's bound for one slider move on vgg-small.</summary>
    public const double BoundMs = 100;

    private readonly Option<string?> _arch = new("--arch") { Description = $"architecture (default {ModelZoo.VggSmall}): {string.Join(", ", ModelZoo.Architectures)}", HelpName = "NAME" };
    private readonly Option<int?> _moves = RangedIntOption("--moves", "slider moves to time (default 1000)", 1, 1_000_000);
    private readonly Option<bool> _json = JsonOption();

    public BenchPlanCommand() : base("plan", "time one stage-slider move of a pruning plan (resolve and predict): median and p95")
    {
        _arch.AcceptOnlyFromAmong([.. ModelZoo.Architectures]);
        foreach (var option in new Option[] { _arch, _moves, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Bench;

    // Pure C# over the layer graph; the network is built only for its layer table.
    public override bool ComputesWithTorch => false;

    public override int Execute(ParseResult parse, CliContext context)
    {
        using var network = ModelZoo.Create(parse.GetValue(_arch) ?? ModelZoo.VggSmall);
        var r = PlanBenchmark.Run(network, parse.GetValue(_moves) ?? 1000);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new BenchPlanJson(r.Architecture, r.Layers, r.Stages, r.Moves, CliJson.Round(r.MedianMs, 4), CliJson.Round(r.P95Ms, 4),
                CliJson.Round(r.MaxMs, 4), CliJson.Round(r.MeanMs, 4), BoundMs, r.P95Ms < BoundMs));
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Architecture} ({r.Layers} layers, {r.Stages} stages), {r.Moves} slider moves: median {r.MedianMs:0.000} ms, p95 {r.P95Ms:0.000} ms, max {r.MaxMs:0.000} ms (bound {BoundMs} ms)"));
        }
        return CliApp.Success;
    }
}

internal sealed record BenchPlanJson(string Architecture, int Layers, int Stages, int Moves, double MedianMs, double P95Ms, double MaxMs, double MeanMs, double BoundMs, bool WithinBound);
