namespace CompressionLab.Core.Pruning;

/// <summary>What a pruning step removes from one layer.</summary>
public enum PruningCriterion
{
    /// <summary>Single weights, smallest |w| first (Distiller's "level" pruning, Han et al. 2015).</summary>
    Element,

    /// <summary>Whole output filters of a conv (or output neurons of a linear layer), smallest norm first.</summary>
    Filter,
}

/// <summary>How filters are ranked. L1 gives the same order as Distiller's mean-|w| ranking (L1 / element count).</summary>
public enum FilterNorm
{
    L1,
    L2,
}

/// <summary>The words the CLI, the workspace keys and the exports use for criteria and norms.</summary>
public static class PruningCriterionText
{
    public static string Name(PruningCriterion criterion) => criterion switch
    {
        PruningCriterion.Element => "element",
        PruningCriterion.Filter => "filter",
        _ => throw new ArgumentOutOfRangeException(nameof(criterion), criterion, null),
    };

    public static string Name(FilterNorm norm) => norm switch
    {
        FilterNorm.L1 => "l1",
        FilterNorm.L2 => "l2",
        _ => throw new ArgumentOutOfRangeException(nameof(norm), norm, null),
    };

    /// <summary><c>element</c>, <c>filter-l1</c> or <c>filter-l2</c>: the norm only matters for filters.</summary>
    public static string Describe(PruningCriterion criterion, FilterNorm norm) =>
        criterion == PruningCriterion.Filter ? $"filter-{Name(norm)}" : Name(criterion);

    public static PruningCriterion ParseCriterion(string text) => text.Trim().ToLowerInvariant() switch
    {
        "element" => PruningCriterion.Element,
        "filter" => PruningCriterion.Filter,
        _ => throw new ArgumentException($"Unknown pruning criterion '{text}'. Use element or filter."),
    };

    public static FilterNorm ParseNorm(string text) => text.Trim().ToLowerInvariant() switch
    {
        "l1" => FilterNorm.L1,
        "l2" => FilterNorm.L2,
        _ => throw new ArgumentException($"Unknown filter norm '{text}'. Use l1 or l2."),
    };
}
