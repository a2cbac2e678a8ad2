using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>calibrate --model FILE --dataset NAME --method M [--mode symmetric|asymmetric] [--limit N] [--stats-yaml FILE]
/// [--workspace DIR] [--json]</c>: the dashboard's calibration job (<see cref="CalibrationJob.Run"/>) on a checkpoint file:
/// every layer's input, output and weight clipped with the method, float and simulated INT8 top-1 on the calibration
/// images. The statistics are kept in the workspace and read back on the next run of the same weights and images.
/// </summary>
public sealed class CalibrateCommand : CliCommand
{
    private readonly Option<string> _model = QuantInputs.Model();
    private readonly Option<string> _dataset = QuantInputs.Dataset();
    private readonly Option<string> _method = new("--method")
    {
        Description = "clipping method: max, avg, percentile:P (e.g. percentile:99.99), nstd:N, aciq-laplace, aciq-gauss, mse, entropy",
        HelpName = "M",
        Required = true,
    };
    private readonly Option<string?> _mode = QuantInputs.Mode();
    private readonly Option<int?> _limit = IntOption("--limit",
        $"validation images to calibrate on and measure top-1 on, the stratified subset every analysis uses (default {CalibrationRequest.DefaultSubsetSize})");
    private readonly Option<string?> _statsYaml = new("--stats-yaml") { Description = "also write Distiller's activation statistics YAML to FILE", HelpName = "FILE" };
    private readonly Option<string?> _out = new("--out")
    {
        Description = "also write the calibration file (every layer's thresholds with the weights hash, dataset, subset and choice; what 'recipe export --calibration' reads) to FILE",
        HelpName = "FILE",
    };
    private readonly Option<string?> _workspace = QuantInputs.Workspace();
    private readonly Option<bool> _json = JsonOption();

    public CalibrateCommand() : base("calibrate", "calibrate INT8 thresholds with one method: per-layer amax, scale, zero point, clipped fraction, SQNR; float and simulated INT8 top-1")
    {
        foreach (var option in new Option[] { _model, _dataset, _method, _mode, _limit, _statsYaml, _out, _workspace, _json }) Options.Add(option);
    }

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(CalibrationRequest.Model)] = "--model",
        [nameof(CalibrationRequest.Dataset)] = "--dataset",
        [nameof(CalibrationRequest.Method)] = "--method",
        [nameof(CalibrationRequest.Mode)] = "--mode",
        [nameof(CalibrationRequest.SubsetSize)] = "--limit",
        [nameof(CalibrationRequest.StatsYamlFile)] = "--stats-yaml",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = parse.GetRequiredValue(_model);
        var yaml = parse.GetValue(_statsYaml) is { } path ? WritableOutput.File("--stats-yaml", path, "--model", model) : null;
        var calibrationFile = parse.GetValue(_out) is { } outPath ? WritableOutput.File("--out", outPath, "--model", model) : null;
        var request = new CalibrationRequest(new CheckpointFile(model), parse.GetRequiredValue(_dataset), parse.GetRequiredValue(_method),
            QuantInputs.ParseMode(parse.GetValue(_mode)), parse.GetValue(_limit) ?? CalibrationRequest.DefaultSubsetSize, yaml);
        request.Validate();
        using var database = CommandInputs.OpenWorkspace(parse.GetValue(_workspace), context);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        CalibrationOutcome outcome;
        try
        {
            outcome = CalibrationJob.Run(request, DatasetSource.Catalog(context.Settings), new ModelStore(database), new CalibrationProfileStore(database),
                null, new ConsoleProgress(context.Err, Describe), context.CancellationToken);
        }
        catch (NonFiniteTensorException e)
        {
            // The weights (or what they compute) are at fault: bad input, named by the option that gave them.
            throw new InputFileException("--model", e.Message, e);
        }

        if (calibrationFile is not null)
        {
            // The page's thresholds download and this file are one writer (Core's CalibrationFile): the choice is this run's method on every layer.
            var thresholds = QuantizationThresholds.For(outcome.Profile, QuantizationChoice.AllLayers(request.ParsedMethod, request.Mode));
            CalibrationFile.Write(calibrationFile, thresholds, outcome.Profile);
        }
        var json = CalibrateJson.From(outcome) with { CalibrationFile = calibrationFile };
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
            return CliApp.Success;
        }
        context.Out.WriteLine($"{"layer",-16} {"tensor",-7} {"amax",10} {"scale",12} {"zero",5} {"clipped",9} {"SQNR dB",8}");
        foreach (var row in json.Layers)
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{row.Name,-16} {row.Tensor,-7} {row.Amax,10:0.0000} {row.Scale,12:0.000000} {row.ZeroPoint,5} {row.ClippedFraction * 100,8:0.000}% {(row.SqnrDb is { } db ? db.ToString("0.00", CultureInfo.InvariantCulture) : "exact"),8}"));
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{outcome.Architecture}, {outcome.Method} ({json.Mode}) on {outcome.Images:N0} validation images of {outcome.Dataset}: top-1 {QuantInputs.Percent(outcome.Top1Float)} float, {QuantInputs.Percent(outcome.Top1Int8)} INT8{(outcome.ProfileFromStore ? " (statistics from the workspace)" : "")}"));
        if (outcome.StatsYamlFile is { } written) context.Out.WriteLine($"Distiller statistics written to {written}");
        if (calibrationFile is not null) context.Out.WriteLine($"Calibration file written to {calibrationFile}");
        return CliApp.Success;
    }

    private static IEnumerable<string> Describe(JobPartial partial)
    {
        if (partial is CalibrationProfileReady ready)
            yield return ready.FromStore
                ? $"statistics of {ready.Layers} layers read from the workspace ({ready.SubsetKey})"
                : string.Create(CultureInfo.InvariantCulture, $"statistics of {ready.Layers} layers collected on {ready.Images:N0} images in {ready.CollectSeconds:0.00} s");
    }
}

