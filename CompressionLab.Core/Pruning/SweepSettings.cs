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

    /// <summary>
    /// Layer names from the model's layer table; null means every layer the criterion applies to
    /// (<see cref="SweepCandidates.For"/>: all of them for elements, all but the output layer for filters).
    /// </summary>
    public IReadOnlyList<string>? Layers { get; init; }

    /// <summary>
    /// Images per forward pass; the same default as <see cref="Evaluator.DefaultBatchSize"/>. It can change a cell (see
    /// <see cref="SweepCellKey"/>), so it is part of each cell's key.
    /// </summary>
    public int BatchSize { get; init; } = Evaluator.DefaultBatchSize;

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
    /// The layers a sweep with these settings leaves out, with the reason: on a sweep of every layer (<see cref="Layers"/>
    /// null) those the criterion does not apply to (<see cref="SweepCandidates.LeftOut"/>); none when the layers are named.
    /// </summary>
    public IReadOnlyList<LeftOutLayer> LeftOut(ClassifierNetwork network) =>
        Layers is null ? SweepCandidates.LeftOut(network, Criterion) : [];

    /// <summary>
    /// The settings with levels sorted and de-duplicated and layers resolved against the model's
    /// table (table order); throws a message naming the bad level, layer or batch size, or a layer
    /// the criterion does not apply to (the output layer in a filter sweep).
    /// </summary>
    public SweepSettings Normalize(ClassifierNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (BatchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, $"Batch size must be positive, not {BatchSize}.");
        var known = network.Layers.Select(l => l.Name).ToArray();
        IReadOnlyList<string> layers = SweepCandidates.For(network, Criterion);
        if (Layers is not null)
        {
            var unknown = Layers.Where(name => !known.Contains(name)).ToArray();
            if (unknown.Length > 0)
                throw new ArgumentException(
                    $"Model {network.Architecture} has no layer {string.Join(", ", unknown.Select(n => $"'{n}'"))}. Its layers are: {string.Join(", ", known)}.",
                    nameof(Layers));
            if (SweepCandidates.LeftOut(network, Criterion).FirstOrDefault(l => Layers.Contains(l.Layer)) is { } refused)
                throw new ArgumentException(
                    $"Layer '{refused.Layer}' cannot be in a {PruningCriterionText.Name(Criterion)} sweep: {refused.Reason}. Sweep it with the element criterion, or leave it out.",
                    nameof(Layers));
            layers = known.Where(Layers.Contains).ToArray();
        }
        if (layers.Count == 0)
            throw new ArgumentException($"No layers to sweep. Model {network.Architecture} has: {string.Join(", ", known)}.", nameof(Layers));
        return this with { Levels = SweepLevels.Normalize(Levels), Layers = layers };
    }
}

/// <summary>A layer a criterion does not sweep, and why (shown wherever the sweep is described).</summary>
public sealed record LeftOutLayer(string Layer, string Reason);

/// <summary>Which layers of a model a sweep of each criterion covers.</summary>
public static class SweepCandidates
{
    /// <summary>Why filter sweeps leave out the output layer, in words for a page, a log line or a JSON field.</summary>
    public const string OutputLayerReason =
        "it is the output layer, whose neurons are the class scores: removing one removes a class (its zeroed score still competes), " +
        "which measures dropping classes, not compressing the network";

    /// <summary>
    /// The layer whose outputs are the logits: the last of the table (every zoo model and checkpoint ends in
    /// its classifier).
    /// </summary>
    public static LayerInfo OutputLayer(ClassifierNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return network.Layers[^1];
    }

    /// <summary>
    /// Layers the criterion does not sweep: none for elements (a sparse output layer keeps every class); the
    /// output layer for filters.
    /// </summary>
    public static IReadOnlyList<LeftOutLayer> LeftOut(ClassifierNetwork network, PruningCriterion criterion)
    {
        ArgumentNullException.ThrowIfNull(network);
        return criterion == PruningCriterion.Filter ? [new LeftOutLayer(OutputLayer(network).Name, OutputLayerReason)] : [];
    }

