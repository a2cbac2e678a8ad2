using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Recipes;

/// <summary>Apply a recipe (already read and checked by <see cref="RecipeFile"/>) to a model and measure it.</summary>
/// <param name="RecipeName">The recipe's file name, for messages and the job's title.</param>
/// <param name="Dataset">Null: the recipe's images' dataset.</param>
/// <param name="SubsetSize">Null: as many validation images as the recipe was measured on (then the very same images).</param>
/// <param name="Lines">Where the recipe's fields are in its file, so that a mask the model does not give names its line; null: fields only.</param>
public sealed record RecipeApplyRequest(ModelSource Model, CompressionRecipe Recipe, string RecipeName, string? Dataset = null, int? SubsetSize = null, RecipeSourceMap? Lines = null)
{
    /// <summary>"recipe.yaml, line 40, column 5 (pruning.layers[0].threshold)": where a field of the recipe is.</summary>
    public string Where(string pointer)
    {
        var position = Lines?.Find(pointer);
        var line = position is { } p ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $", line {p.Line}, column {p.Column}") : "";
        return $"{RecipeName}{line} ({RecipeSourceMap.FieldName(pointer)})";
    }

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose the model to apply the recipe to.");
        Model.Validate();
        if (Recipe is null) throw new InvalidRequestException(nameof(Recipe), "Give a recipe to apply.");
        if (RecipeConsistency.Problems(Recipe).FirstOrDefault() is { } problem)
            throw new InvalidRequestException(nameof(Recipe), $"{Where(problem.Pointer)}: {problem.Message}");
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to measure on.");
        if (SubsetSize is < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The recipe is measured on at least one image (got {SubsetSize}).");
    }
}

/// <summary>One layer's mask as applied: pruned units of all, and the mask's hash (equal to the recipe's).</summary>
public sealed record AppliedRecipeMask(string Layer, string Method, int PrunedUnits, int Units, string MaskSha256);

/// <summary>Published once the model is checked and the masks are reproduced, before any image is evaluated.</summary>
public sealed record RecipeMasksReproduced(IReadOnlyList<AppliedRecipeMask> Masks, int QuantizedLayers) : JobPartial;

/// <summary>What applying a recipe measured, beside what it records.</summary>
/// <param name="SameImages">Measured on the recipe's images (same dataset and subset key); otherwise nothing can match.</param>
/// <param name="MatchesRecorded">Same images, and the same images classified right per class, for the baseline and the result.</param>
/// <param name="Sparsity">Overall conv and linear weight sparsity of the applied masks.</param>
public sealed record RecipeApplyOutcome(
    Guid? ModelId,
    string ModelName,
    string WeightsHash,
    string RecipeName,
    string Dataset,
    string Subset,
    int Samples,
    RecipeMeasurement Baseline,
    RecipeMeasurement Result,
    RecipeMeasurement? RecordedBaseline,
    RecipeMeasurement? RecordedResult,
    double Sparsity,
    double? RecordedSparsity,
    IReadOnlyList<AppliedRecipeMask> Masks,
    int QuantizedLayers,
    bool SameImages,
    bool MatchesRecorded,
    double Seconds)
{
    public RecipeApplyJobResult Summary() => new(ModelId, ModelName, WeightsHash, RecipeName, Dataset, Subset, Samples, Result.Top1, RecordedResult?.Top1,
        Baseline.Top1, RecordedBaseline?.Top1, Result.Correct, RecordedResult?.Correct, Sparsity, RecordedSparsity, Masks.Count, QuantizedLayers, SameImages, MatchesRecorded, Seconds);
}

/// <summary>A finished apply job's JSON result (fractions).</summary>
public sealed record RecipeApplyJobResult(
    Guid? ModelId,
    string ModelName,
    string WeightsHash,
    string RecipeName,
    string Dataset,
    string Subset,
    int Samples,
    double Top1,
    double? RecordedTop1,
    double BaselineTop1,
    double? RecordedBaselineTop1,
    int Correct,
    int? RecordedCorrect,
    double Sparsity,
    double? RecordedSparsity,
    int PrunedLayers,
    int QuantizedLayers,
    bool SameImages,
    bool MatchesRecorded,
    double Seconds)
{
    public static RecipeApplyJobResult FromJson(string json) => ModelJobJson.Read<RecipeApplyJobResult>(json);
}

