using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;
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
}