    /// <summary>The layers a sweep of this criterion covers by default, in table order.</summary>
    public static IReadOnlyList<string> For(ClassifierNetwork network, PruningCriterion criterion)
    {
        var leftOut = LeftOut(network, criterion).Select(l => l.Layer).ToHashSet();
        return network.Layers.Select(l => l.Name).Where(name => !leftOut.Contains(name)).ToArray();
    }
}

/// <summary>Sparsity levels of a sweep.</summary>
public static class SweepLevels
{
    /// <summary>Levels have at most this many decimals (a resolution of 0.0001), so every level prints exactly as <see cref="Format"/> writes it.</summary>
    public const int MaxDecimals = 4;

    /// <summary>0.00, 0.05, ..., 0.95 (each the double nearest to the decimal, e.g. 0.15 not 0.15000000000000002).</summary>
    public static IReadOnlyList<double> Default { get; } = Enumerable.Range(0, 20).Select(i => i / 20.0).ToArray();

    /// <summary>
    /// Sorted ascending, duplicates dropped, each checked by <see cref="Validate"/>. A level within a relative 1e-12 of a
    /// non-zero four-decimal value is taken as that value first: code that computes levels (0.1 + 0.2 is
    /// 0.30000000000000004) means the decimal, not a finer level.
    /// </summary>
    public static IReadOnlyList<double> Normalize(IEnumerable<double> levels)
    {
        ArgumentNullException.ThrowIfNull(levels);
        var list = levels.Select(Snap).ToList();
        foreach (var level in list) Validate(level);
        if (list.Count == 0) throw new ArgumentException("No sparsity levels given.", nameof(levels));
        return list.Distinct().Order().ToArray();
    }

    /// <summary>
    /// Throws unless <paramref name="level"/> is a number with 0 ≤ level &lt; 1 and at most <see cref="MaxDecimals"/>
    /// decimals, with a message that fits what is wrong with it.
    /// </summary>
    public static void Validate(double level)
    {
        if (double.IsNaN(level))
            throw new ArgumentOutOfRangeException(nameof(level), level, "Sparsity level NaN is not a number.");
        if (level < 0)
            throw new ArgumentOutOfRangeException(nameof(level), level,
                $"Sparsity level {Plain(level)} is outside [0, 1): it is negative, and a level is the fraction of a layer to prune, from 0 (nothing) up to but not including 1.");
        if (level >= 1)
            throw new ArgumentOutOfRangeException(nameof(level), level,
                $"Sparsity level {Plain(level)} is outside [0, 1): a level is the fraction of a layer to prune, and pruning all of it is not a level.");
        // Exact: a level typed with up to four decimals parses to the double nearest to it, which is what rounding gives back.
        if (Math.Round(level, MaxDecimals) != level)
            throw new ArgumentOutOfRangeException(nameof(level), level,
                $"Sparsity level {Plain(level)} is finer than 0.0001: give levels with at most {MaxDecimals} decimals.");
    }

    private static double Snap(double level)
    {
        if (!double.IsFinite(level)) return level;
        // Relative, so a tiny typed level such as 1e-20 is not silently taken as 0 (it is refused instead).
        var decimals = Math.Round(level, MaxDecimals);
        return decimals != 0 && Math.Abs(decimals - level) <= 1e-12 * Math.Abs(decimals) ? decimals : level;
    }

    /// <summary>A level as text: invariant culture, no exponent, at most <see cref="MaxDecimals"/> decimals (0.05, 0.1234, 0).</summary>
    public static string Format(double level) => level.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>A level in percent without a unit sign: 5, 12.34, 95 (exact for every valid level).</summary>
    public static string FormatPercent(double level) => (level * 100).ToString("0.##", CultureInfo.InvariantCulture);

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

    /// <summary>
    /// A bad level as text for a message: without an exponent where a decimal holds it exactly (1E-20 as
    /// 0.00000000000000000001), else the shortest round-trip form (0.30000000000000004, 1E+300).
    /// </summary>
    private static string Plain(double value)
    {
        if (double.IsFinite(value) && Math.Abs(value) < 1e28)
        {
            var exact = (decimal)value;
            if ((double)exact == value) return exact.ToString(CultureInfo.InvariantCulture);
        }
        return value.ToString("R", CultureInfo.InvariantCulture);
    }
}
