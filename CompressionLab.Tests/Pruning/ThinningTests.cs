using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// Thinning against masking: the thin network must compute what the dense network computes with the same filter masks
/// applied, on real images and on random inputs, for every zoo model with convs; its counts must be what
/// <see cref="NetworkSize"/> predicts for the masks; and rounding must give back the highest-norm pruned filters.
/// </summary>
public sealed class ThinningTests : IDisposable
{
    private const double Tolerance = 1e-5;
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-thinning-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>A filter plan that prunes every stage at a different level (lenet-5's classifier stage holds fc1 and fc2: neurons).</summary>
    private static ResolvedPlan FilterPlan(ClassifierNetwork network) =>
        network.Layers.Select(l => l.Stage).Distinct().Select((stage, i) => (stage, level: Math.Round(0.3 + (0.15 * i), 4)))
            .Aggregate(PruningPlan.Default(network.Layers, PruningMethod.FilterL1), (plan, s) => plan.WithStageRate(s.stage, s.level))
            .WithOverride(network.Layers[1].Name, 0.6, PruningMethod.FilterL2)
            .Resolve(network.Layers);

    [Theory]
    [InlineData(ModelZoo.VggSmall, 1)]
    [InlineData(ModelZoo.VggSmall, 8)]
    [InlineData(ModelZoo.VggTiny, 1)]
    [InlineData(ModelZoo.VggTiny, 8)]
    [InlineData(ModelZoo.Lenet5, 1)]
    [InlineData(ModelZoo.Lenet5, 8)]
    public void TheThinNetworkComputesWhatTheMaskedNetworkComputes(string architecture, int roundTo)
    {
        using var network = PruningTestModels.RandomZooModel(architecture, seed: 71);
        var plan = FilterPlan(network);
        var masks = Thinning.PlanFilterMasks(network, plan, roundTo);
        if (roundTo == 1)
        {
            // The plan's own masks, as plan evaluate applies them.
            var planMasks = PlanMasks.For(network, plan).Masks;
            Assert.Equal(planMasks.Select(m => (m.LayerName, string.Join(",", m.PrunedUnits))), masks.Select(m => (m.LayerName, string.Join(",", m.PrunedUnits))));
        }
        Assert.Contains(masks, m => m.PrunedCount > 0);

        using var thin = Thinning.Thin(network, masks);

        Assert.False(thin.Model.training);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var real = ImageTensors.Inputs(PruningTestModels.FashionTest(64));
        var random = randn(32, 1, 28, 28) * 2;
        var thinReal = thin.Model.call(real);
        var thinRandom = thin.Model.call(random);
        Tensor maskedReal, maskedRandom;
        using (new AppliedMasks(network, masks))
        {
            maskedReal = network.call(real);
            maskedRandom = network.call(random);
        }
        AssertClose(maskedReal, thinReal);
        AssertClose(maskedRandom, thinRandom);
        // And it is not the dense network (the test would pass for a copy otherwise).
        Assert.True(network.call(real).sub(thinReal).abs().max().item<float>() > 1e-3);

        // Counts: what NetworkSize predicts for the masks on the dense graph, and the thin model's real parameters.
        var predicted = NetworkSize.Of(network.Graph, [.. masks.Select(m => new LayerPruning(m.LayerName, m.PrunedUnits.ToArray()))]);
        Assert.Equal(predicted.Parameters, thin.After.Parameters);
        Assert.Equal(predicted.MacsPerSample, thin.After.MacsPerSample);
        Assert.Equal(thin.Model.ParameterCount, thin.After.Parameters);
        Assert.Equal(network.ParameterCount, thin.Before.Parameters);
        foreach (var layer in thin.Layers)
        {
            var mask = masks.SingleOrDefault(m => m.LayerName == layer.Name);
            Assert.Equal(layer.ChannelsBefore - (mask?.PrunedCount ?? 0), layer.ChannelsAfter);
            Assert.Equal(layer.ChannelsAfter, (int)thin.Model.Layer(layer.Name).OutputChannels);
            if (roundTo > 1) Assert.True(layer.ChannelsAfter % roundTo == 0 || layer.ChannelsAfter == layer.ChannelsBefore, $"{layer.Name} keeps {layer.ChannelsAfter}");
        }
    }

    [Theory]
    [InlineData(ModelZoo.VggSmall)]
    [InlineData(ModelZoo.Lenet5)]
    public void RoundingGivesBackThePrunedFiltersWithTheHighestNorms(string architecture)
    {
        using var network = PruningTestModels.RandomZooModel(architecture, seed: 72);
        var plan = FilterPlan(network);
        var exact = Thinning.PlanFilterMasks(network, plan);
        var rounded = Thinning.PlanFilterMasks(network, plan, roundTo: 8);

        foreach (var mask in exact)
        {
            var round = rounded.Single(m => m.LayerName == mask.LayerName);
            var keptExact = mask.UnitCount - mask.PrunedCount;
            Assert.Equal(Math.Min(mask.UnitCount, (keptExact + 7) / 8 * 8), round.UnitCount - round.PrunedCount);
            Assert.Subset(mask.PrunedUnits.ToHashSet(), round.PrunedUnits.ToHashSet());
            // Norms worked out here: every filter still pruned has a norm no larger than every filter given back.
            var level = plan.Layer(mask.LayerName);
            var norms = FilterNorms(network.LayerWeight(mask.LayerName), level.Method.Norm);
            var restored = mask.PrunedUnits.Except(round.PrunedUnits).ToArray();
            if (restored.Length > 0 && round.PrunedCount > 0)
                Assert.True(round.PrunedUnits.Max(u => norms[u]) <= restored.Min(u => norms[u]), $"{mask.LayerName} gave back a weaker filter than one it still prunes");
        }
        Assert.True(RoundTo8Changed(exact, rounded), "the plan should have layers whose kept count is not a multiple of 8");
    }

    [Fact]
    public void AnElementPlanIsRefusedNamingTheLayers()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 73);
        var plan = PruningPlan.Default(network.Layers, PruningMethod.FilterL1, 0.5).WithOverride("stage2.conv1", 0.4, PruningMethod.Element).Resolve(network.Layers);

