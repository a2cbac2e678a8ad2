using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Recipes;

/// <summary>
/// A filter recipe made physical: its masks cut out of the network (<see cref="Thinning.Thin"/>, no rounding), so the
/// thin network computes what the masked one computes with fewer channels. Used by <see cref="RecipeExportJob"/> (the
/// thinned checkpoint, state dict and PyTorch twin) and by the ONNX export of a recipe.
/// </summary>
public static class RecipeThinning
{
    /// <summary>The thinned CompressionLab checkpoint (architecture with widths, lineage <c>thin</c>).</summary>
    public const string CheckpointFile = "model_thin.ckpt";

    /// <summary>The thinned weights as a PyTorch state dict, under the Sequential names of the thin twin.</summary>
    public const string StateDictFile = "pytorch_model_thin.safetensors";

    /// <summary>The PyTorch twin at the thinned widths: <c>build()</c> takes <see cref="StateDictFile"/> with a strict load.</summary>
    public const string PyTorchModelFile = "pytorch_model_thin.py";

    /// <summary>
    /// True when the recipe prunes and every pruned layer is pruned by filter: only then can its masks be cut out (a
    /// weight zeroed inside a filter cannot be removed from a dense layer, so element and mixed recipes stay masked).
    /// </summary>
    public static bool Thins(CompressionRecipe recipe)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        return recipe.Pruning is { Layers.Count: > 0 } pruning
            && pruning.Layers.All(l => PruningMethod.Parse(l.Method).Criterion == PruningCriterion.Filter);
    }

    /// <summary>
    /// The thin network of <paramref name="network"/> under the recipe's masks (<see cref="RecipeMasks.Reproduce"/> on the
    /// same weights; applied or not, the kept weights are the same). Null with the reason when the recipe does not thin or
    /// the masks cannot be cut out (coupled layers removing different channels).
    /// </summary>
    public static (ThinnedNetwork? Thin, string? Problem) TryThin(CompressionRecipe recipe, ClassifierNetwork network, IReadOnlyList<PruningMask> masks)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(masks);
        if (!Thins(recipe)) return (null, "the recipe does not prune by filter only");
        try
        {
            return (Thinning.Thin(network, masks), null);
        }
        catch (ArgumentException e)
        {
            return (null, e.Message);
        }
    }

    /// <summary>
    /// Where the thin checkpoint came from, as <c>thin</c> records it: the recipe's weights as the parent, its plan hash and
    /// levels, no rounding, selected by the recipe.
    /// </summary>
    public static CheckpointLineage Lineage(RecipePruning pruning, string parentWeightsHash, string? parentName)
    {
        ArgumentNullException.ThrowIfNull(pruning);
        return new CheckpointLineage("thin", parentWeightsHash, parentName, pruning.PlanHash,
            [.. pruning.Layers.Select(l => new LineageLevel(l.Name, l.Level, l.Method))], RoundTo: 1, Selection: "recipe");
    }

    /// <summary>
    /// Thresholds of the dense network for the thin one: each layer keeps the weight grids of its kept output channels
    /// (channel i of the thin layer is channel <see cref="ThinnedLayer.KeptChannels"/>[i] of the dense one); input and
    /// logit clips are per tensor and stay as they are. A removed channel is 0 after its BatchNorm in the masked network,
    /// so it quantizes to 0 and the thin INT8 network computes what the masked one does.
    /// </summary>
    public static QuantizationThresholds Thresholds(QuantizationThresholds thresholds, ThinnedNetwork thin)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(thin);
        var kept = thin.Layers.ToDictionary(l => l.Name, l => l.KeptChannels, StringComparer.Ordinal);
        return thresholds with
        {
            Layers = [.. thresholds.Layers.Select(layer => layer.KeptFloat || !kept.TryGetValue(layer.Layer, out var channels)
                ? layer
                : layer with { WeightGrids = [.. channels.Select(c => layer.WeightGrids[c])] })],
        };
    }
}