/// <summary>One tensor of <c>calibrate --json</c>; <see cref="SqnrDb"/> is null when quantization is exact (a constant tensor).</summary>
internal sealed record CalibrateTensorJson(string Name, string Tensor, double Amax, double Scale, int ZeroPoint, double ClippedFraction, double? SqnrDb, double Min, double Max, string Grid);

/// <summary><c>calibrate --json</c>: every layer's input, output and weight, then float and simulated INT8 top-1 (fractions) and the run's seconds.</summary>
internal sealed record CalibrateJson(
    IReadOnlyList<CalibrateTensorJson> Layers,
    double Top1Float,
    double Top1Int8,
    double Seconds,
    string Method,
    string Mode,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string Subset,
    int Images,
    bool ProfileFromWorkspace,
    string? StatsYaml,
    string? CalibrationFile = null)
{
    public static CalibrateJson From(CalibrationOutcome o) => new(
        [
            .. o.Tensors.Select(t => new CalibrateTensorJson(t.Layer, t.Role.Text(), CliJson.Round(t.Clip.Amax, 8), CliJson.Round(t.Clip.Scale, 10), t.Clip.ZeroPoint,
                CliJson.Round(t.Clip.ClippedFraction, 8), double.IsFinite(t.Clip.SqnrDb) ? CliJson.Round(t.Clip.SqnrDb, 4) : null,
                CliJson.Round(t.Clip.Min, 8), CliJson.Round(t.Clip.Max, 8), t.Clip.Mode.ToString().ToLowerInvariant())),
        ],
        CliJson.Round(o.Top1Float),
        CliJson.Round(o.Top1Int8),
        CliJson.Round(o.Seconds, 3),
        o.Method,
        o.Mode.ToString().ToLowerInvariant(),
        o.Architecture,
        o.WeightsHash,
        o.Dataset,
        o.SubsetKey,
        o.Images,
        o.ProfileFromStore,
        o.StatsYamlFile);
}
