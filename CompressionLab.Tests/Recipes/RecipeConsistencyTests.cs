using CompressionLab.Core.Recipes;

namespace CompressionLab.Tests.Recipes;

/// <summary>The rules a recipe's numbers must satisfy among themselves, on small recipes whose answers are computed by hand.</summary>
public sealed class RecipeConsistencyTests
{
    private static readonly string Hash = new('0', 64);

    private static CompressionRecipe Recipe(RecipeQuantization? quantization = null, RecipeResults? results = null, RecipePruning? pruning = null) => new(
        CompressionRecipe.FormatName, 1,
        new RecipeProvenance("hand-made-mlp", Hash, null, "hand-made", [new RecipeLayer("hidden.fc1", [2, 4]), new RecipeLayer("classifier.fc", [2, 2])], "test", DateTimeOffset.UnixEpoch, null),
        results, pruning, null, quantization, []);

    private static RecipeQuantizedLayer Layer(string name, RecipeClip input, params RecipeChannelScale[] channels) => new(name, false, "max", input, channels, null);

    private static RecipeQuantization Quantization(params RecipeQuantizedLayer[] layers) =>
        new(8, "symmetric", true, "max", "symmetric max; logits float", false, [], new RecipeCalibrationSource(Hash, "hand-made", "k", 4), layers);

    [Fact]
    public void GridsComputedByHandAreAcceptedAndAnEditedScaleOrZeroPointIsNamed()
    {
        // Symmetric [-1.27, 1.27]: 1.27 / 127 = 0.01. Asymmetric [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
        // A channel of amax 2.54: 2.54 / 127 = 0.02.
        var symmetric = new RecipeClip("max", "symmetric", -1.27, 1.27, 1.27, 1.27 / 127, 0, 0, null);
        var asymmetric = new RecipeClip("max", "asymmetric", -1, 3, 3, 4.0 / 255, 64, 0, null);
        var good = Recipe(Quantization(Layer("hidden.fc1", symmetric, new(2.54, 0.02, 0), new(1.27, 0.01, 0)), Layer("classifier.fc", asymmetric, new(1, 1.0 / 127, 0), new(1, 1.0 / 127, 0))));
        Assert.Empty(RecipeConsistency.Problems(good));

        var badZero = Recipe(Quantization(Layer("hidden.fc1", symmetric, new(2.54, 0.02, 0), new(1.27, 0.01, 0)), Layer("classifier.fc", asymmetric with { ZeroPoint = 63 }, new(1, 1.0 / 127, 0), new(1, 1.0 / 127, 0))));
        var problem = Assert.Single(RecipeConsistency.Problems(badZero));
        Assert.Equal("/quantization/layers/1/input/zero_point", problem.Pointer);
        Assert.Contains("zero point 64, not 63", problem.Message, StringComparison.Ordinal);

        var badChannel = Recipe(Quantization(Layer("hidden.fc1", symmetric, new(2.54, 0.03, 0), new(1.27, 0.01, 0)), Layer("classifier.fc", asymmetric, new(1, 1.0 / 127, 0), new(1, 1.0 / 127, 0))));
        Assert.Equal("/quantization/layers/0/weight_channels/0/scale", Assert.Single(RecipeConsistency.Problems(badChannel)).Pointer);

        var missingLayer = Recipe(Quantization(Layer("hidden.fc1", symmetric, new(2.54, 0.02, 0), new(1.27, 0.01, 0))));
        Assert.Equal("/quantization/layers", Assert.Single(RecipeConsistency.Problems(missingLayer)).Pointer);
    }

    [Fact]
    public void Top1IsCorrectOverSamplesAndTheClassesAddUp()
    {
        static RecipeMeasurement M(double top1, int correct, params int[] perClass) => new(top1, correct, 4, perClass, 1, 0.5);
        var size = new RecipeSize(0, 12, 12, 48, 48, 12, 12);
        var images = new RecipeImages("hand-made", "validation", 4, "k");
        Assert.Empty(RecipeConsistency.Problems(Recipe(results: new RecipeResults(images, M(0.75, 3, 2, 1), M(0.5, 2, 1, 1), size, size))));

        var problems = RecipeConsistency.Problems(Recipe(results: new RecipeResults(images, M(0.7, 3, 2, 1), M(0.5, 2, 2, 1), size, size)));
        Assert.Equal(["/results/baseline/top1", "/results/result/correct_per_class"], problems.Select(p => p.Pointer));
        Assert.Contains("3 / 4 = 0.75", problems[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PrunedCountsFollowTheLevelsRoundingAndUnitsTheWeightsShape()
    {
        // hidden.fc1 is [2, 4]: 8 weights, 2 filters. 0.45 of 8 = 3.6 → 4; filter-l1 0.5 of 2 = 1.
        RecipePrunedLayer L(string method, double level, int units, int pruned) => new("hidden.fc1", "hidden", method, level, units, pruned, 0.5, false, Hash);
        RecipePruning P(RecipePrunedLayer layer) => new("element", "plan", Core.Pruning.PlanContent.Hash(new([new("hidden.fc1", "hidden", layer.Level,
            Core.Pruning.PruningMethod.Parse(layer.Method), Core.Pruning.LevelSource.Override)])), [], [layer], [], new RecipeSchedule("one-shot", null, null, null, null), null);

        Assert.Empty(RecipeConsistency.Problems(Recipe(pruning: P(L("element", 0.45, 8, 4)))));
        Assert.Empty(RecipeConsistency.Problems(Recipe(pruning: P(L("filter-l1", 0.5, 2, 1)))));
        Assert.Equal("/pruning/layers/0/pruned_units", Assert.Single(RecipeConsistency.Problems(Recipe(pruning: P(L("element", 0.45, 8, 3))))).Pointer);
        Assert.Equal("/pruning/layers/0/units", Assert.Single(RecipeConsistency.Problems(Recipe(pruning: P(L("filter-l1", 0.5, 8, 4))))).Pointer);
        var edited = P(L("element", 0.45, 8, 4)) with { PlanHash = new string('1', 64) };
        Assert.Equal("/pruning/plan_hash", Assert.Single(RecipeConsistency.Problems(Recipe(pruning: edited))).Pointer);
    }
}
