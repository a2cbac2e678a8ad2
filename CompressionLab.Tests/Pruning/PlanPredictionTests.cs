using System.Diagnostics;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// Sizes and predicted accuracy of plans, worked by hand: a tiny CNN (4 3×3 filters with bias → BN → ReLU →
/// 2×2 pool → flatten 16 → linear 3) and vgg-tiny, whose filter-pruned counts NetworkSizeTests already pins.
/// </summary>
public class PlanPredictionTests
{
    /// <summary>conv1 [4,1,3,3] + bias on 1×4×4 (padded) → bn1 → relu → pool to 2×2 → flatten 16 → fc [3,16] + bias.</summary>
    internal static LayerGraph TinyCnn() => LayerGraph.FromNodes(
    [
        GraphNode.Input("input", new FeatureShape(1, 4, 4)),
        GraphNode.Layer("conv1", GraphOp.Conv, "input", [4, 1, 3, 3], true, new FeatureShape(4, 4, 4)),
        GraphNode.Norm("bn1", "conv1", true, new FeatureShape(4, 4, 4)),
        GraphNode.PassThrough("relu1", "bn1", new FeatureShape(4, 4, 4)),
        GraphNode.PassThrough("pool", "relu1", new FeatureShape(4, 2, 2)),
        GraphNode.Flatten("flatten", "pool", new FeatureShape(16, 1, 1)),
        GraphNode.Layer("fc", GraphOp.Linear, "flatten", [3, 16], true, new FeatureShape(3, 1, 1)),
    ]);

    private static PlannedLayer Layer(string name, double level, PruningMethod method) => new(name, "s", level, method, LevelSource.Stage);

    [Fact]
    public void HalfTheFiltersOfTheConvAndHalfTheRemainingWeightsOfTheClassifier()
    {
        // conv1 keeps 2 filters: 2·9 = 18 weights + 2 biases, MACs 18·16 = 288; bn1 keeps 2 channels: 4.
        // fc reads 16 − 2·(2·2) = 8 inputs: 3·8 = 24 weights, half zeroed (round(12) = 12) → 12, + 3 biases; MACs 12.
        // Parameters 18 + 2 + 4 + 12 + 3 = 39; MACs 300. Weights 36 + 48 = 84, 30 kept: sparsity 54/84.
        var size = PlanSize.Of(TinyCnn(), [Layer("conv1", 0.5, PruningMethod.FilterL1), Layer("fc", 0.5, PruningMethod.Element)]);

        Assert.Equal((39L, 300L), (size.Network.Parameters, size.Network.MacsPerSample));
        Assert.Equal([new LayerWeights("conv1", 36, 2, 9, 18), new LayerWeights("fc", 48, 3, 8, 12)], size.Layers);
        Assert.Equal((84L, 30L), (size.DenseWeights, size.KeptWeights));
        Assert.Equal(54.0 / 84, size.Sparsity, 15);
        Assert.Equal(0.5, size.Layers[0].Sparsity);
        Assert.Equal(0.75, size.Layers[1].Sparsity);

        // Other parameters (biases, γ, β): 39 − 30 = 9, 36 bytes in every format.
        // Dense float32: 4·(18 + 24) + 36 = 204. CSR float32: conv1 8·18 + 4·(2 + 1) = 156, fc 8·12 + 4·(3 + 1) = 112, + 36 = 304.
        // Dense int8: 18 + 4·2 + 24 + 4·3 + 36 = 98. CSR int8: conv1 18 + 4·18 + 12 + 8 = 110, fc 12 + 4·12 + 16 + 12 = 88, + 36 = 234.
        Assert.Equal(new ModelBytes(204, 304, 98, 234), size.Bytes);
    }

    [Fact]
    public void VggTinyWithFiveFiltersOfItsLastConvRemoved()
    {
        // PrunedCount(0.2, 24) = round(4.8) = 5 filters of stage3.conv2: as NetworkSizeTests, 13,566 parameters and 1,557,558 MACs.
        // Rows per layer 8, 8, 16, 16, 24, 19, 10 (Σ 101); weights kept 12,744 − 1,080 + 1,710 = 13,374 of 14,904.
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var size = PlanSize.Of(network.Graph, [Layer("stage3.conv2", 0.2, PruningMethod.FilterL2)]);

        Assert.Equal((13_566L, 1_557_558L), (size.Network.Parameters, size.Network.MacsPerSample));
        Assert.Equal(new LayerWeights("stage3.conv2", 5_184, 19, 216, 4_104), size.Layers[5]);
        Assert.Equal(new LayerWeights("classifier.fc", 2_160, 10, 171, 1_710), size.Layers[6]);
        Assert.Equal(1_530.0 / 14_904, size.Sparsity, 15);
        // Other parameters 13,566 − 13,374 = 192 (768 bytes). Dense float32 4·13,566 = 54,264.
        // CSR float32 8·13,374 + 4·(101 + 7) + 768 = 108,192. Dense int8 13,374 + 4·101 + 768 = 14,546.
        // CSR int8 13,374 + 4·13,374 + 432 + 404 + 768 = 68,474.
        Assert.Equal(new ModelBytes(54_264, 108_192, 14_546, 68_474), size.Bytes);
        Assert.Equal(4 * network.ParameterCount, PlanSize.Dense(network.Graph).Bytes.DenseFloat32);
    }

