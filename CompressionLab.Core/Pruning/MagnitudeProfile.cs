using System.Collections.Immutable;
using System.Globalization;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// One layer's setting seen as a level and as a magnitude threshold at once.
/// </summary>
/// <param name="Threshold">Units whose score (|w| for elements, the filter norm for filters) is strictly below it are pruned by the threshold rule.</param>
/// <param name="BelowThreshold">How many units that rule prunes.</param>
/// <param name="Level">The level (at most four decimals) whose mask is nearest to the threshold's.</param>
/// <param name="PrunedAtLevel">Units the mask at <paramref name="Level"/> prunes (<see cref="PruningRanking.PrunedCount"/>).</param>
/// <param name="StdMultiple">For Distiller's form, s in threshold = s·std(w); null otherwise.</param>
public sealed record MagnitudeSetting(string Layer, double Threshold, int BelowThreshold, double Level, int PrunedAtLevel, int UnitCount, double? StdMultiple = null)
{
    /// <summary>The fraction of units below the threshold.</summary>
    public double ThresholdSparsity => (double)BelowThreshold / UnitCount;

    /// <summary>The fraction of units the level's mask prunes.</summary>
    public double LevelSparsity => (double)PrunedAtLevel / UnitCount;

    /// <summary>The threshold and the level prune the same units (see <see cref="MagnitudeProfile"/> for when they cannot).</summary>
    public bool Agree => BelowThreshold == PrunedAtLevel;
}

/// <summary>
/// The scores of one layer's units in ascending order, so that a level, a magnitude threshold and
/// Distiller's <c>threshold = s·std(w)</c> convert into each other in O(log n): what the plan shows beside
/// a level as it changes. Scores are the ranking's (<see cref="PruningRanking"/>): |w| for elements, L1 or
/// L2 norms for filters.
/// </summary>
/// <remarks>
/// The threshold of a level is the score of the first unit its mask keeps, so "prune every unit below
/// t" removes exactly the mask's units, unless units with that same score straddle the cut (the mask
/// breaks ties by index, a threshold cannot): <see cref="MagnitudeSetting.Agree"/> is then false and
/// both counts are shown. The level of a threshold is the four-decimal level nearest to the fraction
/// below it; a layer of more than 10,000 units can have counts no four-decimal level gives (0.0001 of
/// 82,944 weights is 8.3 of them), and the two counts then differ by the few units the resolution misses.
/// Distiller's pruners keep |w| &gt; t (prune |w| ≤ t); ours prune |w| &lt; t, which differs only for
/// weights exactly at t.
/// </remarks>
public sealed class MagnitudeProfile
{
    private readonly ImmutableArray<double> _sorted;

    private MagnitudeProfile(string layer, PruningMethod method, ImmutableArray<double> sorted, double? weightStd)
    {
        if (sorted.Length == 0) throw new ArgumentException($"Layer {layer} has no units to prune.");
        Layer = layer;
        Method = method;
        _sorted = sorted;
        WeightStd = weightStd;
    }

    public string Layer { get; }
    public PruningMethod Method { get; }
    public int UnitCount => _sorted.Length;

    /// <summary>Unit scores, smallest first.</summary>
    public IReadOnlyList<double> SortedScores => _sorted;

    /// <summary>Standard deviation of the weights (with Bessel's correction, as <c>torch.std</c>), for element profiles; null for filters.</summary>
    public double? WeightStd { get; }

    /// <summary>The profile of a ranking's scores; pass the weights' std to allow Distiller's form.</summary>
    public static MagnitudeProfile Of(PruningRanking ranking, double? weightStd = null)
    {
        ArgumentNullException.ThrowIfNull(ranking);
        var method = new PruningMethod(ranking.Criterion, ranking.Norm);
        return new MagnitudeProfile(ranking.LayerName, method, [.. ranking.Order.Select(u => ranking.Scores[u])], weightStd);
    }

