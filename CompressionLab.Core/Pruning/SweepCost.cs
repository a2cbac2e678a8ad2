using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// Multiply-accumulates per image that a sweep costs each way, from the layer table (conv and linear
/// layers only; BN, ReLU and pooling are not counted).
/// </summary>
/// <param name="FullMacs">One full forward pass.</param>
/// <param name="PrunedCells">Cells that need an evaluation: layers × levels above 0 (level 0 is the baseline).</param>
/// <param name="NaiveMacs">Baseline plus a full pass per pruned cell.</param>
/// <param name="CachedMacs">
/// What <see cref="SweepMode.Cached"/> runs: the baseline from the first layer's block input, the
/// chain of block inputs up to the last layer's block (each prefix computed once, then released), and
/// per pruned cell only the suffix from the layer's block.
/// </param>
/// <param name="SuffixMacs">Sum over pruned cells of the suffix alone (no baseline, no prefixes).</param>
public sealed record SweepCost(long FullMacs, int PrunedCells, long NaiveMacs, long CachedMacs, long SuffixMacs)
{
    /// <summary>The speed-up prefix caching can give this sweep: naive MACs over cached MACs.</summary>
    public double FlopRatio => CachedMacs == 0 ? 1 : (double)NaiveMacs / CachedMacs;

    /// <summary>Per-cell ratio alone (full pass per cell over suffix per cell), ignoring baseline and prefixes.</summary>
    public double PerCellFlopRatio => SuffixMacs == 0 ? 1 : (double)FullMacs * PrunedCells / SuffixMacs;

    public static SweepCost Of(ClassifierNetwork network, SweepSettings settings)
    {
        var normalized = settings.Normalize(network);
        var full = network.Layers.Sum(l => l.MacsPerSample);
        var pruneLevels = normalized.Levels.Count(level => level > 0);
        var layers = normalized.Layers!.Select(network.Layer).ToArray();
        long Suffix(LayerInfo layer) => network.Layers.Where(l => l.BlockIndex >= layer.BlockIndex).Sum(l => l.MacsPerSample);
        long Prefix(LayerInfo layer) => full - Suffix(layer);

        var cells = pruneLevels * layers.Length;
        var suffixes = layers.Sum(l => pruneLevels * Suffix(l));
        var naive = full * (1 + (long)cells);
        var cached = Suffix(layers[0]) + Prefix(layers[^1]) + suffixes;
        return new SweepCost(full, cells, naive, cached, suffixes);
    }
}