/// <summary>
/// Applies a recipe to a model as a job, one body for <c>recipe apply</c> and the dashboard: the model must be the
/// recipe's (architecture, layer names and shapes, weights hash: every difference is named, and nothing is measured);
/// the masks are ranked again on its weights and must be the recipe's to the unit (threshold and hash); the quantization
/// grids are the recorded ones. The model is then measured as the recipe was (<see cref="RecipeEvaluation"/>) and the
/// counts compared. Nothing is written anywhere: the checkpoint is read, the weights restored, the workspace untouched.
/// </summary>
public static class RecipeApplyJob
{
    public const string Kind = "recipe-apply";

    public static string Title(ResolvedModel model, RecipeApplyRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return $"Apply recipe {request.RecipeName} · {model.DisplayName}";
    }

    public static JobWork Create(RecipeApplyRequest request, DatasetCatalog catalog, ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, job.Id, job.Progress, cancellationToken).Summary()));
    }

    /// <param name="store">The workspace's models; null when the model is a checkpoint file and there is no workspace.</param>
    /// <exception cref="InvalidRequestException">
    /// The model is not the recipe's (<c>Model</c>, naming what differs), a mask differs (<c>Recipe</c>, naming the field), or the images do not fit.
    /// </exception>
    public static RecipeApplyOutcome Run(RecipeApplyRequest request, DatasetCatalog catalog, ModelStore? store, Guid? jobId, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        _ = jobId; // nothing is stored under the job: applying keeps no result but the job's own
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var recipe = request.Recipe;
        var recorded = recipe.Results;

        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset ?? recorded?.Images.Dataset, catalog, progress);
        var part = recorded?.Images.Part == AnalysisSubset.PartName(SplitPart.Test) ? SplitPart.Test : SplitPart.Validation;
        var subset = AnalysisSubset.ForRequest(dataset, part, request.SubsetSize ?? recorded?.Images.Count ?? AnalysisSubset.DefaultSize, nameof(RecipeApplyRequest.SubsetSize));
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.05, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = model.Load(subset.Images, dataset.Name, "measured");
        var network = checkpoint.Model;
        if (Differences(recipe.Provenance, checkpoint.Metadata, network.Layers) is { Count: > 0 } differences)
            throw new InvalidRequestException(nameof(RecipeApplyRequest.Model),
                $"{request.RecipeName} is for another model than {model.DisplayName}: {string.Join("; ", differences)}. Nothing was applied.");

        IReadOnlyList<PruningMask> masks;
        try
        {
            masks = recipe.Pruning is null ? [] : RecipeMasks.Reproduce(network, recipe.Pruning);
        }
        catch (RecipeMaskMismatchException e)
        {
            throw new InvalidRequestException(nameof(RecipeApplyRequest.Recipe), $"{request.Where(e.Pointer)}: {e.Message} Nothing was applied.", e);
        }
        var thresholds = recipe.Quantization is null ? null : RecipeThresholds.ToThresholds(recipe.Quantization);
        var applied = masks.Select(m => new AppliedRecipeMask(m.LayerName, recipe.Pruning!.Layers.First(l => l.Name == m.LayerName).Method, m.PrunedCount, m.UnitCount,
            RecipeMasks.Hash(m.PrunedUnits))).ToList();
        var quantized = thresholds?.Layers.Count(l => !l.KeptFloat) ?? 0;
        progress.Publish(new RecipeMasksReproduced(applied, quantized));

        var (baseline, result) = RecipeEvaluation.Measure(network, masks, thresholds, subset.Images,
            step => progress.Report(0.3, string.Create(CultureInfo.InvariantCulture, $"Measuring {step} on {subset.Count:N0} {AnalysisSubset.PartName(part)} images")),
            cancellationToken);
        var sparsity = PlanSize.Of(network.Graph, RecipeEvaluation.Planned(recipe.Pruning)).Sparsity;
        var sameImages = recorded is not null && recorded.Images.Dataset == dataset.Name && recorded.Images.Key == subset.Key;
        var matches = sameImages && Same(baseline, recorded!.Baseline) && Same(result, recorded.Result);

        var against = recorded is null ? "nothing recorded" : string.Create(CultureInfo.InvariantCulture, $"recorded {recorded.Result.Top1 * 100:0.00}%");
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Top-1 {result.Top1 * 100:0.00}% measured ({against}){(matches ? ", the same images right" : sameImages ? ", NOT the recorded counts" : ", on other images than recorded")}"));
        return new RecipeApplyOutcome(model.ModelId, model.DisplayName, checkpoint.Metadata.ContentHash, request.RecipeName, dataset.Name, subset.Key, subset.Count,
            baseline, result, recorded?.Baseline, recorded?.Result, sparsity, recorded?.Compressed.Sparsity, applied, quantized, sameImages, matches, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Everything that makes the model another than the recipe's, in words: architecture, layers missing or extra,
    /// weight shapes, and the weights hash. Empty: the recipe's model.
    /// </summary>
    public static IReadOnlyList<string> Differences(RecipeProvenance provenance, CheckpointMetadata metadata, IReadOnlyList<LayerInfo> layers)
    {
        ArgumentNullException.ThrowIfNull(provenance);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(layers);
        var differences = new List<string>();
        if (provenance.Architecture != metadata.Architecture)
            differences.Add($"architecture: the recipe's is {provenance.Architecture}, the model's {metadata.Architecture}");
        var recipeLayers = provenance.Layers.ToDictionary(l => l.Name, l => l.WeightShape, StringComparer.Ordinal);
        var modelLayers = layers.ToDictionary(l => l.Name, l => l.WeightShape, StringComparer.Ordinal);
        var missing = provenance.Layers.Select(l => l.Name).Where(n => !modelLayers.ContainsKey(n)).ToList();
        var extra = layers.Select(l => l.Name).Where(n => !recipeLayers.ContainsKey(n)).ToList();
        if (missing.Count > 0) differences.Add($"layer names: the model has no {string.Join(", ", missing)}");
        if (extra.Count > 0) differences.Add($"layer names: the recipe has no {string.Join(", ", extra)}");
        foreach (var layer in provenance.Layers.Where(l => modelLayers.ContainsKey(l.Name)))
        {
            var shape = modelLayers[layer.Name];
            if (!shape.SequenceEqual(layer.WeightShape))
                differences.Add($"shape of {layer.Name}: the recipe's [{string.Join(", ", layer.WeightShape)}], the model's [{string.Join(", ", shape)}]");
        }
        if (!string.Equals(provenance.WeightsHash, metadata.ContentHash, StringComparison.OrdinalIgnoreCase))
        {
            var parent = metadata.Lineage is { Operation: "thin", Selection: "recipe" } thin && thin.ParentWeightsHash == provenance.WeightsHash
                    ? $" (this model is the recipe's model thinned by a recipe ({RecipeThinning.CheckpointFile}): the masks are already cut out of it; apply the recipe to its parent, or measure this model with eval)"
                : metadata.Lineage?.ParentWeightsHash == provenance.WeightsHash ? " (the recipe's model is this model's parent)"
                : provenance.Lineage?.ParentWeightsHash == metadata.ContentHash ? " (this model is the recipe's model's parent: the recipe's was made from it by " + provenance.Lineage.Operation + ")"
                : "";
            differences.Add($"weights hash: the recipe's is {RecipeBuilder.Short(provenance.WeightsHash)}, the model's {RecipeBuilder.Short(metadata.ContentHash)}{parent}");
        }
        return differences;
    }

    private static bool Same(RecipeMeasurement measured, RecipeMeasurement recorded) =>
        measured.Samples == recorded.Samples && measured.Correct == recorded.Correct && measured.CorrectPerClass.SequenceEqual(recorded.CorrectPerClass);
}

/// <summary>Starts recipe jobs with their parameters recorded, so the dashboard and any other front end start them the same way.</summary>
public sealed class RecipeJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store)
{
    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense (<see cref="InvalidRequestException"/>).</exception>
    public JobSnapshot StartApply(RecipeApplyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        var parameters = new System.Text.Json.Nodes.JsonObject
        {
            ["model"] = System.Text.Json.JsonSerializer.SerializeToNode<ModelSource>(request.Model, ModelJobJson.Options),
            ["recipe"] = request.RecipeName,
            ["recipeWeightsHash"] = request.Recipe.Provenance.WeightsHash,
            ["dataset"] = request.Dataset ?? request.Recipe.Results?.Images.Dataset ?? model.Dataset,
            ["subsetSize"] = request.SubsetSize ?? request.Recipe.Results?.Images.Count,
        };
        return scheduler.Enqueue(RecipeApplyJob.Kind, RecipeApplyJob.Title(model, request), parameters.ToJsonString(ModelJobJson.Options),
            RecipeApplyJob.Create(request, catalog, store));
    }
}