    /// <summary>An element profile straight from a layer's weights (|w| sorted, and their std).</summary>
    public static MagnitudeProfile OfWeights(string layer, IReadOnlyList<float> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var scores = weights.Select(w => Math.Abs((double)w)).Order().ToImmutableArray();
        return new MagnitudeProfile(layer, PruningMethod.Element, scores, StandardDeviation(weights));
    }

    /// <summary>The profile of a network's layer by a method, from its current weights.</summary>
    public static MagnitudeProfile For(ClassifierNetwork network, string layer, PruningMethod method)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (method.Criterion == PruningCriterion.Filter) return Of(PruningRanking.For(network, layer, method.Criterion, method.Norm));
        using var scope = NewDisposeScope();
        var weight = network.LayerWeight(layer);
        return OfWeights(layer, weight.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray());
    }

    /// <summary>The threshold that prunes what the mask at <paramref name="level"/> prunes: the score of the first unit kept.</summary>
    public MagnitudeSetting AtLevel(double level)
    {
        var pruned = PruningRanking.PrunedCount(level, UnitCount);
        var threshold = _sorted[pruned];
        return new MagnitudeSetting(Layer, threshold, CountBelow(threshold), level, pruned, UnitCount);
    }

    /// <summary>What pruning every unit whose score is below <paramref name="threshold"/> gives, and the nearest level.</summary>
    public MagnitudeSetting AtThreshold(double threshold)
    {
        if (!double.IsFinite(threshold))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, $"Layer {Layer}: a magnitude threshold must be a finite number, not {threshold.ToString(CultureInfo.InvariantCulture)}.");
        var below = CountBelow(threshold);
        var level = NearestLevel(below, UnitCount);
        return new MagnitudeSetting(Layer, threshold, below, level, PruningRanking.PrunedCount(level, UnitCount), UnitCount);
    }

    /// <summary>Distiller's sensitivity form for element pruning: threshold = <paramref name="multiple"/> · std(w).</summary>
    public MagnitudeSetting AtStdMultiple(double multiple)
    {
        if (WeightStd is not { } std)
            throw new InvalidOperationException($"Layer {Layer}: threshold = s·std(w) is Distiller's form for element pruning; this profile ranks by {Method.Key}.");
        if (!(multiple >= 0 && double.IsFinite(multiple)))
            throw new ArgumentOutOfRangeException(nameof(multiple), multiple, $"Layer {Layer}: s in threshold = s·std(w) must be a number ≥ 0, not {multiple.ToString(CultureInfo.InvariantCulture)}.");
        return AtThreshold(multiple * std) with { StdMultiple = multiple };
    }

    /// <summary>
    /// The four-decimal level nearest to <paramref name="pruned"/> / <paramref name="unitCount"/> (half away
    /// from zero, in decimal as <see cref="PruningRanking.PrunedCount"/>), at most 0.9999: every unit is not a level.
    /// </summary>
    public static double NearestLevel(int pruned, int unitCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(unitCount);
        ArgumentOutOfRangeException.ThrowIfNegative(pruned);
        var level = Math.Round((decimal)pruned / unitCount, SweepLevels.MaxDecimals, MidpointRounding.AwayFromZero);
        return (double)Math.Min(level, 0.9999m);
    }

    /// <summary>Scores strictly below <paramref name="threshold"/> (binary search for the first score ≥ it).</summary>
    private int CountBelow(double threshold)
    {
        int low = 0, high = _sorted.Length;
        while (low < high)
        {
            var mid = (low + high) >>> 1;
            if (_sorted[mid] < threshold) low = mid + 1;
            else high = mid;
        }
        return low;
    }

    private static double StandardDeviation(IReadOnlyList<float> weights)
    {
        if (weights.Count < 2) return 0;
        var mean = weights.Sum(w => (double)w) / weights.Count;
        var squares = weights.Sum(w => ((double)w - mean) * ((double)w - mean));
        return Math.Sqrt(squares / (weights.Count - 1));
    }
}
