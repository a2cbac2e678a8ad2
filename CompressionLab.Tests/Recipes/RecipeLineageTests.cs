using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Recipes;
using CompressionLab.Tests.Distillation;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Pruning;

namespace CompressionLab.Tests.Recipes;

/// <summary>Recipes of models made from others: pruning, schedule and fine-tuning from a fine-tuned checkpoint's lineage; distillation from a distilled one's.</summary>
[Collection(SerialCollection.Name)]
public sealed class RecipeLineageTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-recipe-lineage-").FullName;
    private readonly DatasetCatalog _catalog = DistillationTestData.Catalog();

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private RecipeExportOutcome Export(string model, string? distillation = null, string folder = "out") =>
        RecipeExportJob.Run(new RecipeExportRequest(new CheckpointFile(model), Path.Combine(_folder, folder), DistillationFile: distillation, SubsetSize: 100),
            _catalog, null, new RecordingProgress(), CancellationToken.None);

    /// <summary>A "fine-tuned" vgg-tiny: the parent's weights with the plan's masks in them, saved with the lineage a fine-tuning writes (no training: the lineage is what is read).</summary>
    private (string File, string ParentHash, IReadOnlyList<PruningMask> Masks) FineTuned(string schedule, string? parentHash = null)
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, 31);
        var parent = Checkpoint.Save(network, Path.Combine(_folder, "parent.ckpt"), IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        var plan = RecipeFixture.Plan(network.Layers).Resolve(network.Layers);
        var masks = PlanMasks.For(network, plan);
        var file = Path.Combine(_folder, $"finetuned-{schedule}.ckpt");
        using (masks.ApplyTo(network))
        {
            var lineage = new CheckpointLineage("fine-tune", parentHash ?? parent.ContentHash, "parent", PlanContent.Hash(plan),
                [.. PlanContent.Levels(plan).Select(l => new LineageLevel(l.Layer, l.Level, l.Method))], schedule, 2, 1e-3);
            Checkpoint.Save(network, file, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses, training: new TrainingSettings { Epochs = 2, MaxLearningRate = 1e-3, Seed = 7 }, lineage: lineage);
        }
        return (file, parent.ContentHash, masks.Masks);
    }

    [Fact]
    public void AFineTunedModelsRecipeTakesItsLevelsScheduleAndTrainingFromTheLineageAndAppliesToTheSameMasks()
    {
        var (file, parentHash, planMasks) = FineTuned("agp");
        var recipe = Export(file).Recipe;

        var pruning = Assert.IsType<RecipePruning>(recipe.Pruning);
        Assert.Equal("lineage", pruning.Source);
        Assert.Equal("mixed", pruning.Criterion); // element stages and a filter-l2 stage
        Assert.Equal(new RecipeSchedule("agp", 2, 10, 0.75, 0), pruning.Schedule);
        var tuning = Assert.IsType<RecipeFineTuning>(pruning.FineTuning);
        Assert.Equal((parentHash, "agp", 2, 1e-3, 7, "adamw", "one-cycle"), (tuning.ParentWeightsHash, tuning.Schedule, tuning.Epochs, tuning.PeakLearningRate, tuning.Seed, tuning.Optimizer, tuning.LearningRateSchedule));
        Assert.Equal(parentHash, recipe.Provenance.Lineage!.ParentWeightsHash);

        // The levels read on the fine-tuned weights select exactly the units the plan zeroed in the parent.
        Assert.Equal(planMasks.Select(m => RecipeMasks.Hash(m.PrunedUnits)), pruning.Layers.Select(l => l.MaskSha256));
        // They are already zero, so the recipe's masks change nothing: result = baseline, image for image.
        Assert.Equal(recipe.Results!.Baseline.CorrectPerClass, recipe.Results.Result.CorrectPerClass);

        var applied = RecipeApplyJob.Run(new RecipeApplyRequest(new CheckpointFile(file), RecipeFile.Read(Path.Combine(_folder, "out", RecipeFile.YamlFileName)), "recipe.yaml"),
            _catalog, null, null, new RecordingProgress(), CancellationToken.None);
        Assert.True(applied.MatchesRecorded);

        // The parent is another model: refused, saying how the two are related.
        var refused = Assert.Throws<InvalidRequestException>(() => RecipeApplyJob.Run(
            new RecipeApplyRequest(new CheckpointFile(Path.Combine(_folder, "parent.ckpt")), recipe, "recipe.yaml"), _catalog, null, null, new RecordingProgress(), CancellationToken.None));
        Assert.Contains("this model is the recipe's model's parent", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFixedScheduleIsOneShotAndAModelWithoutLineageHasGaps()
    {
        var (file, _, _) = FineTuned("fixed");
        Assert.Equal(new RecipeSchedule("one-shot", 2, null, null, null), Export(file).Recipe.Pruning!.Schedule);

        var plain = Export(Path.Combine(_folder, "parent.ckpt"), folder: "plain").Recipe;
        Assert.Null(plain.Pruning);
        Assert.Null(plain.Distillation);
        Assert.Null(plain.Quantization);
        Assert.Equal(["distillation", "pruning", "quantization"], plain.Gaps.Select(g => g.Section).Order(StringComparer.Ordinal));
        Assert.StartsWith("no calibration yet", plain.Gaps.Single(g => g.Section == "quantization").Message, StringComparison.Ordinal);
        Assert.Equal(plain.Results!.Baseline.CorrectPerClass, plain.Results.Result.CorrectPerClass); // nothing to apply: the result is the model
        Assert.Equal(plain.Results.Baseline.Loss, plain.Results.Result.Loss);
    }

    [Fact]
    public void AThinnedModelsLevelsAreNotAppliedAgain()
    {
        // Its levels were of the parent's widths; its filters are gone, not masked.
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, 35);
        var file = Path.Combine(_folder, "thin.ckpt");
        Checkpoint.Save(network, file, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses,
            lineage: new CheckpointLineage("thin", new string('c', 64), "parent", new string('d', 64), [new LineageLevel("stage2.conv1", 0.5, "filter-l1")], RoundTo: 1, Selection: "plan"));
        var recipe = Export(file, folder: "thin").Recipe;
        Assert.Null(recipe.Pruning);
        Assert.Contains("thinned from cccccccccccc", recipe.Gaps.Single(g => g.Section == "pruning").Message, StringComparison.Ordinal);
        Assert.Equal("thin", recipe.Provenance.Lineage!.Operation);
    }

    [Fact]
    public void DistillationComesFromTheLineageOfTheModelOrOfTheDistilledCheckpointItWasMadeFrom()
    {
        var teachers = new[] { new string('a', 64), new string('b', 64) };
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, 41);
        var distilledFile = Path.Combine(_folder, "distilled.ckpt");
        var distilled = Checkpoint.Save(network, distilledFile, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses,
            lineage: new CheckpointLineage("distill", teachers[0], "a + b", Epochs: 3, Teachers: teachers, Objective: "soft+hard T=4 alpha=0.9 t2=on targets=mean-over-flips"));

        var own = Assert.IsType<RecipeDistillation>(Export(distilledFile).Recipe.Distillation);
        Assert.Equal(new RecipeDistillation(distilled.ContentHash, teachers, "soft+hard", 4, 0.9, true, true, 3, "soft+hard T=4 alpha=0.9 t2=on targets=mean-over-flips"),
            own with { Teachers = teachers });
        Assert.Equal(teachers, own.Teachers);

        // A model fine-tuned from the distilled one: its distillation is the parent's, given with --distillation.
        var (child, _, _) = FineTuned("fixed", parentHash: distilled.ContentHash);
        var inherited = Export(child, distilledFile, "child").Recipe.Distillation!;
        Assert.Equal(distilled.ContentHash, inherited.StudentWeightsHash);

        var unrelated = Assert.Throws<InvalidRequestException>(() => Export(Path.Combine(_folder, "parent.ckpt"), distilledFile, "unrelated"));
        Assert.Equal(nameof(RecipeExportRequest.DistillationFile), unrelated.Setting);
        Assert.Contains("neither the model", unrelated.Message, StringComparison.Ordinal);
    }
}
