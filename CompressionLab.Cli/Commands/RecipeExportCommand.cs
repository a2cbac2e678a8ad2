using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>recipe export --model FILE [--plan FILE] [--calibration FILE [--stats-yaml FILE]] [--distillation FILE] --out DIR [--dataset NAME]
/// [--limit N] [--json]</c>: the model's recipe (<see cref="RecipeExportJob"/>), measured on the validation subset, written
/// as recipe.yaml, recipe.json and the registered dialects. JSON: <c>{"files":[...],...}</c>.
/// </summary>
public sealed class RecipeExportCommand : CliCommand
{
    private readonly Option<string> _model = TextOption("--model", "checkpoint file whose recipe to export (its lineage gives fine-tuning and distillation)", "FILE", required: true);
    private readonly Option<string?> _plan = new("--plan") { Description = "pruning plan file for the model's weights (plan allocate --out, the Pruning page's download)", HelpName = "FILE" };
    private readonly Option<string?> _calibration = new("--calibration") { Description = "calibration file of the model's weights (calibrate --out, the Quantization page's thresholds download)", HelpName = "FILE" };
    private readonly Option<string?> _distillation = new("--distillation") { Description = "the distilled checkpoint the model is or was made from, when its own lineage does not say", HelpName = "FILE" };
    private readonly Option<string?> _statsYaml = new("--stats-yaml") { Description = "Distiller activation statistics of the calibration (calibrate --stats-yaml), written as the dialect's statistics file under the PyTorch names", HelpName = "FILE" };
    private readonly Option<string> _out = TextOption("--out", "folder to write recipe.yaml, recipe.json and the dialects into (created if missing)", "DIR", required: true);
    private readonly Option<string?> _dataset = new("--dataset") { Description = "dataset to measure on (default: the model's)", HelpName = "NAME" };
    private readonly Option<int?> _limit = IntOption("--limit", $"validation images the recipe is measured on, the stratified subset every analysis uses (default {AnalysisSubset.DefaultSize})");
    private readonly Option<bool> _json = JsonOption();

    public RecipeExportCommand() : base("export", "export the model's compression recipe (pruning, distillation, quantization, measured results) as YAML and JSON")
    {
        foreach (var option in new Option[] { _model, _plan, _calibration, _statsYaml, _distillation, _out, _dataset, _limit, _json }) Options.Add(option);
    }

    public override CommandGroup? Group => CommandGroup.Recipe;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(RecipeExportRequest.Model)] = "--model",
        [nameof(RecipeExportRequest.PlanFile)] = "--plan",
        [nameof(RecipeExportRequest.CalibrationFile)] = "--calibration",
        [nameof(RecipeExportRequest.DistillationFile)] = "--distillation",
        [nameof(RecipeExportRequest.OutputFolder)] = "--out",
        [nameof(RecipeExportRequest.Dataset)] = "--dataset",
        [nameof(RecipeExportRequest.SubsetSize)] = "--limit",
        [nameof(RecipeExportRequest.StatsYamlFile)] = "--stats-yaml",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var folder = Path.GetFullPath(parse.GetRequiredValue(_out));
        var request = new RecipeExportRequest(new CheckpointFile(parse.GetRequiredValue(_model)), folder, parse.GetValue(_plan), parse.GetValue(_calibration),
            parse.GetValue(_distillation), parse.GetValue(_dataset), parse.GetValue(_limit) ?? AnalysisSubset.DefaultSize, parse.GetValue(_statsYaml));
        request.Validate();
        WritableOutput.Folder("--out", folder);
        var dataset = request.Dataset ?? Checkpoint.ReadMetadata(Path.GetFullPath(parse.GetRequiredValue(_model))).Dataset;
        CommandInputs.LoadDataset(context, dataset);

        TorchRuntime.Configure();
        var outcome = RecipeExportJob.Run(request with { Dataset = dataset }, DatasetSource.Catalog(context.Settings), null, new ConsoleProgress(context.Err, _ => []), context.CancellationToken);
        var recipe = outcome.Recipe;
        var results = recipe.Results!;
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new RecipeExportJson(outcome.Files, recipe.Provenance.WeightsHash, results.Images.Key, results.Images.Count,
                CliJson.Round(results.Baseline.Top1), CliJson.Round(results.Result.Top1), CliJson.Round(results.Compressed.Sparsity),
                recipe.Pruning is not null, recipe.Distillation is not null, recipe.Quantization is not null,
                [.. recipe.Gaps.Select(g => new RecipeGapJson(g.Section, g.Message))], CliJson.Round(outcome.Seconds, 3)));
            return CliApp.Success;
        }
        foreach (var file in outcome.Files) context.Out.WriteLine($"written {file}");
        foreach (var gap in recipe.Gaps) context.Out.WriteLine($"gap: {gap.Section}: {gap.Message}");
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{recipe.Provenance.Architecture} on {results.Images.Count:N0} validation images: top-1 {QuantInputs.Percent(results.Baseline.Top1)} → {QuantInputs.Percent(results.Result.Top1)}, sparsity {results.Compressed.Sparsity * 100:0.0}%"));
        return CliApp.Success;
    }
}

internal sealed record RecipeGapJson(string Section, string Message);

/// <summary><c>recipe export --json</c>: the files written, what was measured (fractions), which sections the recipe has and its gaps.</summary>
internal sealed record RecipeExportJson(
    IReadOnlyList<string> Files,
    string WeightsHash,
    string Subset,
    int Samples,
    double BaselineTop1,
    double ResultTop1,
    double Sparsity,
    bool Pruning,
    bool Distillation,
    bool Quantization,
    IReadOnlyList<RecipeGapJson> Gaps,
    double Seconds);
