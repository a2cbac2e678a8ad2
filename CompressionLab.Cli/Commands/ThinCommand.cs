using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>thin --model FILE (--plan FILE | --rates stage1=0.5,...) [--norm l1|l2] [--round-to N] --out FILE [--json]</c>: the
/// filter plan made physical (<see cref="ThinningJob"/>): pruned filters, their BatchNorm channels and the next layer's inputs
/// removed, saved as a checkpoint with widths. Without a plan, a filter-pruned model is thinned by its silent filters.
/// </summary>
public sealed class ThinCommand : CliCommand
{
    private readonly Option<string> _model = PlanInputs.Model();
    private readonly Option<string?> _plan = ThinInputs.PlanOption();
    private readonly Option<string?> _rates = ThinInputs.RatesOption();
    private readonly Option<string?> _norm = ThinInputs.NormOption();
    private readonly Option<int?> _roundTo = RangedIntOption("--round-to", "round each layer's kept channels up to a multiple of N (8 keeps oneDNN's fast kernels; default 1: no rounding)", 1, ThinningRequest.MaxRoundTo);
    private readonly Option<string> _out = new("--out") { Description = "the thin checkpoint to write", HelpName = "FILE", Required = true };
    private readonly Option<bool> _json = JsonOption();

    public ThinCommand() : base("thin", "remove a filter plan's filters for real: a smaller checkpoint that runs faster (or a filter-pruned model's zero filters)")
    {
        foreach (var option in new Option[] { _model, _plan, _rates, _norm, _roundTo, _out, _json }) Options.Add(option);
    }

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(ThinningRequest.Model)] = "--model",
        [nameof(ThinningRequest.RoundTo)] = "--round-to",
        [nameof(ThinningRequest.Output)] = "--out",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = PlanInputs.ModelFile(parse.GetRequiredValue(_model));
        var (plan, planOption) = ThinInputs.Plan(parse, model, _plan, _rates, _norm);
        var output = WritableOutput.File("--out", parse.GetRequiredValue(_out), "--model", model.Source.Path);
        var request = new ThinningRequest(model.Source, plan, parse.GetValue(_roundTo) ?? 1, output);
        request.Validate();

        TorchRuntime.Configure();
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model.Metadata.Architecture}: thinning by {(plan is null ? "its silent filters" : "a filter plan")}{(request.RoundTo > 1 ? $", kept channels rounded up to a multiple of {request.RoundTo}" : "")}"));
        var outcome = ThinInputs.Refusing(planOption, () => ThinningJob.Run(request, store: null, context.CancellationToken));

        var json = ThinJson.Of(outcome);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
        }
        else
        {
            context.Out.WriteLine($"{"layer",-16} {"channels",9} {"kept",6}");
            foreach (var layer in json.Layers) context.Out.WriteLine($"{layer.Name,-16} {layer.ChannelsBefore,9} {layer.ChannelsAfter,6}");
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{json.Params:N0} parameters (was {json.ParamsBefore:N0}), {json.Macs:N0} MACs (was {json.MacsBefore:N0}, {json.MacFraction:P1} left); written to {json.Out}"));
        }
        foreach (var (layer, count) in outcome.NotSilent)
            context.Err.WriteLine($"note: {layer} keeps {count} zero filter(s) whose BatchNorm still adds a constant (removing them would change the outputs)");
        return CliApp.Success;
    }
}

/// <summary>What <c>thin</c> and <c>bench thin</c> share: the plan options and how a refused plan is named.</summary>
internal static class ThinInputs
{
    public static Option<string?> PlanOption() => new("--plan") { Description = "a filter plan file (plan allocate --criterion filter --out); --rates then changes it", HelpName = "FILE" };

    public static Option<string?> NormOption()
    {
        var option = new Option<string?>("--norm") { Description = "how the filters of every stage are ranked, l1 (default) or l2 (with --plan: replaces its stages' methods)", HelpName = "l1|l2" };
        option.AcceptOnlyFromAmong("l1", "l2");
        return option;
    }

