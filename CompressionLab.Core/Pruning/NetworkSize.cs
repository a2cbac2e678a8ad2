using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// How one layer is pruned: output channels (filters or neurons) removed, and then a fraction of the
/// weights that remain zeroed one by one.
/// </summary>
/// <param name="PrunedChannels">Output channels removed (indices below the layer's output count).</param>
/// <param name="ElementSparsity">
/// Fraction of the weights left after channel removal (this layer's and its inputs') that are zeroed, a
/// level as for masks: <see cref="PruningRanking.PrunedCount"/> weights, so the same rounding rule holds.
/// </param>
public sealed record LayerPruning(string Layer, IReadOnlyCollection<int> PrunedChannels, double ElementSparsity = 0)
{
    public static LayerPruning Channels(string layer, params int[] prunedChannels) => new(layer, prunedChannels);

    public static LayerPruning Elements(string layer, double sparsity) => new(layer, [], sparsity);
}

/// <summary>Parameters and multiply-accumulates of one conv, linear or BatchNorm node.</summary>
public sealed record NodeSize(string Name, long Parameters, long MacsPerSample);

/// <summary>
/// What a network keeps after pruning: parameters (non-zero weights, biases, BatchNorm γ and β) and
/// multiply-accumulates per image of its conv and linear layers — the layer table's convention, in
/// which each weight costs one MAC per output pixel (BatchNorm folds into the conv, ReLU and pooling are
/// not counted). A pure function of the <see cref="LayerGraph"/> and the pruning, so a plan can be
/// costed before any weight is touched.
/// </summary>
/// <remarks>
/// Removing output channel c of a layer removes its filter and bias, channel c of the BatchNorm that
/// normalises it, and the inputs that channel feeds in every consumer: input channel c of a conv,
/// input feature c of a linear layer, or features c·H·W … (c+1)·H·W−1 after an NCHW flatten. Channels
/// coupled by an add must be removed from every layer of the group alike. Element sparsity zeroes
/// single weights of what is left; a zeroed weight saves its parameter and its MACs, and a bias stays.
/// </remarks>
public sealed record NetworkSize(long Parameters, long MacsPerSample, IReadOnlyList<NodeSize> Nodes)
{
    public static NetworkSize Dense(LayerGraph graph) => Of(graph, []);

    public static NetworkSize Of(LayerGraph graph, IReadOnlyCollection<LayerPruning> pruning)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(pruning);
        var byLayer = new Dictionary<string, LayerPruning>();
        foreach (var layer in pruning)
        {
            var channels = graph.Layer(layer.Layer);
            if (!byLayer.TryAdd(layer.Layer, layer))
                throw new ArgumentException($"{layer.Layer} is pruned twice; give one LayerPruning per layer.", nameof(pruning));
            foreach (var channel in layer.PrunedChannels)
                if ((ulong)channel >= (ulong)channels.OutputChannels)
                    throw new ArgumentOutOfRangeException(nameof(pruning), $"{layer.Layer}: channel {channel} is outside its {channels.OutputChannels} output channels.");
        }

        var removed = graph.Groups.ToDictionary(g => g.Index, g => RemovedChannels(g, byLayer));
        var nodes = new List<NodeSize>();
        foreach (var node in graph.Nodes)
        {
            switch (node.Op)
            {
                case GraphOp.Conv or GraphOp.Linear:
                    var channels = graph.Layer(node.Name);
                    var outputs = node.WeightShape[0] - removed[channels.Group.Index];
                    var inputs = node.WeightShape[1] - (removed[channels.Input.Source.Index] * channels.Input.InputsPerChannel);
                    var kernel = node.WeightShape.Skip(2).Aggregate(1L, (a, b) => a * b);
                    var weights = outputs * inputs * kernel;
                    var sparsity = byLayer.TryGetValue(node.Name, out var layer) ? layer.ElementSparsity : 0;
                    var kept = weights - (sparsity == 0 ? 0 : PruningRanking.PrunedCount(sparsity, checked((int)weights)));
                    var pixels = node.Output.Height * node.Output.Width;
                    nodes.Add(new NodeSize(node.Name, kept + (node.HasBias ? outputs : 0), kept * pixels));
                    break;
                case GraphOp.BatchNorm:
                    var normalised = node.Output.Channels - removed[graph.GroupNormalisedBy(node.Name).Index];
                    nodes.Add(new NodeSize(node.Name, node.HasBias ? 2 * normalised : 0, 0));
                    break;
            }
        }
        return new NetworkSize(nodes.Sum(n => n.Parameters), nodes.Sum(n => n.MacsPerSample), nodes);
    }

    /// <summary>Channels removed from a coupling group: the same set from every layer of it, or none.</summary>
    private static long RemovedChannels(ChannelGroup group, Dictionary<string, LayerPruning> byLayer)
    {
        var sets = group.Layers.Select(l => byLayer.TryGetValue(l, out var p) ? p.PrunedChannels.ToHashSet() : []).ToArray();
        if (sets.Length == 0) return 0;
        if (sets.Any(s => !s.SetEquals(sets[0])))
            throw new ArgumentException($"{string.Join(", ", group.Layers)} add their channels together, so they must remove the same channels.");
        if (sets[0].Count > 0 && group.IncludesNetworkInput)
            throw new ArgumentException($"{string.Join(", ", group.Layers)} are added to the network's input, whose channels cannot be removed.");
        return sets[0].Count;
    }
}
