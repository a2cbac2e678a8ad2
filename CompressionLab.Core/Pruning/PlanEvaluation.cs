using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>One pruned layer of a plan as the masks get it: the level and the method's key (<c>element</c>, <c>filter-l1</c>, <c>filter-l2</c>).</summary>
public sealed record PlanLevel(string Layer, double Level, string Method);

/// <summary>What a plan's measurement is keyed by: the weights, the images (dataset and subset key) and the plan's content.</summary>
/// <param name="PlanHash"><see cref="PlanContent.Hash"/>: equal for plans that give the same masks, whatever their stages are called.</param>
public sealed record PlanEvaluationKey(string ModelHash, string Dataset, string Subset, string PlanHash);

/// <summary>A plan's measured accuracy on a subset (fractions), and how long the evaluation took.</summary>
public sealed record PlanMeasurement(double Top1, double Top5, double Loss, int Samples, double Seconds);

/// <summary>An evaluated plan as the workspace keeps it.</summary>
/// <param name="Levels">The pruned layers (<see cref="PlanContent.Levels"/>); layers not listed are dense.</param>
/// <param name="Sparsity">Overall conv and linear weight sparsity (<see cref="PlanSize.Sparsity"/>).</param>
/// <param name="JobId">The job that measured it (dashboard), or null (CLI).</param>
public sealed record StoredPlanEvaluation(
    PlanEvaluationKey Key,
    string ModelName,
    string Architecture,
    int SubsetSize,
    IReadOnlyList<PlanLevel> Levels,
    PlanMeasurement Measured,
    double Sparsity,
    long Parameters,
    long MacsPerSample,
    Guid? JobId,
    DateTimeOffset CreatedAt);

/// <summary>What a resolved plan does to the weights, independent of how it is written (stage names, overrides, exclusions).</summary>
public static class PlanContent
{
    /// <summary>The layers a plan prunes (not excluded, level above 0), in table order: a layer at 0 is dense whatever its method.</summary>
    public static IReadOnlyList<PlanLevel> Levels(ResolvedPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return [.. plan.Layers.Where(l => !l.Excluded && l.Level > 0).Select(l => new PlanLevel(l.Layer, l.Level, l.Method.Key))];
    }

    /// <summary>
    /// Lower-case hex SHA-256 of <see cref="Levels"/> as text (one <c>layer method level</c> line each, levels with four
    /// decimals at most, as <see cref="SweepLevels.Format"/>): two plans with the same hash give the same masks.
    /// </summary>
    public static string Hash(ResolvedPlan plan)
    {
        var text = new StringBuilder();
        foreach (var level in Levels(plan))
            text.Append(CultureInfo.InvariantCulture, $"{level.Layer} {level.Method} {SweepLevels.Format(level.Level)}\n");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>
    /// An editable plan that gives <paramref name="levels"/> (a stored evaluation's, an allocation's) on the zoo's stages:
    /// a stage whose pruned-or-dense layers all share one level and method gets it as its rate, other layers of a stage
    /// become overrides; layers not listed are dense. The output layer stays excluded unless a level names it.
    /// </summary>
    /// <exception cref="ArgumentException">A level names a layer the model does not have, or a method that is not one.</exception>
    public static PruningPlan ToPlan(IReadOnlyList<LayerInfo> layers, IEnumerable<PlanLevel> levels)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(levels);
        var byLayer = new Dictionary<string, (double Level, PruningMethod Method)>();
        foreach (var level in levels)
        {
            if (!layers.Any(l => l.Name == level.Layer))
                throw new ArgumentException($"Layer '{level.Layer}' is not a layer of this model. Its layers are: {string.Join(", ", layers.Select(l => l.Name))}.", nameof(levels));
            byLayer[level.Layer] = (level.Level, PruningMethod.Parse(level.Method));
        }
        var plan = PruningPlan.Default(layers, PruningMethod.Element);
        var output = layers[^1].Name;
        foreach (var stage in plan.Stages)
        {
            var free = stage.Layers.Where(l => l != output || byLayer.ContainsKey(l)).ToArray();
            if (free.Length == 0) continue;
            var levelsOf = free.Select(l => byLayer.TryGetValue(l, out var s) ? s.Level : 0).Distinct().Count();
            var methods = free.Where(byLayer.ContainsKey).Select(l => byLayer[l].Method).Distinct().ToArray();
            if (levelsOf == 1 && methods.Length <= 1)
            {
                // One setting for the whole stage: kept as its rate, so that its slider moves the stage as a whole.
                plan = plan.WithStageRate(stage.Name, byLayer.TryGetValue(free[0], out var first) ? first.Level : 0)
                    .WithStageMethod(stage.Name, methods.Length == 1 ? methods[0] : PruningMethod.Element);
                if (free.Contains(output)) plan = plan.Including(output);
                continue;
            }
            foreach (var layer in free.Where(byLayer.ContainsKey))
                plan = plan.WithOverride(layer, byLayer[layer].Level, byLayer[layer].Method);
        }
        return plan;
    }
}
