using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>quant sensitivity --model FILE --dataset NAME --method M[,M2...] [--mode symmetric|asymmetric] [--split val|test]
/// [--limit N] [--calibration N] [--mix] [--tolerance F] [--workspace DIR] [--json]</c>: the dashboard's sensitivity job
/// (<see cref="QuantSensitivityJob.Run"/>) on a checkpoint file: each layer quantized alone (AIMET-style), the rest float.
/// </summary>
public sealed class QuantSensitivityCommand : CliCommand
{
    private readonly Option<string> _model = QuantInputs.Model();
    private readonly Option<string> _dataset = QuantInputs.Dataset();
    private readonly Option<string> _method = TextOption("--method",
        "calibration method of the quantized layer: max, avg, percentile:P, nstd:N, aciq-laplace, aciq-gauss, mse or entropy; a comma list tries each", "M", required: true);
    private readonly Option<string?> _mode = QuantInputs.Mode();
    private readonly Option<string?> _split = QuantInputs.Split();
    private readonly Option<int?> _limit = QuantInputs.Limit();
    private readonly Option<int?> _calibration = QuantInputs.Calibration();
    private readonly Option<bool> _mix = new("--mix")
    {
        Description = "also suggest and measure a best mix: per layer the method with the lowest one-layer loss, then the most sensitive layers in float until within --tolerance of float",
    };
    private readonly Option<double?> _tolerance = new("--tolerance") { Description = "top-1 the best mix may lose against float, a fraction (default 0.003)", HelpName = "F" };
    private readonly Option<string?> _workspace = QuantInputs.Workspace();
    private readonly Option<bool> _json = JsonOption();

    public QuantSensitivityCommand() : base("sensitivity", "per-layer INT8 sensitivity: each layer quantized alone, the rest float, measured")
    {
        foreach (var option in new Option[] { _model, _dataset, _method, _mode, _split, _limit, _calibration, _mix, _tolerance, _workspace, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Quant;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>(QuantInputs.SettingOptions())
    {
        [nameof(QuantSensitivityRequest.Methods)] = "--method",
        [nameof(QuantSensitivityRequest.Tolerance)] = "--tolerance",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var request = new QuantSensitivityRequest(
            new CheckpointFile(parse.GetRequiredValue(_model)),
            QuantInputs.Methods(parse.GetRequiredValue(_method), nameof(QuantSensitivityRequest.Methods))!,
            parse.GetRequiredValue(_dataset),
            QuantInputs.ParseMode(parse.GetValue(_mode)),
            QuantInputs.Images(parse, _split, _limit, _calibration),
            SuggestMix: parse.GetValue(_mix),
            Tolerance: parse.GetValue(_tolerance) ?? QuantSensitivityRequest.DefaultTolerance);
        request.Validate();
        using var database = CommandInputs.OpenWorkspace(parse.GetValue(_workspace), context);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var progress = new ConsoleProgress(context.Err, Describe);
        var outcome = QuantSensitivityJob.Run(request, DatasetSource.Catalog(context.Settings), new ModelStore(database), new CalibrationProfileStore(database), new Int8EvaluationStore(database),
            null, progress, context.CancellationToken);

        var json = QuantSensitivityJson.From(outcome);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
            return CliApp.Success;
        }
        context.Out.WriteLine($"{"layer",-16} {"method",-18} {"top-1 only this",16} {"drop",8} {"loss",8}");
        foreach (var layer in json.Layers)
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{layer.Name,-16} {layer.Method,-18} {QuantInputs.Percent(layer.Top1Int8OnlyThis),16} {(json.Top1Float - layer.Top1Int8OnlyThis) * 100,6:0.00}pt {layer.Loss,8:0.0000}"));
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"float {QuantInputs.Percent(json.Top1Float)}; all layers: {string.Join(", ", json.AllLayers.Select(a => $"{a.Method} {QuantInputs.Percent(a.Top1)}"))} ({json.Samples:N0} {json.Split} images)"));
        if (json.BestMix is { } mix)
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"best mix {QuantInputs.Percent(mix.Top1)}: {mix.Configuration} ({(mix.WithinTolerance ? "within" : "NOT within")} the tolerance; rule: {mix.Rule})"));
        return CliApp.Success;
    }

    private static IEnumerable<string> Describe(JobPartial partial)
    {
        if (partial is LayerSensitivityMeasured { Result: var r } measured)
            yield return string.Create(CultureInfo.InvariantCulture,
                $"[{measured.Index + 1}/{measured.Count}] {r.Layer} alone on {r.Method}: top-1 {QuantInputs.Percent(r.Measured.Top1)}{(r.FromStore ? " (from the workspace)" : "")}");
    }
}

/// <summary><c>quant sensitivity --json</c>: every layer's top-1 with only it quantized (fractions), beside float and all layers.</summary>
internal sealed record QuantSensitivityJson(
    IReadOnlyList<QuantLayerJson> Layers,
    double Top1Float,
    double Top1Int8,
    IReadOnlyList<QuantAllLayersJson> AllLayers,
    QuantMixJson? BestMix,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string Split,
    int Samples,
    string CalibrationSubset,
    string EvaluationSubset,
    double Seconds)
{
    public static QuantSensitivityJson From(QuantSensitivityOutcome outcome) => new(
        [.. outcome.Layers.Select(l => new QuantLayerJson(l.Layer, l.Method, CliJson.Round(l.Measured.Top1), CliJson.Round(l.Measured.Loss)))],
        CliJson.Round(outcome.Float.Top1),
        CliJson.Round(outcome.AllLayers[0].Top1),
        [.. outcome.Methods.Select((m, i) => new QuantAllLayersJson(m, CliJson.Round(outcome.AllLayers[i].Top1), CliJson.Round(outcome.AllLayers[i].Loss)))],
        outcome.Mix is { } mix ? new QuantMixJson(mix.Configuration, mix.Method, mix.LayerMethods, mix.FloatLayers, CliJson.Round(mix.Measured.Top1), mix.WithinTolerance, mix.Rule) : null,
        outcome.Architecture,
        outcome.WeightsHash,
        outcome.Dataset,
        outcome.EvaluationSubset.Split('/')[0],
        outcome.EvaluationImages,
        outcome.CalibrationSubset,
        outcome.EvaluationSubset,
        CliJson.Round(outcome.Seconds, 3));
}

/// <param name="Top1Int8OnlyThis">Top-1 with only this layer quantized (with <paramref name="Method"/>), every other layer float.</param>
internal sealed record QuantLayerJson(string Name, string Method, double Top1Int8OnlyThis, double Loss);

internal sealed record QuantAllLayersJson(string Method, double Top1, double Loss);

internal sealed record QuantMixJson(string Configuration, string Method, IReadOnlyDictionary<string, string> LayerMethods, IReadOnlyList<string> FloatLayers,
    double Top1, bool WithinTolerance, string Rule);
