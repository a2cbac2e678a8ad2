using System.Buffers.Binary;
using System.Security.Cryptography;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Core.Recipes;

/// <summary>A recipe's mask that the model's weights do not give, naming the field (a JSON Pointer) and what differs.</summary>
public sealed class RecipeMaskMismatchException(string pointer, string message) : Exception(message)
{
    public string Pointer { get; } = pointer;
}

/// <summary>
/// A recipe's pruned layers from a plan on a model's weights, and back: the same ranking as <see cref="PlanMasks"/>
/// (<see cref="PruningRanking"/>, ties by index), so a recipe's masks are exactly the plan's.
/// </summary>
public static class RecipeMasks
{
    /// <summary>What the mask of <paramref name="layer"/> is on <paramref name="network"/>'s current weights: level, counts, threshold, hash.</summary>
    public static RecipePrunedLayer Describe(ClassifierNetwork network, PlannedLayer layer)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(layer);
        var ranking = PruningRanking.For(network, layer.Layer, layer.Method.Criterion, layer.Method.Norm);
        var mask = ranking.MaskAt(layer.Level);
        var (threshold, ties) = Threshold(ranking, mask.PrunedCount);
        return new RecipePrunedLayer(layer.Layer, layer.Stage, layer.Method.Key, layer.Level, ranking.UnitCount, mask.PrunedCount, threshold, ties, Hash(mask.PrunedUnits));
    }

    /// <summary>
    /// The masks of <paramref name="pruning"/> ranked on <paramref name="network"/>'s current weights, each checked against
    /// the recipe: the same count, the same threshold (the first kept unit's score, to the bit) and the same pruned units (hash).
    /// </summary>
    /// <exception cref="RecipeMaskMismatchException">A layer's mask differs from the recipe's, naming the field.</exception>
    public static IReadOnlyList<PruningMask> Reproduce(ClassifierNetwork network, RecipePruning pruning)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(pruning);
        var masks = new List<PruningMask>(pruning.Layers.Count);
        for (var i = 0; i < pruning.Layers.Count; i++)
        {
            var layer = pruning.Layers[i];
            var method = PruningMethod.Parse(layer.Method);
            var ranking = PruningRanking.For(network, layer.Name, method.Criterion, method.Norm);
            var mask = ranking.MaskAt(layer.Level);
            var at = $"/pruning/layers/{i}";
            if (ranking.UnitCount != layer.Units)
                throw new RecipeMaskMismatchException($"{at}/units", $"{layer.Name} has {ranking.UnitCount} units here, the recipe {layer.Units}.");
            var (threshold, _) = Threshold(ranking, mask.PrunedCount);
            if (threshold != layer.Threshold)
                throw new RecipeMaskMismatchException($"{at}/threshold",
                    $"{layer.Name}: the first kept unit scores {RecipeFile.Number(threshold)} on these weights, the recipe's threshold is {RecipeFile.Number(layer.Threshold)}.");
            var hash = Hash(mask.PrunedUnits);
            if (hash != layer.MaskSha256)
                throw new RecipeMaskMismatchException($"{at}/mask_sha256", $"{layer.Name}: the {mask.PrunedCount} units pruned here are not the recipe's (mask hash {hash[..12]}… against {layer.MaskSha256[..Math.Min(12, layer.MaskSha256.Length)]}…).");
            masks.Add(mask);
        }
        return masks;
    }

    /// <summary>Applies every mask at once; disposing the result restores the weights bit for bit. All or nothing.</summary>
    public static IDisposable Apply(ClassifierNetwork network, IReadOnlyList<PruningMask> masks)
    {
        ArgumentNullException.ThrowIfNull(masks);
        var applied = new List<AppliedPruningMask>(masks.Count);
        try
        {
            foreach (var mask in masks) applied.Add(mask.ApplyTo(network));
        }
        catch
        {
            for (var i = applied.Count - 1; i >= 0; i--) applied[i].Dispose();
            throw;
        }
        return new Restore(applied);
    }

    /// <summary>Lower-case hex SHA-256 of the pruned unit indices, ascending, each a little-endian int32.</summary>
    public static string Hash(IReadOnlyList<int> prunedUnits)
    {
        ArgumentNullException.ThrowIfNull(prunedUnits);
        var bytes = new byte[prunedUnits.Count * 4];
        for (var i = 0; i < prunedUnits.Count; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), prunedUnits[i]);
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    /// <summary>The score of the first unit kept, and whether a pruned unit scores the same (the cut falls inside a tie).</summary>
    private static (double Threshold, bool Ties) Threshold(PruningRanking ranking, int pruned)
    {
        var threshold = ranking.Scores[ranking.Order[pruned]];
        return (threshold, pruned > 0 && ranking.Scores[ranking.Order[pruned - 1]] == threshold);
    }

    private sealed class Restore(List<AppliedPruningMask> applied) : IDisposable
    {
        public void Dispose()
        {
            for (var i = applied.Count - 1; i >= 0; i--) applied[i].Dispose();
        }
    }
}
