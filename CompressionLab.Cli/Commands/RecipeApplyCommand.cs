using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>recipe apply --model FILE --recipe FILE --dataset NAME [--limit N] [--json]</c>: the dashboard's apply job
/// (<see cref="RecipeApplyJob.Run"/>) on a checkpoint file. JSON: <c>{"top1","recorded_top1","sparsity","matches_recorded",...}</c>.
/// A recipe for another model, or a malformed or edited one, is refused naming what differs; nothing is written.
/// </summary>
public sealed class RecipeApplyCommand : CliCommand
{
    private readonly Option<string> _model = TextOption("--model", "checkpoint file to apply the recipe to (the recipe's own model)", "FILE", required: true);
    private readonly Option<string> _recipe = TextOption("--recipe", "recipe file (recipe.yaml or recipe.json)", "FILE", required: true);
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets'); the recipe's for the recorded numbers", "NAME", required: true);
    private readonly Option<int?> _limit = IntOption("--limit", "validation images to measure on (default: as many as the recipe was measured on, which are the same images)");
    private readonly Option<bool> _json = JsonOption();

    public RecipeApplyCommand() : base("apply", "apply a recipe to its model: the same masks and quantization parameters, measured beside the recorded numbers")
    {
        foreach (var option in new Option[] { _model, _recipe, _dataset, _limit, _json }) Options.Add(option);
    }

    public override CommandGroup? Group => CommandGroup.Recipe;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(RecipeApplyRequest.Model)] = "--model",
        [nameof(RecipeApplyRequest.Recipe)] = "--recipe",
        [nameof(RecipeApplyRequest.Dataset)] = "--dataset",
        [nameof(RecipeApplyRequest.SubsetSize)] = "--limit",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var recipeFile = Path.GetFullPath(parse.GetRequiredValue(_recipe));
        RecipeDocument recipe;
        try
        {
            recipe = RecipeFile.ReadDocument(recipeFile);
        }
        catch (RecipeFileException e)
        {
            throw new InputFileException("--recipe", e.Message, e);
        }
        var request = new RecipeApplyRequest(new CheckpointFile(parse.GetRequiredValue(_model)), recipe.Recipe, Path.GetFileName(recipeFile),
            parse.GetRequiredValue(_dataset), parse.GetValue(_limit), recipe.Lines);
        request.Validate();
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var outcome = RecipeApplyJob.Run(request, DatasetSource.Catalog(context.Settings), null, null, new ConsoleProgress(context.Err, Describe), context.CancellationToken);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, RecipeApplyJson.From(outcome));
            return CliApp.Success;
        }
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"top-1 {QuantInputs.Percent(outcome.Result.Top1)} measured, {(outcome.RecordedResult is { } r ? QuantInputs.Percent(r.Top1) : "none")} recorded; " +
            $"{outcome.Result.Correct} of {outcome.Samples} images right ({outcome.RecordedResult?.Correct.ToString(CultureInfo.InvariantCulture) ?? "-"} recorded); sparsity {outcome.Sparsity * 100:0.0}%"));
        context.Out.WriteLine(outcome.MatchesRecorded ? "matches the recorded numbers to the image"
            : outcome.SameImages ? "does NOT match the recorded numbers" : "measured on other images than the recipe's: nothing to compare to the image");
        return CliApp.Success;
    }

    private static IEnumerable<string> Describe(JobPartial partial)
    {
        if (partial is RecipeMasksReproduced reproduced)
            yield return $"masks of {reproduced.Masks.Count} layers reproduced (the recipe's to the unit), {reproduced.QuantizedLayers} layers quantized";
    }
}

/// <summary><c>recipe apply --json</c> (fractions): measured beside recorded, and whether they match to the image.</summary>
internal sealed record RecipeApplyJson(
    double Top1,
    double? RecordedTop1,
    double Sparsity,
    bool MatchesRecorded,
    double BaselineTop1,
    double? RecordedBaselineTop1,
    int Correct,
    int? RecordedCorrect,
    int Samples,
    bool SameImages,
    double? RecordedSparsity,
    int PrunedLayers,
    int QuantizedLayers,
    string WeightsHash,
    string Subset,
    double Seconds)
{
    public static RecipeApplyJson From(RecipeApplyOutcome o) => new(
        o.Result.Top1, o.RecordedResult?.Top1, o.Sparsity, o.MatchesRecorded, o.Baseline.Top1, o.RecordedBaseline?.Top1, o.Result.Correct, o.RecordedResult?.Correct,
        o.Samples, o.SameImages, o.RecordedSparsity, o.Masks.Count, o.QuantizedLayers, o.WeightsHash, o.Subset, CliJson.Round(o.Seconds, 3));
}
