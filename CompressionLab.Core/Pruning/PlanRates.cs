using System.Globalization;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>One <c>name=level</c> of a rates list: a stage's rate, or a layer's own level.</summary>
public sealed record PlanRate(string Name, double Level);

/// <summary>
/// Rates typed as text, <c>stage1=0.5,stage2=0.7,stage3.conv2=0.3</c>: a stage name sets that stage's rate, a layer
/// name overrides that layer's level (by its stage's method). The CLI's <c>--rates</c>; a page's fields give the same edits.
/// </summary>
public static class PlanRates
{
    /// <summary>Parses the list; each item is <c>name=level</c> with a level in [0, 1) of at most four decimals.</summary>
    /// <exception cref="ArgumentException">An item is malformed, repeats a name, or has a bad level (named in the message).</exception>
    public static IReadOnlyList<PlanRate> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var rates = new List<PlanRate>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0)
                throw new ArgumentException($"'{item}' is not name=level (e.g. stage1=0.5 or stage3.conv2=0.3).");
            if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var level))
                throw new ArgumentException($"'{item}': the level '{parts[1]}' is not a number.");
            if (PruningPlan.LevelProblem($"'{item}': the level", level) is { } problem) throw new ArgumentException(problem);
            if (rates.Any(r => r.Name == parts[0])) throw new ArgumentException($"'{parts[0]}' is given twice.");
            rates.Add(new PlanRate(parts[0], level));
        }
        if (rates.Count == 0) throw new ArgumentException("No rates given; write them as stage1=0.5,stage2=0.7,stage3.conv2=0.3.");
        return rates;
    }

    /// <summary>The plan with each rate applied: stage names set stage rates, layer names become overrides.</summary>
    /// <exception cref="ArgumentException">A name is neither a stage of the plan nor a layer of the model (both lists named).</exception>
    public static PruningPlan ApplyTo(PruningPlan plan, IReadOnlyList<LayerInfo> layers, IEnumerable<PlanRate> rates)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(rates);
        foreach (var rate in rates)
        {
            if (plan.Stages.Any(s => s.Name == rate.Name)) plan = plan.WithStageRate(rate.Name, rate.Level);
            else if (layers.Any(l => l.Name == rate.Name)) plan = plan.WithOverride(rate.Name, rate.Level);
            else
                throw new ArgumentException(
                    $"'{rate.Name}' is neither a stage ({string.Join(", ", plan.Stages.Select(s => s.Name))}) nor a layer ({string.Join(", ", layers.Select(l => l.Name))}).");
        }
        return plan;
    }
}
