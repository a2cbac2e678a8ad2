using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Pruning;

namespace CompressionLab.Tests.Web;

/// <summary>The Pruning plan page's thinning section without a renderer, on PruningPageModelTests' tiny model and the fake scheduler.</summary>
public sealed class ThinningSectionModelTests : IDisposable
{
    private readonly PageWorkspace workspace = new();
    private readonly FakeJobScheduler scheduler = new();
    private readonly ThinningJobs thinning;
    private readonly ModelRecord model;

    public ThinningSectionModelTests()
    {
        thinning = new ThinningJobs(scheduler, workspace.Catalog, workspace.Store);
        model = PruningPageModelTests.Seed(workspace);
    }

    public void Dispose() => workspace.Dispose();

    private static PlanLayerRow Row(string name, double level, PruningMethod method, bool excluded = false) =>
        new(PruningPageModelTests.Layers.Single(l => l.Name == name),
            new PlannedLayer(name, "stage1", level, method, excluded ? LevelSource.Excluded : LevelSource.Stage), null, null, false, null, false, null);

    private static PruningPlan FilterPlan() =>
        PruningPlan.Default(PruningPageModelTests.Layers, PruningMethod.FilterL1).WithStageRate("stage1", 0.5);

    [Fact]
    public void OnlyAPlanThatRemovesFiltersAndNoSingleWeightsCanBeThinned()
    {
        Assert.Null(ThinningSectionModel.Problem([Row("conv1", 0.5, PruningMethod.FilterL1), Row("fc", 0, PruningMethod.Element, excluded: true)]));
        Assert.StartsWith("Thinning needs a filter plan", ThinningSectionModel.Problem([Row("conv1", 0.5, PruningMethod.Element)]), StringComparison.Ordinal);
        Assert.Contains("conv1 is pruned by element", ThinningSectionModel.Problem([Row("conv1", 0.5, PruningMethod.Element)]), StringComparison.Ordinal);
        Assert.Contains("removes no filter", ThinningSectionModel.Problem([Row("conv1", 0, PruningMethod.FilterL1)]), StringComparison.Ordinal);
    }

    [Fact]
    public void CompareQueuesTheJobOnThePlanEvaluationsImagesAndTheResultFillsTheTable()
    {
        using var section = new ThinningSectionModel(scheduler, thinning, () => { });
        var (job, error) = section.Compare(model, FilterPlan(), [Row("conv1", 0.5, PruningMethod.FilterL1)], [], null, 64);
        Assert.Null(error);
        var request = ModelJobJson.Read<ThinningComparisonRequest>(job!.ParametersJson);
        Assert.Equal((64, 8), (request.SubsetSize, request.RoundTo));
        Assert.Equal("Compare the thinnings first.", section.Save(8).Error);

        var result = new ThinningComparisonResult("tiny", ModelZoo.VggTiny, "synthetic", "w", "p", 64, 0.875, 99, 624, 0.002, 64, 2, 7,
        [
            new ThinningChoice("exact", 1, [new ThinningChoiceLayer("conv1", 4, 2), new ThinningChoiceLayer("fc", 3, 3)], 60, 330, 0.8125, 0.001, 2.0, 624.0 / 330, 0),
            new ThinningChoice("rounded to 8", 8, [new ThinningChoiceLayer("conv1", 4, 4), new ThinningChoiceLayer("fc", 3, 3)], 99, 624, 0.875, 0.002, 1.0, 1, 0),
        ], 1.5);
        scheduler.Publish(job with { State = JobState.Succeeded, ResultJson = ModelJobJson.Write(result) });
        section.ApplyUpdates();

        Assert.Equal(["dense", "exact", "rounded to 8"], section.Rows.Select(r => r.Choice));
        Assert.Equal([4, 3], section.Rows[0].Channels);
        Assert.Equal([2, 3], section.Rows[1].Channels);
        Assert.Equal((2.0, 624.0 / 330), (section.Rows[1].Speedup!.Value, section.Rows[1].MacRatio!.Value));
        Assert.Null(section.Rows[0].Speedup);

        var (save, _) = section.Save(8);
        var saveRequest = ModelJobJson.Read<ThinningSaveRequest>(save!.ParametersJson);
        Assert.Equal(8, saveRequest.RoundTo);
        Assert.Equal(0.5, saveRequest.Plan.Stages.Single(s => s.Name == "stage1").Rate);
        var id = Guid.NewGuid();
        scheduler.Publish(save with { State = JobState.Succeeded, ResultJson = ModelJobJson.Write(new ThinningSaveResult(id, "tiny · thin", 8, 99, 624, 0.86, "h")) });
        Assert.True(section.ApplyUpdates().ModelStored);
        Assert.Equal(id, Assert.Single(section.Saved).ModelId);
    }

    [Fact]
    public void AnElementPlanIsNotQueued()
    {
        using var section = new ThinningSectionModel(scheduler, thinning, () => { });
        var (job, error) = section.Compare(model, FilterPlan(), [Row("conv1", 0.5, PruningMethod.Element)], [], null, 64);
        Assert.Null(job);
        Assert.StartsWith("Thinning needs a filter plan", error, StringComparison.Ordinal);
        Assert.Empty(scheduler.List());
    }
}
