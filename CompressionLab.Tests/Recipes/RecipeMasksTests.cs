using System.Security.Cryptography;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Recipes;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Pruning;

namespace CompressionLab.Tests.Recipes;

/// <summary>A recipe's per-layer masks on <see cref="PruningTestModels.HandMadeMlp"/>, whose weights are known: levels, thresholds, ties and hashes by hand.</summary>
[Collection(SerialCollection.Name)]
public sealed class RecipeMasksTests
{
    // hidden.fc1 = [[2, 0.5, 0, 0], [0, 0, 1, -3]] (row-major units 0..7): |w| sorted 0 (2), 0 (3), 0 (4), 0 (5), 0.5 (1), 1 (6), 2 (0), 3 (7).
    private static PlannedLayer Layer(double level, PruningMethod method) => new("hidden.fc1", "hidden", level, method, LevelSource.Stage);

    private static string HashByHand(params int[] units) =>
        Convert.ToHexStringLower(SHA256.HashData([.. units.SelectMany(BitConverter.GetBytes)])); // little-endian int32 on x64

    [Fact]
    public void HalfOfTheWeightsPrunesTheFourZerosAndTheThresholdIsTheSmallestKeptMagnitude()
    {
        using var network = PruningTestModels.HandMadeMlp();
        var layer = RecipeMasks.Describe(network, Layer(0.5, PruningMethod.Element));
        Assert.Equal(8, layer.Units);
        Assert.Equal(4, layer.PrunedUnits);
        Assert.Equal(0.5, layer.Threshold); // unit 1, the first kept
        Assert.False(layer.TiesAtThreshold);
        Assert.Equal(HashByHand(2, 3, 4, 5), layer.MaskSha256);
    }

    [Fact]
    public void ACutInsideEqualScoresIsFlaggedAndPrunesTheLowerIndicesFirst()
    {
        using var network = PruningTestModels.HandMadeMlp();
        var layer = RecipeMasks.Describe(network, Layer(0.25, PruningMethod.Element));
        Assert.Equal(2, layer.PrunedUnits);
        Assert.Equal(0, layer.Threshold); // unit 4 (a zero) is the first kept
        Assert.True(layer.TiesAtThreshold);
        Assert.Equal(HashByHand(2, 3), layer.MaskSha256);
    }

    [Fact]
    public void AFilterLevelPrunesTheRowOfSmallestNormAndItsThresholdIsTheKeptRowsNorm()
    {
        using var network = PruningTestModels.HandMadeMlp();
        var l1 = RecipeMasks.Describe(network, Layer(0.5, PruningMethod.FilterL1));
        Assert.Equal((2, 1), (l1.Units, l1.PrunedUnits));
        Assert.Equal(4, l1.Threshold); // row 1: |0| + |0| + |1| + |-3|; row 0 (2.5) goes
        Assert.Equal(HashByHand(0), l1.MaskSha256);
        var l2 = RecipeMasks.Describe(network, Layer(0.5, PruningMethod.FilterL2));
        Assert.Equal(Math.Sqrt(10), l2.Threshold); // row 1: √(1 + 9); row 0 (√4.25) goes
    }

    [Fact]
    public void ReproducingOnTheSameWeightsGivesTheSameMaskAndAnEditedThresholdIsNamed()
    {
        using var network = PruningTestModels.HandMadeMlp();
        var layer = RecipeMasks.Describe(network, Layer(0.5, PruningMethod.Element));
        var pruning = new RecipePruning("element", "plan", new string('0', 64), [], [layer], [], new RecipeSchedule("one-shot", null, null, null, null), null);
        var mask = Assert.Single(RecipeMasks.Reproduce(network, pruning));
        Assert.Equal([2, 3, 4, 5], mask.PrunedUnits);

        var edited = pruning with { Layers = [layer with { Threshold = 1 }] };
        var refused = Assert.Throws<RecipeMaskMismatchException>(() => RecipeMasks.Reproduce(network, edited));
        Assert.Equal("/pruning/layers/0/threshold", refused.Pointer);
        Assert.Contains("0.5", refused.Message, StringComparison.Ordinal);
    }
}
