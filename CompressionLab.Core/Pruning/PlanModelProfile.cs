using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// What a plan editor needs of one model, read once so that every later change of the plan is arithmetic on plain
/// data: the layer table and graph (counts, <see cref="PlanPredictor"/>), the weights hash (sweep cells, plan files)
/// and each layer's <see cref="MagnitudeProfile"/> per method (level ↔ threshold ↔ s·std without the weights).
/// </summary>
/// <param name="Model">Architecture, weights hash and name, as a plan file states its model.</param>
/// <param name="Profiles">One per (layer, method) for element, filter-l1 and filter-l2.</param>
public sealed record PlanModelProfile(
    PlanModel Model,
    IReadOnlyList<LayerInfo> Layers,
    LayerGraph Graph,
    IReadOnlyDictionary<(string Layer, PruningMethod Method), MagnitudeProfile> Profiles)
{
    /// <summary>The three methods a plan can use, in the order a front end lists them.</summary>
    public static IReadOnlyList<PruningMethod> Methods { get; } = [PruningMethod.Element, PruningMethod.FilterL1, PruningMethod.FilterL2];

    public MagnitudeProfile? ProfileOf(string layer, PruningMethod method) => Profiles.GetValueOrDefault((layer, method));

    /// <summary>The profile of a loaded network: its table, graph and the scores of every layer by every method.</summary>
    public static PlanModelProfile Of(ClassifierNetwork network, string weightsHash, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentException.ThrowIfNullOrWhiteSpace(weightsHash);
        var profiles = new Dictionary<(string, PruningMethod), MagnitudeProfile>();
        foreach (var layer in network.Layers)
            foreach (var method in Methods)
                profiles[(layer.Name, method)] = MagnitudeProfile.For(network, layer.Name, method);
        return new PlanModelProfile(new PlanModel(network.Architecture, weightsHash, name), network.Layers, network.Graph, profiles);
    }

    /// <summary>Loads a checkpoint, reads its profile and lets the weights go (a few hundred milliseconds for vgg-small).</summary>
    public static PlanModelProfile Load(ResolvedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var checkpoint = Checkpoint.Load(model.CheckpointPath);
        return Of(checkpoint.Model, checkpoint.Metadata.ContentHash, model.DisplayName);
    }
}