        var e = Assert.Throws<ArgumentException>(() => Thinning.PlanFilterMasks(network, plan));
        Assert.Contains("stage2.conv1 at 0.4", e.Message, StringComparison.Ordinal);
        Assert.Contains("element", e.Message, StringComparison.Ordinal);
        Assert.Contains("filter plan", e.Message, StringComparison.Ordinal);
        var mask = PruningRanking.For(network, "stage1.conv1", PruningCriterion.Element).MaskAt(0.5);
        Assert.Throws<ArgumentException>(() => Thinning.Thin(network, [mask]));
    }

    [Fact]
    public void TheOutputLayerAndAMaskOfEveryFilterAreRefused()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 74);
        var output = PruningRanking.For(network, "classifier.fc", PruningCriterion.Filter).MaskAt(0.2);
        Assert.Contains("output layer", Assert.Throws<ArgumentException>(() => Thinning.Thin(network, [output])).Message, StringComparison.Ordinal);
        var all = PruningMask.FromUnits("stage1.conv1", PruningCriterion.Filter, network.Layer("stage1.conv1").WeightShape, Enumerable.Range(0, 8));
        Assert.Contains("at least one", Assert.Throws<ArgumentException>(() => Thinning.Thin(network, [all])).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public void AFilterPrunedModelIsThinnedByItsSilentFilters(int roundTo)
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggSmall, seed: 75);
        var masks = Thinning.PlanFilterMasks(network, FilterPlan(network));
        using var applied = new AppliedMasks(network, masks); // the model as a filter-pruned checkpoint holds it
        // A zero filter whose BatchNorm still adds a constant is not silent: removing it would change the outputs.
        var loud = Enumerable.Range(0, 24).First(c => !masks.Single(m => m.LayerName == "stage1.conv1").IsPruned(c));
        using (no_grad()) network.LayerWeight("stage1.conv1")[loud].zero_();

        var silent = Thinning.FindSilentFilters(network, roundTo);

        Assert.Equal(1, silent.NotSilent["stage1.conv1"]);
        if (roundTo == 1)
            Assert.Equal(masks.Select(m => (m.LayerName, string.Join(",", m.PrunedUnits))), silent.Masks.Select(m => (m.LayerName, string.Join(",", m.PrunedUnits))));
        using var thin = Thinning.Thin(network, silent.Masks);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = ImageTensors.Inputs(PruningTestModels.FashionTest(32));
        AssertClose(network.call(input), thin.Model.call(input));
        if (roundTo == 8) Assert.All(thin.Layers.SkipLast(1), l => Assert.Equal(0, l.ChannelsAfter % 8));
    }

    [Fact]
    public void AThinCheckpointLoadsWithItsWidthsAndGivesTheSameOutputs()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggSmall, seed: 76);
        using var thin = Thinning.Thin(network, Thinning.PlanFilterMasks(network, FilterPlan(network)));
        var path = Path.Combine(_folder, "thin.ckpt");
        var saved = Checkpoint.Save(thin.Model, path, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);

        using var loaded = Checkpoint.Load(path);

        Assert.NotNull(saved.Widths);
        Assert.Equal(thin.Layers.SkipLast(1).Select(l => (l.Name, l.ChannelsAfter)), loaded.Metadata.Widths!.Select(w => (w.Key, w.Value)));
        Assert.Equal(thin.Model.Layers.Select(l => l.ShapeText), loaded.Model.Layers.Select(l => l.ShapeText));
        Assert.Equal(thin.After, NetworkSize.Dense(loaded.Model.Graph), new NetworkSizeComparer());
        Assert.Equal(thin.After.Parameters, loaded.Metadata.ParameterCount);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = ImageTensors.Inputs(PruningTestModels.FashionTest(32));
        Assert.True(thin.Model.call(input).eq(loaded.Model.call(input)).all().item<bool>());
        // Evaluated like any model: the one evaluation path (BatchNorm folded) agrees with the modules.
        var result = Evaluator.Evaluate(loaded.Model, PruningTestModels.FashionTest(64));
        Assert.Equal(64, result.Samples);

        // Imported into a workspace like any checkpoint, with its real parameter count; read back with its widths.
        using var bench = new CompressionLab.Tests.Models.ModelJobTestBench();
        var imported = CheckpointImport.Import(bench.Store, path, "thin");
        Assert.Equal(thin.After.Parameters, imported.Model.ParameterCount);
        using var stored = Checkpoint.Load(imported.Model.FilePath);
        Assert.Equal(thin.Model.Layers.Select(l => l.ShapeText), stored.Model.Layers.Select(l => l.ShapeText));
    }

    private static bool RoundTo8Changed(IReadOnlyList<PruningMask> exact, IReadOnlyList<PruningMask> rounded) =>
        exact.Any(m => rounded.Single(r => r.LayerName == m.LayerName).PrunedCount != m.PrunedCount);

    private static double[] FilterNorms(Tensor weight, FilterNorm norm)
    {
        using var scope = NewDisposeScope();
        var rows = weight.detach().to_type(ScalarType.Float64).reshape(weight.shape[0], -1);
        return (norm == FilterNorm.L1 ? rows.abs().sum(1) : rows.square().sum(1).sqrt()).data<double>().ToArray();
    }

    private static void AssertClose(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        var difference = expected.sub(actual).abs().max().item<float>();
        Assert.True(difference <= Tolerance, $"largest difference {difference:E2} (logits up to {expected.abs().max().item<float>():0.0})");
    }

    /// <summary>Masks applied to a network, restored on dispose (last first).</summary>
    private sealed class AppliedMasks : IDisposable
    {
        private readonly List<AppliedPruningMask> _applied;

        public AppliedMasks(ClassifierNetwork network, IEnumerable<PruningMask> masks) => _applied = [.. masks.Select(m => m.ApplyTo(network))];

        public void Dispose()
        {
            for (var i = _applied.Count - 1; i >= 0; i--) _applied[i].Dispose();
        }
    }

    private sealed class NetworkSizeComparer : IEqualityComparer<NetworkSize>
    {
        public bool Equals(NetworkSize? x, NetworkSize? y) =>
            x is not null && y is not null && x.Parameters == y.Parameters && x.MacsPerSample == y.MacsPerSample && x.Nodes.SequenceEqual(y.Nodes);

        public int GetHashCode(NetworkSize obj) => HashCode.Combine(obj.Parameters, obj.MacsPerSample);
    }
}

/// <summary>A thin network trains like any zoo model (fine-tuning after thinning): the trainer seeds the global generator, hence serial.</summary>
[Collection(CompressionLab.Tests.Models.SerialCollection.Name)]
public sealed class ThinnedTrainingTests
{
    [Fact]
    public void AThinNetworkTrainsAndKeepsItsWidths()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 77);
        var plan = PruningPlan.Default(network.Layers, PruningMethod.FilterL1, 0.5).Resolve(network.Layers);
        using var thin = Thinning.Thin(network, Thinning.PlanFilterMasks(network, plan));
        var before = PruningTestModels.Snapshot(thin.Model);
        var settings = TrainingSettings.ForArchitecture(ModelZoo.VggTiny) with { Epochs = 1, BatchSize = 32 };

        var result = Trainer.Train(thin.Model, CompressionLab.Tests.Models.ModelTestData.FashionTrain(96), settings);

        Assert.True(double.IsFinite(result.FinalTrainLoss));
        Assert.NotEqual(before["stage2.conv1.weight"], PruningTestModels.Snapshot(thin.Model)["stage2.conv1.weight"]);
        Assert.Equal([4, 4, 8, 8, 12, 12, 10], thin.Model.Layers.Select(l => (int)l.OutputChannels));
    }
}
