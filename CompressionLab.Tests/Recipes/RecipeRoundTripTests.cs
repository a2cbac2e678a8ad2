using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Recipes;

/// <summary>Export → apply on the recipe's own model: the same masks, the same quantization parameters, the same counts to the image.</summary>
[Collection(SerialCollection.Name)]
public sealed class RecipeRoundTripTests(RecipeFixture fixture) : IClassFixture<RecipeFixture>
{
    private RecipeApplyOutcome Apply(string recipeFile, string? model = null, int? subset = null)
    {
        var document = RecipeFile.ReadDocument(recipeFile);
        return RecipeApplyJob.Run(new RecipeApplyRequest(new CheckpointFile(model ?? fixture.Model), document.Recipe, Path.GetFileName(recipeFile), SubsetSize: subset, Lines: document.Lines),
            fixture.Catalog, null, null, new RecordingProgress(), CancellationToken.None);
    }

    [Theory]
    [InlineData(RecipeFile.YamlFileName)]
    [InlineData(RecipeFile.JsonFileName)]
    public void ApplyingTheExportedRecipeToItsModelMatchesTheRecordedCountsToTheImage(string file)
    {
        var recorded = fixture.Export.Recipe.Results!;
        var outcome = Apply(Path.Combine(fixture.OutputFolder, file));
        Assert.True(outcome.SameImages);
        Assert.True(outcome.MatchesRecorded);
        Assert.Equal(recorded.Images.Count, outcome.Samples);
        Assert.Equal(recorded.Result.Correct, outcome.Result.Correct);
        Assert.Equal(recorded.Result.CorrectPerClass, outcome.Result.CorrectPerClass);
        Assert.Equal(recorded.Baseline.Correct, outcome.Baseline.Correct);
        Assert.Equal(recorded.Result.Top1, outcome.Result.Top1);
        Assert.Equal(recorded.Compressed.Sparsity, outcome.Sparsity);
        Assert.Equal(7, outcome.QuantizedLayers);
        // Pruning and INT8 change the model: a result equal to the baseline would say the recipe did nothing.
        Assert.NotEqual(recorded.Baseline.CorrectPerClass, recorded.Result.CorrectPerClass);
    }

    [Fact]
    public void TheAppliedMasksAreThePlansMasksUnitForUnit()
    {
        using var checkpoint = Checkpoint.Load(fixture.Model);
        var plan = RecipeFixture.Plan(checkpoint.Model.Layers).Resolve(checkpoint.Model.Layers);
        var expected = PlanMasks.For(checkpoint.Model, plan).Masks;
        var reproduced = RecipeMasks.Reproduce(checkpoint.Model, RecipeFile.Read(fixture.YamlFile).Pruning!);

        Assert.Equal(expected.Select(m => m.LayerName), reproduced.Select(m => m.LayerName));
        Assert.Equal(6, expected.Count); // two convs in each of stage1, stage2 (filters) and stage3; the output layer is excluded
        foreach (var (plan1, recipe1) in expected.Zip(reproduced))
        {
            Assert.Equal(plan1.Criterion, recipe1.Criterion);
            Assert.Equal(plan1.PrunedUnits, recipe1.PrunedUnits);
        }
        Assert.Equal(PlanContent.Hash(plan), fixture.Export.Recipe.Pruning!.PlanHash);
    }

    [Fact]
    public void TheRecipesQuantizationParametersAreTheCalibrationFilesExactly()
    {
        var calibration = CalibrationFile.Read(fixture.CalibrationFilePath).Thresholds;
        var fromRecipe = RecipeThresholds.ToThresholds(RecipeFile.Read(fixture.JsonFile).Quantization!);
        Assert.Equal(calibration.Choice.Key, fromRecipe.Choice.Key);
        Assert.Equal(calibration.Layers.Select(l => l.Layer), fromRecipe.Layers.Select(l => l.Layer));
        foreach (var (expected, actual) in calibration.Layers.Zip(fromRecipe.Layers))
        {
            Assert.Equal(expected.Input!.Grid, actual.Input!.Grid);
            Assert.Equal((expected.Input.Min, expected.Input.Max, expected.Input.Amax, expected.Input.Mode), (actual.Input.Min, actual.Input.Max, actual.Input.Amax, actual.Input.Mode));
            Assert.Equal(expected.WeightGrids, actual.WeightGrids);
        }
    }

    [Fact]
    public void OnOtherImagesTheNumbersAreMeasuredButNotClaimedToMatch()
    {
        var outcome = Apply(fixture.YamlFile, subset: 100);
        Assert.False(outcome.SameImages);
        Assert.False(outcome.MatchesRecorded);
        Assert.Equal(100, outcome.Samples);
    }

    [Fact]
    public void AnotherModelIsRefusedNamingWhatDiffersAndNothingIsChanged()
    {
        var before = Fingerprint();
        var otherWeights = Assert.Throws<InvalidRequestException>(() => Apply(fixture.YamlFile, fixture.OtherWeights));
        Assert.Equal(nameof(RecipeApplyRequest.Model), otherWeights.Setting);
        Assert.Contains("weights hash", otherWeights.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("layer names", otherWeights.Message, StringComparison.Ordinal);

        var otherArchitecture = Assert.Throws<InvalidRequestException>(() => Apply(fixture.YamlFile, fixture.OtherArchitecture));
        Assert.Contains("architecture: the recipe's is vgg-tiny, the model's lenet-5", otherArchitecture.Message, StringComparison.Ordinal);
        Assert.Contains("layer names: the model has no stage1.conv2", otherArchitecture.Message, StringComparison.Ordinal);
        Assert.Contains("shape of stage1.conv1", otherArchitecture.Message, StringComparison.Ordinal);
        Assert.Equal(before, Fingerprint());
    }

    [Fact]
    public void AnInputOfAnotherModelIsRefusedNamingItAndNothingIsWritten()
    {
        var folder = Path.Combine(fixture.Folder, "refused");
        var otherPlan = fixture.WritePlan(fixture.OtherWeights, "other-plan.json");
        var plan = Assert.Throws<InvalidRequestException>(() => RecipeExportJob.Run(
            new RecipeExportRequest(new CheckpointFile(fixture.Model), folder, PlanFile: otherPlan, SubsetSize: 50), fixture.Catalog, null, new RecordingProgress(), CancellationToken.None));
        Assert.Equal(nameof(RecipeExportRequest.PlanFile), plan.Setting);
        Assert.Contains("weights hash", plan.Message, StringComparison.Ordinal);

        var otherCalibration = fixture.WriteCalibration(fixture.OtherWeights, "other-calibration.json", fixture.Catalog);
        var calibration = Assert.Throws<InvalidRequestException>(() => RecipeExportJob.Run(
            new RecipeExportRequest(new CheckpointFile(fixture.Model), folder, CalibrationFile: otherCalibration, SubsetSize: 50), fixture.Catalog, null, new RecordingProgress(), CancellationToken.None));
        Assert.Equal(nameof(RecipeExportRequest.CalibrationFile), calibration.Setting);
        using (var checkpoint = Checkpoint.Load(fixture.OtherWeights))
            Assert.Contains(checkpoint.Metadata.ContentHash[..12], calibration.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder));
    }

    /// <summary>Every file of the fixture's folder with its bytes' hash: what a refusal must leave as it was.</summary>
    private Dictionary<string, string> Fingerprint() =>
        Directory.EnumerateFiles(fixture.Folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => f, f => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))));
}
