using System.Globalization;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>How a sweep evaluates its cells. Both give the same numbers; the benchmark compares their speed.</summary>
public enum SweepMode
{
    /// <summary>Prefix caching: each layer's block input is computed once, only the rest of the network runs per level.</summary>
    Cached,

    /// <summary>The plain way: the whole network runs for every cell (same batching, same evaluation code).</summary>
    Naive,
}

/// <summary>What a sensitivity sweep prunes and how it evaluates.</summary>
public sealed record SweepSettings
{
    public PruningCriterion Criterion { get; init; } = PruningCriterion.Element;

    /// <summary>Filter ranking norm; ignored by the element criterion.</summary>
    public FilterNorm Norm { get; init; } = FilterNorm.L1;

    /// <summary>Sparsity levels in [0, 1); sorted and de-duplicated before use (see <see cref="SweepLevels.Normalize"/>).</summary>
    public IReadOnlyList<double> Levels { get; init; } = SweepLevels.Default;

    /// <summary>Layer names from the model's layer table; null means every layer in the table.</summary>
    public IReadOnlyList<string>? Layers { get; init; }

    /// <summary>Images per forward pass. Results do not depend on it (up to float rounding of the loss).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>
    /// Evaluate with each BatchNorm folded into the conv before it (inference only; outputs agree
    /// with the unfolded network to float rounding). When false, masks are applied to the network's
    /// live weights and its own modules run.
    /// </summary>
    public bool FoldBatchNorm { get; init; } = true;

    public SweepMode Mode { get; init; } = SweepMode.Cached;

    /// <summary><c>element</c>, <c>filter-l1</c> or <c>filter-l2</c>.</summary>
    public string CriterionKey => PruningCriterionText.Describe(Criterion, Norm);

    /// <summary>
    /// The settings with levels sorted and de-duplicated and layers resolved against the model's
    /// table (table order); throws a message naming the bad level, layer or batch size.
    /// </summary>
    public SweepSettings Normalize(ClassifierNetwork network)
    {
        if (BatchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, $"Batch size must be positive, not {BatchSize}.");
        var known = network.Layers.Select(l => l.Name).ToArray();
        IReadOnlyList<string> layers = known;
        if (Layers is not null)
        {
            var unknown = Layers.Where(name => !known.Contains(name)).ToArray();
            if (unknown.Length > 0)
                throw new ArgumentException(
                    $"Model {network.Architecture} has no layer {string.Join(", ", unknown.Select(n => $"'{n}'"))}. Its layers are: {string.Join(", ", known)}.",
                    nameof(Layers));
            layers = known.Where(Layers.Contains).ToArray();
            if (layers.Count == 0)
                throw new ArgumentException($"No layers to sweep. Model {network.Architecture} has: {string.Join(", ", known)}.", nameof(Layers));
        }
        return this with { Levels = SweepLevels.Normalize(Levels), Layers = layers };
    }
}

/// <summary>Sparsity levels of a sweep.</summary>
public static class SweepLevels
{
    /// <summary>0.00, 0.05, ..., 0.95 (each the double nearest to the decimal, e.g. 0.15 not 0.15000000000000002).</summary>
    public static IReadOnlyList<double> Default { get; } = Enumerable.Range(0, 20).Select(i => i / 20.0).ToArray();

    /// <summary>Sorted ascending, exact duplicates dropped, each checked to lie in [0, 1).</summary>
    public static IReadOnlyList<double> Normalize(IEnumerable<double> levels)
    {
        var list = levels.ToList();
        foreach (var level in list) Validate(level);
        if (list.Count == 0) throw new ArgumentException("No sparsity levels given.", nameof(levels));
        return list.Distinct().Order().ToArray();
    }

    /// <summary>Throws unless 0 ≤ <paramref name="level"/> &lt; 1, naming the value.</summary>
    public static void Validate(double level)
    {
        if (double.IsNaN(level) || level < 0 || level >= 1)
            throw new ArgumentOutOfRangeException(nameof(level), level,
                $"Sparsity level {level.ToString(CultureInfo.InvariantCulture)} is outside [0, 1): a level is the fraction of a layer to prune, and pruning all of it is not a level.");
    }

    /// <summary>Parses a comma-separated list such as <c>0,0.1,0.5</c> (invariant culture), naming any bad item.</summary>
    public static IReadOnlyList<double> Parse(string text)
    {
        var levels = new List<double>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!double.TryParse(item, NumberStyles.Float, CultureInfo.InvariantCulture, out var level))
                throw new FormatException($"Sparsity level '{item}' is not a number.");
            levels.Add(level);
        }
        return Normalize(levels);
    }
}
