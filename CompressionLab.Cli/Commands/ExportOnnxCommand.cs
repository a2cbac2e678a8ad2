using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Export;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>export onnx --model FILE [--recipe FILE] [--int8 [--method M] [--mode symmetric|asymmetric] [--float LIST] [--quantize-logits]
/// [--calibration N]] [--dataset NAME] [--split val|test] [--limit N] --out FILE [--workspace DIR] [--json]</c>:
/// <see cref="OnnxExportJob.Run"/> on a checkpoint file. The file is run in ONNX Runtime on the evaluation images beside the
/// engine (float: its evaluation; INT8: the simulated INT8 network with the same thresholds); a result outside the bounds
/// (float logits 1e-4, INT8 top-1 0.3 points) is still written and reported, and the exit code is 1. With <c>--recipe</c> the
/// recipe's masks are applied to the weights (a filter recipe's are cut out: the graph is the thinned network) and, with
/// <c>--int8</c>, its recorded scales are the thresholds (no calibration).
/// </summary>
public sealed class ExportOnnxCommand : CliCommand
{
    private readonly Option<string> _model = QuantInputs.Model();
    private readonly Option<string?> _dataset = new("--dataset") { Description = "dataset to check the export on (default: the one the model was trained on)", HelpName = "NAME" };
    private readonly Option<bool> _int8 = new("--int8") { Description = "export the INT8 QDQ graph (thresholds calibrated on --calibration validation images) instead of float32" };
    private readonly Option<string?> _method = new("--method") { Description = "INT8 clipping method for every layer (default entropy): max, avg, percentile:P, nstd:N, aciq-laplace, aciq-gauss, mse, entropy", HelpName = "M" };
    private readonly Option<string?> _mode = QuantInputs.Mode();
    private readonly Option<string?> _float = new("--float") { Description = "layers the INT8 graph keeps in float, a comma list", HelpName = "LIST" };
    private readonly Option<bool> _logits = new("--quantize-logits") { Description = "the INT8 graph also quantizes the logits (float by default)" };
    private readonly Option<int?> _calibration = QuantInputs.Calibration();
    private readonly Option<string?> _split = QuantInputs.Split();
    private readonly Option<int?> _limit = QuantInputs.Limit();
    private readonly Option<string?> _recipe = new("--recipe") { Description = "a recipe of the model (recipe export): its pruning masks are applied (a filter recipe exports the thinned network) and, with --int8, its recorded quantization parameters used", HelpName = "FILE" };
    private readonly Option<string> _out = new("--out") { Description = "the .onnx file to write", HelpName = "FILE", Required = true };
    private readonly Option<string?> _workspace = QuantInputs.Workspace();
    private readonly Option<bool> _json = JsonOption();

    public ExportOnnxCommand() : base("onnx", "export the model (BatchNorm folded) to ONNX, float32 or INT8 QDQ, and check it in ONNX Runtime against the engine")
    {
        foreach (var option in new Option[] { _model, _recipe, _dataset, _int8, _method, _mode, _float, _logits, _calibration, _split, _limit, _out, _workspace, _json })
            Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Export;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(OnnxExportRequest.Model)] = "--model",
        [nameof(OnnxExportRequest.Dataset)] = "--dataset",
        [nameof(OnnxExportRequest.Out)] = "--out",
        [nameof(OnnxExportRequest.Recipe)] = "--recipe",
        [nameof(QuantizationChoice.Method)] = "--method",
        [nameof(QuantizationChoice.FloatLayers)] = "--float",
        [nameof(QuantizationChoice.Mode)] = "--mode",
        [nameof(Int8Images.CalibrationSize)] = "--calibration",
        [nameof(Int8Images.EvaluationSize)] = "--limit",
        [nameof(Int8Images.EvaluationPart)] = "--split",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = parse.GetRequiredValue(_model);
        var int8 = parse.GetValue(_int8);
        if (!int8)
        {
            foreach (var (option, given) in new (string, bool)[]
                     {
                         ("--method", parse.GetValue(_method) is not null), ("--mode", parse.GetValue(_mode) is not null), ("--float", parse.GetValue(_float) is not null),
                         ("--quantize-logits", parse.GetValue(_logits)), ("--calibration", parse.GetValue(_calibration) is not null),
                     })
                if (given) throw new UsageException(option, "applies to the INT8 export only; add --int8");
        }
        var recipe = parse.GetValue(_recipe) is { } recipeFile ? ReadRecipe(recipeFile) : null;
        if (recipe is not null && int8)
        {
            foreach (var (option, given) in new (string, bool)[]
                     {
                         ("--method", parse.GetValue(_method) is not null), ("--mode", parse.GetValue(_mode) is not null), ("--float", parse.GetValue(_float) is not null),
                         ("--quantize-logits", parse.GetValue(_logits)), ("--calibration", parse.GetValue(_calibration) is not null),
                     })
                if (given) throw new UsageException(option, "does not apply with --recipe: the recipe's quantization section gives the INT8 parameters");
        }
        var choice = recipe is not null
            ? int8 ? recipe.Choice ?? QuantizationChoice.Parse("symmetric", "entropy") : null // no section: Validate refuses it, naming --recipe
            : int8
            ? QuantizationChoice.Parse(parse.GetValue(_mode) ?? "symmetric", parse.GetValue(_method) ?? "entropy", floatLayers: CommandInputs.List(parse.GetValue(_float)),
                quantizeLogits: parse.GetValue(_logits))
            : null;
        var output = WritableOutput.File("--out", parse.GetRequiredValue(_out), "--model", model);
        var request = new OnnxExportRequest(new CheckpointFile(model), output, parse.GetValue(_dataset), choice, QuantInputs.Images(parse, _split, _limit, _calibration), recipe);
        request.Validate();
        if (request.Dataset is { } dataset) CommandInputs.LoadDataset(context, dataset);
        // Calibration statistics are kept in the workspace and read back for the same weights and images, as calibrate does.
        using var database = int8 && recipe is null ? CommandInputs.OpenWorkspace(parse.GetValue(_workspace), context) : null;

        TorchRuntime.Configure();
        OnnxExportOutcome outcome;
        try
        {
            outcome = OnnxExportJob.Run(request, DatasetSource.Catalog(context.Settings), null, database is null ? null : new CalibrationProfileStore(database),
                null, new ConsoleProgress(context.Err, _ => []), context.CancellationToken);
        }
        catch (NonFiniteTensorException e)
        {
            throw new InputFileException("--model", e.Message, e);
        }

        var json = ExportOnnxJson.From(outcome);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
        }
        else
        {
            var engine = outcome.Quantization == "float32" ? "TorchSharp" : "simulated INT8";
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{outcome.Out} ({outcome.OnnxBytes:N0} bytes; checkpoint {outcome.CheckpointBytes:N0}): {outcome.Architecture}{(outcome.Widths is { } widths ? $" thinned to {string.Join(", ", widths.Select(w => $"{w.Key}={w.Value}"))}" : "")}, {outcome.Quantization}"));
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"on {outcome.Check.Images:N0} images ({outcome.EvaluationSubset}): ONNX Runtime top-1 {QuantInputs.Percent(outcome.Check.OrtTop1)}, {engine} {QuantInputs.Percent(outcome.Check.TorchSharpTop1)}, max |Δlogit| {outcome.Check.MaxAbsDiff:0.###e+0}, {outcome.Check.Disagreements} predictions differ"));
        }
        if (outcome.WithinTolerance) return CliApp.Success;
        context.Err.WriteLine(outcome.Quantization == "float32"
            ? string.Create(CultureInfo.InvariantCulture, $"error: the float32 graph's logits differ from TorchSharp's by {outcome.Check.MaxAbsDiff:0.###e+0}, more than {OnnxValidation.FloatTolerance:0e+0}")
            : string.Create(CultureInfo.InvariantCulture, $"error: ONNX Runtime's INT8 top-1 is {Math.Abs(outcome.Check.OrtTop1 - outcome.Check.TorchSharpTop1) * 100:0.00} points from the simulation's, more than {OnnxValidation.Int8Top1Tolerance * 100:0.0}"));
        return CliApp.Failure;
    }

    private static OnnxRecipe ReadRecipe(string file)
    {
        var path = Path.GetFullPath(file);
        try
        {
            return new OnnxRecipe(RecipeFile.ReadDocument(path).Recipe, Path.GetFileName(path));
        }
        catch (RecipeFileException e)
        {
            throw new InputFileException("--recipe", e.Message, e);
        }
    }
}

/// <summary>
/// <c>export onnx --json</c>: the issue's four fields first (fractions), then what they were measured on and the sizes;
/// <c>widths</c> the graph's channels per layer when a filter recipe was exported thinned (else null).
/// </summary>
internal sealed record ExportOnnxJson(
    string Out,
    double OrtTop1,
    double TorchsharpTop1,
    double MaxAbsDiff,
    string Quantization,
    int Images,
    int Disagreements,
    bool WithinTolerance,
    long OnnxBytes,
    long CheckpointBytes,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string EvaluationSubset,
    string? CalibrationSubset,
    double Seconds,
    IReadOnlyDictionary<string, int>? Widths)
{
    public static ExportOnnxJson From(OnnxExportOutcome o) => new(
        o.Out, CliJson.Round(o.Check.OrtTop1), CliJson.Round(o.Check.TorchSharpTop1), o.Check.MaxAbsDiff, o.Quantization, o.Check.Images, o.Check.Disagreements,
        o.WithinTolerance, o.OnnxBytes, o.CheckpointBytes, o.Architecture, o.WeightsHash, o.Dataset, o.EvaluationSubset, o.CalibrationSubset, CliJson.Round(o.Seconds, 3), o.Widths);
}
