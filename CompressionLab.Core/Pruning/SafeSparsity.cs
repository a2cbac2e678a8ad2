namespace CompressionLab.Core.Pruning;

/// <summary>One layer's place in the sensitivity ranking.</summary>
/// <param name="SafeSparsity">
/// The largest level up to which every measured level's top-1 drop stays at or under the allowed drop (0 when even the
/// first pruned level exceeds it).
/// </param>
/// <param name="HighestLevel">The highest level measured so far.</param>
/// <param name="DropAtHighest">The top-1 drop at <see cref="HighestLevel"/>, a fraction.</param>
/// <param name="Complete">Every level of the sweep has been measured for this layer.</param>
public sealed record LayerSensitivity(string Layer, string Stage, long Parameters, double SafeSparsity, double HighestLevel, double DropAtHighest, bool Complete);

/// <summary>
/// How far each layer of a sweep can be pruned alone before its top-1 drop passes an allowed drop, and the layers
/// ranked from most to least sensitive: what a pruning plan starts from.
/// </summary>
public static class SafeSparsity
{
    /// <summary>
    /// Drops are differences of two fractions in doubles while the allowed drop is a decimal: a drop within this of the
    /// allowed one is taken as equal to it (0.80 − 0.79 is 0.010000000000000009). Float error is near 1e-16; one image
    /// in a billion is 1e-9, so no real difference is ever absorbed.
    /// </summary>
    public const double Tolerance = 1e-12;

    /// <summary>
    /// Layers from most to least sensitive: smallest safe sparsity first; among equals, the larger drop at the highest
    /// level measured first, then the order of <paramref name="layers"/>. Layers with no pruned level measured yet are
    /// left out; cells of other layers are ignored.
    /// </summary>
    /// <param name="layers">The swept layers, in table order.</param>
    /// <param name="levels">The sweep's levels (level 0 included when it has it), to tell whether a layer is complete.</param>
    /// <param name="cells">Measured cells in any order (at most one per layer and level).</param>
    /// <param name="maxTop1Drop">The allowed top-1 drop as a fraction (0.01 = one percentage point).</param>
    public static IReadOnlyList<LayerSensitivity> Rank(IReadOnlyList<SweepLayer> layers, IReadOnlyList<double> levels, IEnumerable<SweepCell> cells, double maxTop1Drop)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(levels);
        ArgumentNullException.ThrowIfNull(cells);
        if (!(maxTop1Drop >= 0)) throw new ArgumentOutOfRangeException(nameof(maxTop1Drop), maxTop1Drop, "The allowed top-1 drop must be a fraction of 0 or more.");

        var byLayer = cells.GroupBy(c => c.Layer).ToDictionary(g => g.Key, g => g.OrderBy(c => c.Sparsity).ToArray());
        var ranked = new List<(LayerSensitivity Entry, int Order)>();
        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            if (!byLayer.TryGetValue(layer.Name, out var measured) || !measured.Any(c => c.Sparsity > 0)) continue;
            var safe = 0.0;
            foreach (var cell in measured)
            {
                if (cell.Top1Drop > maxTop1Drop + Tolerance) break;
                safe = cell.Sparsity;
            }
            var last = measured[^1];
            ranked.Add((new LayerSensitivity(layer.Name, layer.Stage, layer.Parameters, safe, last.Sparsity, last.Top1Drop,
                measured.Length == levels.Count), i));
        }
        return [.. ranked.OrderBy(r => r.Entry.SafeSparsity).ThenByDescending(r => r.Entry.DropAtHighest).ThenBy(r => r.Order).Select(r => r.Entry)];
    }
}