    [Fact]
    public void ExcludedAndLevelZeroLayersStayDense()
    {
        var excluded = new PlannedLayer("conv1", "s", 0, PruningMethod.FilterL1, LevelSource.Excluded, "why");
        Assert.Equal(PlanSize.Dense(TinyCnn()).Network.Parameters, PlanSize.Of(TinyCnn(), [excluded, Layer("fc", 0, PruningMethod.Element)]).Network.Parameters);
    }

    private static readonly SensitivityCurve Conv1Filters = SensitivityCurve.Create("conv1", PruningMethod.FilterL1, 0.875,
        [new(0.25, 0.859375), new(0.5, 0.8125)]);

    private static readonly SensitivityCurve FcElements = SensitivityCurve.Create("fc", PruningMethod.Element, 0.875,
        [new(0.25, 0.875), new(0.75, 0.75)]);

    [Fact]
    public void PredictedDropsAreInterpolatedPerLayerAndAdded()
    {
        var predictor = new PlanPredictor(TinyCnn(), 0.875, [Conv1Filters, FcElements]);

        // conv1 at 0.5: drop 1/16 measured. fc at 0.5: halfway between 0 (0.25) and 1/8 (0.75) → 1/16. Sum 1/8 → 0.75.
        var prediction = predictor.Predict(new ResolvedPlan([Layer("conv1", 0.5, PruningMethod.FilterL1), Layer("fc", 0.5, PruningMethod.Element)]));

        Assert.Equal((0.125, 0.75), (prediction.PredictedDrop, prediction.PredictedTop1));
        Assert.True(prediction.IsComplete);
        Assert.Equal([0.0625, 0.0625], prediction.Layers.Select(l => l.PredictedDrop!.Value));
        Assert.Equal((39L, 300L), (prediction.Parameters, prediction.MacsPerSample));
        Assert.Equal(54.0 / 84, prediction.Sparsity, 15);
        // Dense: conv1 36 + 4, bn1 8, fc 48 + 3 = 99 parameters; MACs 36·16 + 48 = 624.
        Assert.Equal((99L, 624L), (prediction.Dense.Network.Parameters, prediction.Dense.Network.MacsPerSample));
    }

    [Fact]
    public void ALayerWithoutACurveForItsMethodIsReportedNotGuessed()
    {
        var predictor = new PlanPredictor(TinyCnn(), 0.875, [Conv1Filters, FcElements]);

        // fc by filter has no curve (only an element one); conv1 at 0.75 is beyond its curve's 0.5.
        var prediction = predictor.Predict(new ResolvedPlan([Layer("conv1", 0.75, PruningMethod.FilterL1), Layer("fc", 0.3, PruningMethod.FilterL1)]));

        Assert.Equal(["fc"], prediction.LayersWithoutCurve);
        Assert.False(prediction.IsComplete);
        Assert.Null(prediction.Layers[1].PredictedDrop);
        Assert.True(prediction.Layers[0].BeyondCurve);
        Assert.Equal((0.0625, 0.8125), (prediction.PredictedDrop, prediction.PredictedTop1));

        // A layer at level 0 needs no curve.
        Assert.Empty(predictor.Predict(new ResolvedPlan([Layer("conv1", 0, PruningMethod.FilterL2)])).LayersWithoutCurve);
    }

    [Fact]
    public void CurvesMustBelongToTheModelAndBeOnePerLayerAndMethod()
    {
        var stranger = SensitivityCurve.Create("stage1.conv1", PruningMethod.Element, 0.9, []);
        Assert.Throws<ArgumentException>(() => new PlanPredictor(TinyCnn(), 0.875, [stranger]));
        Assert.Throws<ArgumentException>(() => new PlanPredictor(TinyCnn(), 0.875, [FcElements, FcElements]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PlanPredictor(TinyCnn(), 87.5, []));
    }

    [Fact]
    public void PredictingVggSmallIsFarBelowASliderMovesBudget()
    {
        // The budget is 100 ms per move; the median of 201 moves is expected in tens of microseconds. The 50 ms bound is
        // a sanity check three orders of magnitude above that, so a loaded machine cannot make it flake.
        using var network = ModelZoo.Create(ModelZoo.VggSmall);
        var layers = network.Layers;
        var curves = layers.Select(l => SensitivityCurve.Create(l.Name, PruningMethod.Element, 0.9,
            SweepLevels.Default.Skip(1).Select(level => new CurvePoint(level, 0.9 - (0.5 * level * level))))).ToArray();
        var predictor = new PlanPredictor(network.Graph, 0.9, curves);
        var plan = PruningPlan.Default(layers, PruningMethod.Element);
        var times = new List<double>();
        for (var move = 0; move <= 200; move++)
        {
            var watch = Stopwatch.StartNew();
            var prediction = predictor.Predict(plan.WithStageRate("stage2", move % 20 / 20.0).Resolve(layers));
            times.Add(watch.Elapsed.TotalMilliseconds);
            Assert.True(prediction.IsComplete);
        }
        Assert.True(times.Order().ElementAt(100) < 50, $"Median prediction took {times.Order().ElementAt(100)} ms.");
    }
}
