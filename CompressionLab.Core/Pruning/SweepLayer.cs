using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// What a page or a report needs to know of a swept layer without loading the model: its name, its stage
/// (layers sharing a feature-map size), conv or linear, and its parameter count.
/// </summary>
public sealed record SweepLayer(string Name, string Stage, string Kind, long Parameters)
{
    public static SweepLayer From(LayerInfo layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return new SweepLayer(layer.Name, layer.Stage, layer.Kind == LayerKind.Conv ? "conv" : "linear", layer.Parameters);
    }
}
