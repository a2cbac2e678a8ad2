using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// What a page or a report needs to know of a swept layer without loading the model: its name, its stage
/// (layers sharing a feature-map size), conv or linear, its parameter count, and how many units each
/// criterion prunes from (so "3 of 7 filters" can be told from a level alone).
/// </summary>
/// <param name="Filters">Output filters (conv) or neurons (linear); 0 in records written before it was kept.</param>
/// <param name="Weights">Elements of the weight tensor; 0 in records written before it was kept.</param>
public sealed record SweepLayer(string Name, string Stage, string Kind, long Parameters, int Filters = 0, int Weights = 0)
{
    public static SweepLayer From(LayerInfo layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return new SweepLayer(layer.Name, layer.Stage, layer.Kind == LayerKind.Conv ? "conv" : "linear", layer.Parameters,
            checked((int)layer.OutputChannels), checked((int)layer.WeightShape.Aggregate(1L, (a, b) => a * b)));
    }

    /// <summary>The units a criterion ranks in this layer (filters or single weights); 0 when not known.</summary>
    public int Units(PruningCriterion criterion) => criterion == PruningCriterion.Filter ? Filters : Weights;

    /// <summary>How many units a level prunes (<see cref="PruningRanking.PrunedCount"/>), or null when the unit count is not known.</summary>
    public int? PrunedUnits(double level, PruningCriterion criterion) =>
        Units(criterion) is var units and > 0 ? PruningRanking.PrunedCount(level, units) : null;
}
