using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>One layer of a predicted plan.</summary>
/// <param name="PredictedDrop">
/// Top-1 drop read off the layer's curve for its method (a fraction); 0 for a layer left at level 0; null when
/// the layer is pruned but has no curve for its method (<see cref="HasCurve"/>): not guessed.
/// </param>
/// <param name="BeyondCurve">The level is above the highest level the curve measured: the drop there is the highest level's.</param>
public sealed record LayerPrediction(PlannedLayer Plan, LayerWeights Weights, double? PredictedDrop, bool BeyondCurve)
{
    public string Layer => Plan.Layer;
    public bool HasCurve => PredictedDrop is not null;
}

/// <summary>What a plan is predicted to give, without evaluating it.</summary>
/// <param name="PredictedTop1">
/// Baseline minus the sum of the layers' predicted drops, floored at 0: a prediction, which assumes layers hurt
/// accuracy independently, and which leaves out the layers of <see cref="LayersWithoutCurve"/>.
/// </param>
/// <param name="LayersWithoutCurve">Pruned layers with no sweep curve for their method, in table order.</param>
public sealed record PlanPrediction(
    double BaselineTop1,
    double PredictedDrop,
    double PredictedTop1,
    IReadOnlyList<string> LayersWithoutCurve,
    IReadOnlyList<LayerPrediction> Layers,
    PlanSize Dense,
    PlanSize Pruned)
{
    /// <summary>Every pruned layer has a curve, so the prediction covers the whole plan.</summary>
    public bool IsComplete => LayersWithoutCurve.Count == 0;

    /// <summary>Overall conv and linear weight sparsity.</summary>
    public double Sparsity => Pruned.Sparsity;

    public long Parameters => Pruned.Network.Parameters;
    public long MacsPerSample => Pruned.Network.MacsPerSample;
}

/// <summary>
/// Predicts plans for one model from its sweep curves: per-layer drops interpolated on each layer's curve
/// (<see cref="SensitivityCurve.DropAt"/>) and added, with parameters, MACs, sparsity and sizes counted
/// through the layer graph (<see cref="PlanSize"/>). Built once per model and set of curves; each
/// <see cref="Predict"/> is what one slider move costs (no weights read, no evaluation).
/// </summary>
public sealed class PlanPredictor
{
    private readonly Dictionary<(string Layer, PruningMethod Method), SensitivityCurve> _curves = [];

    /// <param name="baselineTop1">The dense model's top-1 (a fraction) on the images the curves were measured on.</param>
    /// <param name="curves">At most one curve per (layer, method); layers the graph does not have are refused.</param>
    public PlanPredictor(LayerGraph graph, double baselineTop1, IEnumerable<SensitivityCurve> curves)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(curves);
        if (!(baselineTop1 >= 0 && baselineTop1 <= 1))
            throw new ArgumentOutOfRangeException(nameof(baselineTop1), baselineTop1, $"The baseline top-1 is {baselineTop1}; accuracies are fractions from 0 to 1.");
        Graph = graph;
        BaselineTop1 = baselineTop1;
        foreach (var curve in curves)
        {
            graph.Layer(curve.Layer);
            if (!_curves.TryAdd((curve.Layer, curve.Method), curve))
                throw new ArgumentException($"Two {curve.Method.Key} curves for layer {curve.Layer}.", nameof(curves));
        }
        Dense = PlanSize.Dense(graph);
    }

    public LayerGraph Graph { get; }
    public double BaselineTop1 { get; }
    public PlanSize Dense { get; }

    /// <summary>The curve of a layer for a method, or null when it has not been swept that way.</summary>
    public SensitivityCurve? CurveOf(string layer, PruningMethod method) => _curves.GetValueOrDefault((layer, method));

    public PlanPrediction Predict(ResolvedPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var pruned = PlanSize.Of(Graph, plan.Layers);
        var weights = pruned.Layers.ToDictionary(l => l.Layer);
        var layers = new List<LayerPrediction>(plan.Layers.Count);
        var missing = new List<string>();
        var drop = 0.0;
        foreach (var layer in plan.Layers)
        {
            if (!weights.TryGetValue(layer.Layer, out var layerWeights))
                throw new ArgumentException($"The plan's layer {layer.Layer} is not a layer of the model.", nameof(plan));
            double? layerDrop = 0;
            var beyond = false;
            if (!layer.Excluded && layer.Level > 0)
            {
                var curve = CurveOf(layer.Layer, layer.Method);
                layerDrop = curve?.DropAt(layer.Level);
                beyond = curve is not null && !curve.Covers(layer.Level);
                if (curve is null) missing.Add(layer.Layer);
            }
            drop += layerDrop ?? 0;
            layers.Add(new LayerPrediction(layer, layerWeights, layerDrop, beyond));
        }
        return new PlanPrediction(BaselineTop1, drop, Math.Max(0, BaselineTop1 - drop), missing, layers, Dense, pruned);
    }
}
