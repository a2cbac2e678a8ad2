using CompressionLab.Core.Data;
using CompressionLab.Core.Export;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Reports;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Jobs;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Recipes;

/// <summary>The dashboard's starter (<see cref="RecipeJobs"/>) over a real scheduler and workspace: the apply job on a workspace model, and refusals before queueing.</summary>
[Collection(SerialCollection.Name)]
public sealed class RecipeJobsTests(RecipeFixture fixture) : IClassFixture<RecipeFixture>, IAsyncLifetime
{
    private SchedulerHarness _harness = null!;

    public async Task InitializeAsync() => _harness = await SchedulerHarness.StartedAsync();

    public async Task DisposeAsync() => await _harness.DisposeAsync();

    [Fact]
    public async Task TheStarterAppliesTheRecipeToAWorkspaceModelAndRefusesAnotherModelBeforeQueueing()
    {
        var store = new ModelStore(_harness.Database);
        var model = store.Import(fixture.Model, new ModelEntry("tiny", ModelZoo.VggTiny, IdxDataset.FashionMnistName, null, 0));
        var other = store.Import(fixture.OtherWeights, new ModelEntry("other", ModelZoo.VggTiny, IdxDataset.FashionMnistName, null, 0));
        var jobs = new RecipeJobs(_harness.Scheduler, fixture.Catalog, store);
        var recipe = RecipeFile.Read(fixture.YamlFile);

        var started = jobs.StartApply(new RecipeApplyRequest(model.Id, recipe, "recipe.yaml"));
        Assert.Equal(RecipeApplyJob.Kind, started.Kind);
        Assert.Contains("recipe.yaml", started.Title, StringComparison.Ordinal);
        var finished = await _harness.WaitAsync(started.Id);
        Assert.True(finished.State == JobState.Succeeded, finished.Error);
        var result = RecipeApplyJobResult.FromJson(finished.ResultJson!);
        Assert.True(result.MatchesRecorded);
        Assert.Equal(recipe.Results!.Result.Top1, result.RecordedTop1);
        Assert.Equal(result.RecordedTop1, result.Top1);
        Assert.Equal(model.Id, result.ModelId);

        // Another model is only found out when the job loads it: the job fails naming what differs, and the workspace keeps its two models.
        var refused = await _harness.WaitAsync(jobs.StartApply(new RecipeApplyRequest(other.Id, recipe, "recipe.yaml")).Id);
        Assert.Equal(JobState.Failed, refused.State);
        Assert.Contains("weights hash", refused.Error, StringComparison.Ordinal);
        Assert.Equal(2, store.List().Count);

        Assert.ThrowsAny<ArgumentException>(() => jobs.StartApply(new RecipeApplyRequest(Guid.NewGuid(), recipe, "recipe.yaml")));
        var edited = recipe with { Results = recipe.Results with { Result = recipe.Results.Result with { Top1 = 0.5 } } };
        Assert.Equal(nameof(RecipeApplyRequest.Recipe), Assert.Throws<InvalidRequestException>(() => jobs.StartApply(new RecipeApplyRequest(model.Id, edited, "recipe.yaml"))).Setting);
        Assert.Equal(2, _harness.Scheduler.List().Count);
    }

    [Fact]
    public async Task TheOnnxStarterExportsTheRecipeOnItsImagesAndTheSimulatedTop1IsTheRecipesResult()
    {
        var store = new ModelStore(_harness.Database);
        var model = store.Import(fixture.Model, new ModelEntry("tiny", ModelZoo.VggTiny, IdxDataset.FashionMnistName, null, 0));
        var jobs = new OnnxJobs(_harness.Scheduler, fixture.Catalog, store, new CalibrationProfileStore(_harness.Database));
        var recipe = new OnnxRecipe(RecipeFile.Read(fixture.YamlFile), RecipeFile.YamlFileName);
        var images = new Int8Images(EvaluationSize: recipe.Recipe.Results!.Images.Count);
        var output = Path.Combine(fixture.Folder, "starter", "tiny.int8.onnx");

        var started = jobs.StartExport(new OnnxExportRequest(new StoredModel(model.Id), output, Int8: recipe.Choice, Images: images, Recipe: recipe), new JobLinks(Subject: model.Id));
        Assert.Equal((OnnxExportJob.Kind, model.Id), (started.Kind, started.Links.Subject));
        Assert.Contains("INT8 with the recipe", started.Title, StringComparison.Ordinal);
        var finished = await _harness.WaitAsync(started.Id);
        Assert.True(finished.State == JobState.Succeeded, finished.Error);
        var outcome = OnnxJobs.ReadResult(finished.ResultJson!);
        Assert.Equal(Path.GetFullPath(output), outcome.Out);
        Assert.Equal(new FileInfo(output).Length, outcome.OnnxBytes);
        Assert.Equal(recipe.Recipe.Quantization!.ChoiceKey, outcome.Quantization);
        // The same masks, grids and images as the recipe's measurement: the simulation gives the recipe's result exactly.
        Assert.Equal(recipe.Recipe.Results.Images.Key, outcome.EvaluationSubset);
        Assert.Equal(recipe.Recipe.Results.Result.Top1, outcome.Check.TorchSharpTop1);
        Assert.Equal(recipe.Recipe.Results.Images.Count, outcome.Check.Images);

        // A recipe without INT8 grids is refused for INT8 before anything is queued.
        var floatOnly = recipe with { Recipe = recipe.Recipe with { Quantization = null } };
        Assert.Equal(nameof(OnnxExportRequest.Recipe), Assert.ThrowsAny<InvalidRequestException>(() =>
            jobs.StartExport(new OnnxExportRequest(new StoredModel(model.Id), output, Int8: recipe.Choice, Recipe: floatOnly))).Setting);
        Assert.Single(_harness.Scheduler.List());
    }

    [Fact]
    public async Task TheReportStarterWritesTheReportTheBuilderMakesForTheSameRequest()
    {
        var store = new ModelStore(_harness.Database);
        var model = store.Import(fixture.Model, new ModelEntry("tiny", ModelZoo.VggTiny, IdxDataset.FashionMnistName, null, 0));
        var jobs = new ReportJobs(_harness.Scheduler, fixture.Catalog, _harness.Database, store);
        var request = new ReportRequest(new StoredModel(model.Id), IdxDataset.FashionMnistName);
        var output = Path.Combine(fixture.Folder, "reports", "tiny.html");

        var finished = await _harness.WaitAsync(jobs.StartReport(request, output).Id);
        Assert.True(finished.State == JobState.Succeeded, finished.Error);
        var result = ReportJobs.ReadResult(finished.ResultJson!);
        var expected = new CompressionReportBuilder(fixture.Catalog, _harness.Database).Build(request, new RecordingProgress(), CancellationToken.None);
        Assert.Equal(Path.GetFullPath(output), result.Out);
        Assert.Equal(expected.Sections, result.Sections);
        Assert.Equal(expected.Gaps, result.Gaps);
        Assert.Equal(new FileInfo(output).Length, result.Bytes);
        var html = File.ReadAllText(output);
        // The same file but for the minute it was made: the builder's HTML with the job's timestamp line.
        Assert.Equal(Without(ReportHtml.Write(expected)), Without(html));
        Assert.Contains(expected.Model.WeightsHash, html, StringComparison.Ordinal);
    }

    /// <summary>The report without its "Made by ... on DATE UTC" line, the one part that depends on when it was made.</summary>
    private static string Without(string html) => System.Text.RegularExpressions.Regex.Replace(html, @"on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "on (date) UTC");
}
