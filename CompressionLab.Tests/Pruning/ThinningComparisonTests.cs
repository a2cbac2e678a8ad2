using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// The Pruning plan page's thinning job on a random vgg-tiny and the small synthetic set: the exact thinning measures what
/// the masked model measures (an independent path: masks applied to the dense model), its MACs are the plan's counted
/// MACs, the rounded choice keeps multiples of 8, element plans are refused by name, and a save stores a model at its widths.
/// Serial: evaluation and the benchmark set libtorch's threads.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ThinningComparisonTests : IDisposable
{
    private const int SubsetSize = 100;
    private readonly ModelJobTestBench bench = new();
    private readonly ModelRecord parent;
    private readonly IReadOnlyList<LayerInfo> layers;

    public ThinningComparisonTests()
    {
        var file = Path.Combine(bench.Workspace.Root, "parent.ckpt");
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 11);
        var metadata = Checkpoint.Save(network, file, SyntheticDataset.Name, bench.Catalog.Load(SyntheticDataset.Name).Train.ClassNames);
        layers = network.Layers;
        parent = bench.Store.Import(file, new ModelEntry("parent", ModelZoo.VggTiny, SyntheticDataset.Name, null, metadata.ParameterCount));
    }

    public void Dispose() => bench.Dispose();

    private PruningPlan FilterPlan() => PruningPlan.Default(layers, PruningMethod.FilterL1)
        .WithStageRate("stage1", 0.3).WithStageRate("stage2", 0.4).WithStageRate("stage3", 0.5);

    [Fact]
    public void ExactThinningMeasuresWhatTheMaskedModelMeasuresAndRoundingKeepsMultiplesOfEight()
    {
        var plan = FilterPlan();
        var result = ThinningComparisonJob.Run(new ThinningComparisonRequest(new StoredModel(parent.Id), plan, SubsetSize: SubsetSize, Repeats: 1),
            bench.Catalog, bench.Store, new RecordingProgress(), CancellationToken.None);

        // The independent measurement: the plan's masks on the dense model, on the same subset (as plan evaluate does).
        var dataset = bench.Catalog.Load(SyntheticDataset.Name);
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, SubsetSize, "SubsetSize");
        using var checkpoint = Checkpoint.Load(parent.FilePath);
        var resolved = plan.Resolve(checkpoint.Model.Layers);
        var dense = Evaluator.Evaluate(checkpoint.Model, subset.Images).Top1;
        double masked;
        using (PlanMasks.For(checkpoint.Model, resolved).ApplyTo(checkpoint.Model))
        {
            masked = Evaluator.Evaluate(checkpoint.Model, subset.Images).Top1;
        }

        Assert.Equal(dense, result.DenseTop1);
        Assert.Equal(subset.Count, result.SubsetSize);
        Assert.Equal(["exact", "rounded to 8"], result.Choices.Select(c => c.Name));
        var exact = result.Choices[0];
        Assert.Equal(masked, exact.Top1, 6);
        Assert.InRange(exact.MaxDifference, 0, 1e-4);
        var counted = PlanSize.Of(checkpoint.Model.Graph, resolved.Layers).Network;
        Assert.Equal(counted.MacsPerSample, exact.Macs);
        Assert.Equal(counted.Parameters, exact.Parameters);
        Assert.Equal((double)result.DenseMacs / exact.Macs, exact.MacRatio, 9);

        var rounded = result.Choices[1];
        Assert.All(rounded.Layers, l => Assert.True(l.After % 8 == 0 || l.After == l.Before, $"{l.Name}: {l.After} of {l.Before}"));
        Assert.All(rounded.Layers.Zip(exact.Layers), p => Assert.InRange(p.First.After, p.Second.After, p.First.Before));
        Assert.InRange(rounded.Macs, exact.Macs, result.DenseMacs);
        Assert.All(result.Choices, c => Assert.True(c.Speedup > 0 && double.IsFinite(c.Speedup)));
    }

    [Fact]
    public void AnElementPlanOrAPlanThatRemovesNothingIsRefusedNamingThePlan()
    {
        var element = PruningPlan.Default(layers, PruningMethod.Element).WithStageRate("stage2", 0.5);
        var refused = Assert.Throws<InvalidRequestException>(() => ThinningComparisonJob.Run(
            new ThinningComparisonRequest(new StoredModel(parent.Id), element, SubsetSize: SubsetSize, Repeats: 1), bench.Catalog, bench.Store, new RecordingProgress(), CancellationToken.None));
        Assert.Equal("Plan", refused.Setting);
        Assert.Contains("by element", refused.Message, StringComparison.Ordinal);

        var nothing = PruningPlan.Default(layers, PruningMethod.FilterL1);
        refused = Assert.Throws<InvalidRequestException>(() => ThinningComparisonJob.Run(
            new ThinningComparisonRequest(new StoredModel(parent.Id), nothing, SubsetSize: SubsetSize, Repeats: 1), bench.Catalog, bench.Store, new RecordingProgress(), CancellationToken.None));
        Assert.Contains("removes no filter", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    public void SettingsOutOfRangeAreRefusedByName(int which)
    {
        var request = new ThinningComparisonRequest(new StoredModel(parent.Id), FilterPlan());
        var (bad, setting) = which == 1 ? (request with { RoundTo = 1 }, "RoundTo") : (request with { Repeats = 0 }, "Repeats");
        Assert.Equal(setting, Assert.Throws<InvalidRequestException>(bad.Validate).Setting);
    }

    [Fact]
    public void SavingStoresTheThinModelAtItsWidthsWithItsLineage()
    {
        var saved = ThinningComparisonJob.Save(new ThinningSaveRequest(new StoredModel(parent.Id), FilterPlan(), 8), bench.Catalog, bench.Store,
            new RecordingProgress(), CancellationToken.None);

        var record = bench.Store.List().Single(m => m.Id == saved.ModelId);
        Assert.Equal(saved.Parameters, record.ParameterCount);
        Assert.StartsWith("parent · thin ", record.DisplayName, StringComparison.Ordinal);
        using var loaded = Checkpoint.Load(record.FilePath);
        Assert.NotNull(loaded.Metadata.Widths);
        Assert.Equal("thin", loaded.Metadata.Lineage!.Operation);
        Assert.Equal(saved.Macs, NetworkSize.Dense(loaded.Model.Graph).MacsPerSample);
        Assert.Equal(saved.TestTop1, loaded.Metadata.Top1);
    }
}
