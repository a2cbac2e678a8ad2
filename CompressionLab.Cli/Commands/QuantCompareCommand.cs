using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>quant compare --model FILE --dataset NAME [--methods LIST] [--mode symmetric|asymmetric] [--method M]
/// [--layer-method LAYER=M,...] [--float LAYER,...] [--quantize-logits] [--split val|test] [--limit N] [--calibration N]
/// [--workspace DIR] [--json]</c>: the dashboard's comparison job (<see cref="Int8ComparisonJob.Run"/>) on a checkpoint
/// file: float, each method for all layers, and the mix the options describe, side by side.
/// </summary>
public sealed class QuantCompareCommand : CliCommand
{
    private readonly Option<string> _model = QuantInputs.Model();
    private readonly Option<string> _dataset = QuantInputs.Dataset();
    private readonly Option<string?> _methods = new("--methods")
    {
        Description = "methods each measured for all layers, a comma list (default: max, avg, percentile:99.9, percentile:99.99, percentile:99.999, nstd:3, aciq-laplace, aciq-gauss, mse, entropy)",
        HelpName = "LIST",
    };
    private readonly Option<string?> _mode = QuantInputs.Mode();
    private readonly Option<string?> _method = new("--method") { Description = "the chosen mix's method for every layer without --layer-method (giving any mix option adds the mix)", HelpName = "M" };
    private readonly Option<string?> _layerMethods = new("--layer-method") { Description = "per-layer methods of the mix, e.g. stage1.conv1=mse,classifier.fc=max", HelpName = "LIST" };
    private readonly Option<string?> _float = new("--float") { Description = "layers the mix keeps in float, a comma list", HelpName = "LIST" };
    private readonly Option<bool> _logits = new("--quantize-logits") { Description = "the mix also quantizes the logits (float by default)" };
    private readonly Option<string?> _split = QuantInputs.Split();
    private readonly Option<int?> _limit = QuantInputs.Limit();
    private readonly Option<int?> _calibration = QuantInputs.Calibration();
    private readonly Option<string?> _workspace = QuantInputs.Workspace();
    private readonly Option<bool> _json = JsonOption();

    public QuantCompareCommand() : base("compare", "simulated INT8 accuracy side by side: float, each method for all layers, and a chosen mix")
    {
        foreach (var option in new Option[] { _model, _dataset, _methods, _mode, _method, _layerMethods, _float, _logits, _split, _limit, _calibration, _workspace, _json })
            Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Quant;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>(QuantInputs.SettingOptions())
    {
        [nameof(Int8ComparisonRequest.Methods)] = "--methods",
        [nameof(QuantizationChoice.Method)] = "--method",
        [nameof(QuantizationChoice.LayerMethods)] = "--layer-method",
        [nameof(QuantizationChoice.FloatLayers)] = "--float",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var mode = QuantInputs.ParseMode(parse.GetValue(_mode));
        var (method, layerMethods, floats, logits) = (parse.GetValue(_method), parse.GetValue(_layerMethods), parse.GetValue(_float), parse.GetValue(_logits));
        QuantizationChoice? choice = null;
        if (method is not null || layerMethods is not null || floats is not null || logits)
        {
            var overrides = (CommandInputs.List(layerMethods) ?? []).Select(item =>
            {
                var parts = item.Split('=', 2, StringSplitOptions.TrimEntries);
                if (parts.Length != 2 || parts[0].Length == 0)
                    throw new UsageException("--layer-method", $"'{item}' is not LAYER=METHOD (e.g. stage1.conv1=mse)");
                return new KeyValuePair<string, string>(parts[0], parts[1]);
            }).ToList();
            choice = QuantizationChoice.Parse(parse.GetValue(_mode) ?? "symmetric", method ?? "entropy", overrides, CommandInputs.List(floats), logits);
        }
        var request = new Int8ComparisonRequest(
            new CheckpointFile(parse.GetRequiredValue(_model)),
            parse.GetRequiredValue(_dataset),
            QuantInputs.Methods(parse.GetValue(_methods), nameof(Int8ComparisonRequest.Methods)),
            mode,
            choice,
            QuantInputs.Images(parse, _split, _limit, _calibration));
        request.Validate();
        using var database = CommandInputs.OpenWorkspace(parse.GetValue(_workspace), context);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var progress = new ConsoleProgress(context.Err, Describe);
        var outcome = Int8ComparisonJob.Run(request, DatasetSource.Catalog(context.Settings), new ModelStore(database), new CalibrationProfileStore(database), new Int8EvaluationStore(database),
            null, progress, context.CancellationToken);

        var json = QuantCompareJson.From(outcome);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
            return CliApp.Success;
        }
        context.Out.WriteLine($"{"configuration",-20} {"top-1",8} {"vs float",9} {"loss",8}");
        foreach (var row in json.Configurations)
            context.Out.WriteLine(row.Top1 is { } top1
                ? string.Create(CultureInfo.InvariantCulture, $"{row.Label,-20} {QuantInputs.Percent(top1),8} {(top1 - json.Top1Float) * 100,7:+0.00;-0.00;0.00}pt {row.Loss,8:0.0000}{(row.FromWorkspace ? "  (from the workspace)" : "")}")
                : $"{row.Label,-20} not applicable: {row.Problem}");
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{outcome.Architecture} on {json.Samples:N0} {json.Split} images of {outcome.Dataset}; thresholds from {outcome.CalibrationSubset}"));
        if (json.Configurations.FirstOrDefault(r => r.Label == Int8ComparisonJob.ChosenMix) is { } mix)
            context.Out.WriteLine($"chosen mix: {mix.Configuration}");
        return CliApp.Success;
    }

    private static IEnumerable<string> Describe(JobPartial partial)
    {
        if (partial is not Int8ConfigurationMeasured { Result: var r } measured) yield break;
        yield return r.Measured is { } m
            ? string.Create(CultureInfo.InvariantCulture,
                $"[{measured.Index + 1}/{measured.Count}] {r.Label}: top-1 {QuantInputs.Percent(m.Top1)}{(r.FromStore ? " (from the workspace)" : "")}")
            : $"[{measured.Index + 1}/{measured.Count}] {r.Label}: not applicable: {r.Problem}";
    }
}

/// <summary><c>quant compare --json</c>: every configuration's top-1, top-5 and loss (fractions), float first.</summary>
internal sealed record QuantCompareJson(
    IReadOnlyList<QuantConfigurationJson> Configurations,
    double Top1Float,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string Split,
    int Samples,
    string CalibrationSubset,
    string EvaluationSubset,
    double Seconds)
{
    public static QuantCompareJson From(Int8ComparisonOutcome outcome) => new(
        [
            .. outcome.Results.Select(r => new QuantConfigurationJson(r.Label, r.Configuration,
                r.Measured is { } m ? CliJson.Round(m.Top1) : null, r.Measured is { } m5 ? CliJson.Round(m5.Top5) : null,
                r.Measured is { } ml ? CliJson.Round(ml.Loss) : null, r.FromStore, r.Problem)),
        ],
        CliJson.Round(outcome.Float.Measured!.Top1),
        outcome.Architecture,
        outcome.WeightsHash,
        outcome.Dataset,
        outcome.EvaluationSubset.Split('/')[0],
        outcome.EvaluationImages,
        outcome.CalibrationSubset,
        outcome.EvaluationSubset,
        CliJson.Round(outcome.Seconds, 3));
}

/// <param name="Problem">Why the configuration could not be simulated (then no accuracy).</param>
internal sealed record QuantConfigurationJson(string Label, string Configuration, double? Top1, double? Top5, double? Loss, bool FromWorkspace, string? Problem);