    public static Option<string?> RatesOption() => new("--rates")
    {
        Description = "filter levels per stage or layer, e.g. stage1=0.5,stage2=0.5,stage3.conv2=0.3 (every stage pruned by filter; stages not named stay whole)",
        HelpName = "LIST",
    };

    /// <summary>
    /// The filter plan the options give (every stage by filter, <c>--norm</c> or L1), or null when neither <c>--plan</c> nor
    /// <c>--rates</c> is given; with the option a refusal of the plan names (<c>--model</c> when there is no plan).
    /// </summary>
    public static (PruningPlan? Plan, string Option) Plan(ParseResult parse, PlanModelFile model, Option<string?> planOption, Option<string?> ratesOption, Option<string?> normOption)
    {
        var (planFile, rates, norm) = (parse.GetValue(planOption), parse.GetValue(ratesOption), parse.GetValue(normOption));
        if (planFile is null && rates is null)
        {
            if (norm is not null) throw new UsageException("--norm", "ranks the filters of a plan; give --rates or --plan with it");
            return (null, "--model");
        }
        var method = new PruningMethod(PruningCriterion.Filter, norm is null ? FilterNorm.L1 : PruningCriterionText.ParseNorm(norm));
        var plan = planFile is not null ? PlanInputs.ReadPlan(planFile, model).Plan : PruningPlan.Default(model.Layers, method);
        if (planFile is not null && norm is not null) plan = PlanInputs.WithMethod(plan, method);
        if (rates is not null) plan = PlanInputs.ApplyRates(plan, model, rates);
        var option = rates is not null ? "--rates" : "--plan";
        if (plan.Problems(model.Layers) is { Count: > 0 } problems)
            throw new UsageException(option, CliApp.OneLine(string.Join(" ", problems.Select(p => p.Message))));
        // Refused before any weight is read: which layers a plan prunes by element is in the plan alone.
        if (Thinning.ElementProblem(plan.Resolve(model.Layers)) is { } element) throw new UsageException(option, element);
        return (plan, option);
    }

    /// <summary>Runs <paramref name="work"/>; a refused plan (an element plan, no silent filters) is a usage error naming <paramref name="option"/>.</summary>
    public static T Refusing<T>(string option, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (InvalidRequestException e) when (e.Setting == nameof(ThinningRequest.Plan))
        {
            throw new UsageException(option, CliApp.OneLine(e.Message));
        }
    }
}

/// <summary>One layer of <c>thin --json</c>.</summary>
internal sealed record ThinLayerJson(string Name, int ChannelsBefore, int ChannelsAfter);

/// <summary><c>thin --json</c>: the file written, counts after and before, each layer's channels.</summary>
/// <param name="From"><c>plan</c> or <c>silent_filters</c>.</param>
/// <param name="MacFraction">MACs after over MACs before.</param>
internal sealed record ThinJson(
    string Out,
    long Params,
    long Macs,
    long ParamsBefore,
    long MacsBefore,
    IReadOnlyList<ThinLayerJson> Layers,
    double MacFraction,
    double ParamFraction,
    int RoundTo,
    string From,
    string Architecture,
    string WeightsHash,
    string SourceWeightsHash,
    IReadOnlyDictionary<string, int> NotSilent)
{
    public static ThinJson Of(ThinningOutcome outcome) => new(
        outcome.Output,
        outcome.After.Parameters,
        outcome.After.MacsPerSample,
        outcome.Before.Parameters,
        outcome.Before.MacsPerSample,
        [.. outcome.Layers.Select(l => new ThinLayerJson(l.Name, l.ChannelsBefore, l.ChannelsAfter))],
        CliJson.Round((double)outcome.After.MacsPerSample / outcome.Before.MacsPerSample),
        CliJson.Round((double)outcome.After.Parameters / outcome.Before.Parameters),
        outcome.RoundTo,
        outcome.FromPlan ? "plan" : "silent_filters",
        outcome.Architecture,
        outcome.WeightsHash,
        outcome.SourceWeightsHash,
        outcome.NotSilent);
}
