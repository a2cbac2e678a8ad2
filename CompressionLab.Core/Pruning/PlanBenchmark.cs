using System.Diagnostics;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>What <see cref="PlanBenchmark"/> measured: the server-side time of one slider move, in milliseconds.</summary>
public sealed record PlanBenchmarkResult(string Architecture, int Layers, int Stages, int Moves, double MedianMs, double P95Ms, double MaxMs, double MeanMs);

/// <summary>
/// Times what one move of a stage slider costs the server: the plan with one stage's rate changed, resolved against the
/// layer table, and predicted (per-layer drops from the curves, parameters, MACs, sparsity and sizes through the layer
/// graph). The curves are synthetic (every layer, element and filter-L1, at the default sweep levels): a prediction's
/// cost does not depend on the accuracies, only on how many layers and points there are.
/// </summary>
public static class PlanBenchmark
{
    private const int WarmUpMoves = 50;

    public static PlanBenchmarkResult Run(ClassifierNetwork network, int moves, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfLessThan(moves, 1);
        var layers = network.Layers;
        var predictor = new PlanPredictor(network.Graph, 0.9, SyntheticCurves(layers));
        var plan = PruningPlan.Default(layers, PruningMethod.Element, 0.5);
        var random = new Random(seed);
        var times = new double[moves];
        for (var move = -WarmUpMoves; move < moves; move++)
        {
            var stage = plan.Stages[(move + WarmUpMoves) % plan.Stages.Count].Name;
            var rate = random.Next(0, 9_500) / 10_000.0; // a slider at 0.0001 resolution
            var clock = Stopwatch.StartNew();
            plan = plan.WithStageRate(stage, rate);
            var prediction = predictor.Predict(plan.Resolve(layers));
            clock.Stop();
            GC.KeepAlive(prediction);
            if (move >= 0) times[move] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return new PlanBenchmarkResult(network.Architecture, layers.Count, plan.Stages.Count, moves,
            Quantile(times, 0.5), Quantile(times, 0.95), times[^1], times.Average());
    }

    /// <summary>Every layer's curve for element and filter-L1 pruning at the default levels, falling with the level squared.</summary>
    public static IReadOnlyList<SensitivityCurve> SyntheticCurves(IReadOnlyList<LayerInfo> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var levels = SweepLevels.Default.Where(l => l > 0).ToArray();
        return [.. layers.SelectMany(layer => new[] { PruningMethod.Element, PruningMethod.FilterL1 }.Select(method =>
            SensitivityCurve.Create(layer.Name, method, 0.9, levels.Select(l => new CurvePoint(l, 0.9 - (0.5 * l * l)))))) ];
    }

    /// <summary>Linear interpolation between the order statistics (NumPy's default quantile).</summary>
    private static double Quantile(double[] sorted, double q)
    {
        var position = q * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }
}
