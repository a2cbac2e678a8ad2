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

    /// <summary>
    /// The same naive-over-cached ratio with each block weighted by what it really costs (e.g. its measured
    /// seconds) instead of its MACs. MACs undercount the blocks that run below the machine's matrix-multiply
    /// speed (wide feature maps with few channels, pooling, activations), so caching can beat the FLOP ratio;
    /// weighted by measured time the ratio is what caching can give on this machine.
    /// </summary>
    /// <param name="blockCost">Cost of each of the network's blocks, in any unit.</param>
    public static double CostRatio(ClassifierNetwork network, SweepSettings settings, IReadOnlyList<double> blockCost)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(blockCost);
        if (blockCost.Count != network.Blocks.Count)
            throw new ArgumentException($"{network.Architecture} has {network.Blocks.Count} blocks but {blockCost.Count} block costs were given.", nameof(blockCost));
        if (blockCost.Any(c => !(c >= 0) || double.IsInfinity(c)))
            throw new ArgumentException("Block costs must be finite and not negative.", nameof(blockCost));
        var normalized = settings.Normalize(network);
        var pruneLevels = normalized.Levels.Count(level => level > 0);
        var blocks = normalized.Layers!.Select(name => network.Layer(name).BlockIndex).ToArray();
        var full = blockCost.Sum();
        double Suffix(int block) => blockCost.Skip(block).Sum();

        var naive = full * (1 + (pruneLevels * blocks.Length));
        var cached = Suffix(blocks[0]) + (full - Suffix(blocks[^1])) + blocks.Sum(b => pruneLevels * Suffix(b));
        return cached == 0 ? 1 : naive / cached;
    }

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
