namespace CompressionLab.Core.Pruning;

/// <summary>
/// Least-squares fit of a non-decreasing sequence by pool-adjacent-violators (PAV; Ayer et al. 1955):
/// values are taken left to right, and whenever a block's mean falls below the mean of the block before
/// it, the two are pooled into one block at their weighted mean. Each value is fitted by its block's mean.
/// </summary>
/// <remarks>
/// Used to make a measured sensitivity curve monotonic before allocation (AIMET's "monotonic fit"):
/// sweep noise can make a layer look less hurt at a higher level than at a lower one, and a greedy
/// search over such a curve would chase the noise. Equal neighbours are not pooled (the fit may stay flat).
/// </remarks>
public static class IsotonicRegression
{
    /// <summary>The non-decreasing sequence nearest to <paramref name="values"/> in (weighted) squared error.</summary>
    /// <param name="weights">Positive weight of each value; all 1 when null.</param>
    public static IReadOnlyList<double> NonDecreasing(IReadOnlyList<double> values, IReadOnlyList<double>? weights = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (weights is not null && weights.Count != values.Count)
            throw new ArgumentException($"{weights.Count} weights for {values.Count} values.", nameof(weights));
        for (var i = 0; i < values.Count; i++)
        {
            if (!double.IsFinite(values[i])) throw new ArgumentException($"Value {i} is {values[i]}, not a finite number.", nameof(values));
            if (weights is not null && !(weights[i] > 0 && double.IsFinite(weights[i])))
                throw new ArgumentException($"Weight {i} is {weights[i]}; weights must be positive.", nameof(weights));
        }

        // Blocks as (weighted sum, total weight, value count); the stack stays non-decreasing in mean.
        var blocks = new List<(double Sum, double Weight, int Count)>();
        for (var i = 0; i < values.Count; i++)
        {
            var w = weights?[i] ?? 1.0;
            var block = (Sum: values[i] * w, Weight: w, Count: 1);
            while (blocks.Count > 0 && blocks[^1].Sum / blocks[^1].Weight > block.Sum / block.Weight)
            {
                var previous = blocks[^1];
                blocks.RemoveAt(blocks.Count - 1);
                block = (previous.Sum + block.Sum, previous.Weight + block.Weight, previous.Count + block.Count);
            }
            blocks.Add(block);
        }

        var fitted = new double[values.Count];
        var at = 0;
        foreach (var (sum, weight, count) in blocks)
        {
            var mean = sum / weight;
            for (var j = 0; j < count; j++) fitted[at++] = mean;
        }
        return fitted;
    }
}
