using System.Collections.Immutable;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>What an operation does to the channels flowing through it, as far as pruning is concerned.</summary>
public enum GraphOp
{
    /// <summary>The network's input image; its channels can never be pruned.</summary>
    Input,

    /// <summary>A prunable conv: makes new output channels from all its input channels.</summary>
    Conv,

    /// <summary>A prunable linear layer: makes new outputs (neurons) from all its input features.</summary>
    Linear,

    /// <summary>Normalises each channel on its own (γ, β and running statistics per channel).</summary>
    BatchNorm,

    /// <summary>Keeps channel c as channel c (ReLU, max-pool, dropout): channels pass through.</summary>
    PassThrough,

    /// <summary>NCHW flatten: channel c becomes the features c·H·W … (c+1)·H·W−1.</summary>
    Flatten,

    /// <summary>Element-wise sum of its inputs (a residual add): channel c of every input lands in channel c.</summary>
    Add,
}

/// <summary>The shape of one image's activation: channels × height × width (height = width = 1 for a feature vector).</summary>
public readonly record struct FeatureShape(long Channels, long Height, long Width)
{
    public long Elements => Channels * Height * Width;

    public override string ToString() => $"{Channels}×{Height}×{Width}";
}

/// <summary>
/// One operation of a network as the layer graph sees it: what it does to channels, which nodes feed
/// it, and the shape of its output for one image.
/// </summary>
/// <param name="Name">Qualified module name (e.g. <c>stage1.bn1</c>); <c>input</c> for the network's input.</param>
/// <param name="Inputs">Names of the nodes it reads, all earlier in the graph (two or more only for <see cref="GraphOp.Add"/>).</param>
/// <param name="WeightShape">[out, in, kh, kw] for a conv, [out, in] for a linear layer; empty otherwise.</param>
/// <param name="HasBias">A conv or linear layer with a bias; a BatchNorm with learnable γ and β.</param>
public sealed record GraphNode(string Name, GraphOp Op, IReadOnlyList<string> Inputs, FeatureShape Output, IReadOnlyList<long> WeightShape, bool HasBias)
{
    public bool IsLayer => Op is GraphOp.Conv or GraphOp.Linear;

    public static GraphNode Input(string name, FeatureShape shape) => new(name, GraphOp.Input, [], shape, [], false);

    public static GraphNode Layer(string name, GraphOp op, string input, IReadOnlyList<long> weightShape, bool hasBias, FeatureShape output) =>
        op is GraphOp.Conv or GraphOp.Linear
            ? new(name, op, [input], output, weightShape, hasBias)
            : throw new ArgumentException($"{name}: a layer is a conv or a linear layer, not {op}.", nameof(op));

    public static GraphNode Norm(string name, string input, bool affine, FeatureShape output) => new(name, GraphOp.BatchNorm, [input], output, [], affine);

    public static GraphNode PassThrough(string name, string input, FeatureShape output) => new(name, GraphOp.PassThrough, [input], output, [], false);

    public static GraphNode Flatten(string name, string input, FeatureShape output) => new(name, GraphOp.Flatten, [input], output, [], false);

    public static GraphNode Add(string name, IReadOnlyList<string> inputs, FeatureShape output) => new(name, GraphOp.Add, inputs, output, [], false);
}

/// <summary>
/// A layer that reads a prunable layer's output channels. Channel c reaches its inputs
/// c·<see cref="InputsPerChannel"/> … (c+1)·<see cref="InputsPerChannel"/>−1: input channel c of a conv
/// or of a linear layer on a feature vector (1 each), or the H·W features of channel c after an NCHW flatten.
/// </summary>
public sealed record ChannelConsumer(string Layer, long InputsPerChannel)
{
    /// <summary>The consumer's first input index fed by <paramref name="channel"/>, and how many follow it.</summary>
    public (long First, long Count) InputsOf(int channel) => (channel * InputsPerChannel, InputsPerChannel);
}

/// <summary>
/// Producers (prunable layers, or the network input) whose output channels are coupled: a residual add
/// sums channel c of each into one channel c, so channel c can only be removed from all of them at once.
/// In a plain chain every layer is a group of its own.
/// </summary>
/// <param name="Layers">The prunable layers of the group, in network order.</param>
/// <param name="IncludesNetworkInput">The input image's channels are in the group, so none of them can be removed.</param>
/// <param name="SharedNorms">BatchNorms applied after the add, which normalise the coupled channels of all members together.</param>
public sealed record ChannelGroup(int Index, IReadOnlyList<string> Layers, bool IncludesNetworkInput, IReadOnlyList<string> SharedNorms)
{
    public bool CanPrune => !IncludesNetworkInput;
}

/// <summary>Where a prunable layer's inputs come from: the channels of one group, each feeding <see cref="InputsPerChannel"/> inputs.</summary>
public sealed record ChannelFeed(ChannelGroup Source, long InputsPerChannel);

/// <summary>How one prunable layer's output channels are tied to the rest of the network.</summary>
/// <param name="Norm">The BatchNorm that normalises this layer's channels and no other's (reached through pass-through ops only), or null.</param>
/// <param name="NormFollowsDirectly">The norm is the only reader of the layer's output, so it can be folded into the layer.</param>
/// <param name="Consumers">Layers that read these channels, in network order (through flattens and adds too).</param>
/// <param name="Group">The channel-coupling group the layer's outputs belong to.</param>
/// <param name="Input">The group whose channels this layer reads (the network input for the first layer).</param>
public sealed record LayerChannels(GraphNode Layer, string? Norm, bool NormFollowsDirectly, IReadOnlyList<ChannelConsumer> Consumers, ChannelGroup Group, ChannelFeed Input)
{
    public string Name => Layer.Name;
    public long OutputChannels => Layer.WeightShape[0];
}

/// <summary>
/// The network as channels see it: for every prunable layer, the BatchNorm that normalises its output
/// channels, the layers that consume them (and through a flatten, which input features), and which
/// layers' channels are coupled. Derived from the modules the network really runs, in order; the one
/// source for masking a filter's BatchNorm, counting what pruning leaves, thinning and BatchNorm folding.
/// </summary>
/// <remarks>
/// Channels are followed forwards: a conv or linear layer starts new channels, BatchNorm and
/// pass-through ops keep them, a flatten multiplies the inputs each channel feeds by H·W, and an add
/// merges the channel sets of its inputs into one coupling group. An operation the graph does not
/// know is refused rather than guessed at.
/// </remarks>
public sealed class LayerGraph
{
    private readonly Dictionary<string, GraphNode> _nodes;
    private readonly Dictionary<string, LayerChannels> _layers;
    private readonly Dictionary<string, ChannelGroup> _normGroups;

    private LayerGraph(IReadOnlyList<GraphNode> nodes, Dictionary<string, LayerChannels> layers, IReadOnlyList<ChannelGroup> groups, Dictionary<string, ChannelGroup> normGroups)
    {
        Nodes = nodes;
        _nodes = nodes.ToDictionary(n => n.Name);
        _layers = layers;
        Groups = groups;
        _normGroups = normGroups;
        Layers = nodes.Where(n => n.IsLayer).Select(n => layers[n.Name]).ToArray();
    }

    /// <summary>All nodes in execution order (every node after the nodes it reads).</summary>
    public IReadOnlyList<GraphNode> Nodes { get; }

    /// <summary>The prunable layers in network order.</summary>
    public IReadOnlyList<LayerChannels> Layers { get; }

    public IReadOnlyList<ChannelGroup> Groups { get; }

    public GraphNode Node(string name) =>
        _nodes.TryGetValue(name, out var node) ? node : throw new ArgumentException($"The layer graph has no node '{name}'.");

    public LayerChannels Layer(string name) =>
        _layers.TryGetValue(name, out var layer)
            ? layer
            : throw new ArgumentException($"The layer graph has no prunable layer '{name}'. Its layers are: {string.Join(", ", Layers.Select(l => l.Name))}.");

    /// <summary>The coupling group whose channels a BatchNorm normalises.</summary>
    public ChannelGroup GroupNormalisedBy(string norm) =>
        _normGroups.TryGetValue(norm, out var group) ? group : throw new ArgumentException($"The layer graph has no BatchNorm '{norm}'.");

    /// <summary>Follows the modules a zoo network runs, block by block, with shapes from one real forward pass.</summary>
    public static LayerGraph Of(ClassifierNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var nodes = new List<GraphNode> { GraphNode.Input(InputName, new FeatureShape(1, network.InputHeight, network.InputWidth)) };
        var wasTraining = network.training;
        network.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var x = zeros(1, 1, network.InputHeight, network.InputWidth);
            foreach (var (name, module) in network.Blocks.SelectMany(b => b.Modules))
            {
                var input = nodes[^1];
                x = SingleChannelConv.ForwardModule(module, x); // as the forward pass runs it (TorchRuntime.ChannelsLastConvolutionsOnly)
                nodes.Add(NodeOf(name, module, input, ShapeOf(name, x)));
            }
        }
        finally
        {
            if (wasTraining) network.train();
        }
        var graph = FromNodes(nodes);
        var tableLayers = network.Layers.Select(l => l.Name);
        if (!graph.Layers.Select(l => l.Name).SequenceEqual(tableLayers))
            throw new NotSupportedException($"{network.Architecture}: every conv and linear module must be a layer of the layer table (graph: {string.Join(", ", graph.Layers.Select(l => l.Name))}; table: {string.Join(", ", tableLayers)}).");
        return graph;
    }

    /// <summary>The name of the input node of a graph built by <see cref="Of"/>.</summary>
    public const string InputName = "input";

    /// <summary>Builds a graph from nodes listed in execution order (for networks that are not a chain of blocks).</summary>
    public static LayerGraph FromNodes(IEnumerable<GraphNode> nodeList)
    {
        var nodes = nodeList.ToArray();
        var seen = new Dictionary<string, GraphNode>();
        var flows = new Dictionary<string, ChannelFlow>();
        var coupling = new ChannelCoupling();
        var consumers = new Dictionary<string, List<ChannelConsumer>>();
        var feeds = new Dictionary<string, ChannelFlow>();
        var norms = new Dictionary<string, (string Norm, bool Direct)>();
        var normFlows = new Dictionary<string, ChannelFlow>();

        foreach (var node in nodes)
        {
            if (seen.ContainsKey(node.Name)) throw new ArgumentException($"The layer graph has two nodes named '{node.Name}'.");
            var inputs = node.Inputs.Select(i => seen.TryGetValue(i, out var n)
                ? n
                : throw new ArgumentException($"{node.Name} reads '{i}', which is not an earlier node of the graph.")).ToArray();
            if (node.Op == GraphOp.Add ? inputs.Length < 2 : inputs.Length != (node.Op == GraphOp.Input ? 0 : 1))
                throw new ArgumentException($"{node.Name}: a {node.Op} node cannot read {inputs.Length} input(s).");
            var flow = inputs.Length == 0 ? null : flows[inputs[0].Name];

            switch (node.Op)
            {
                case GraphOp.Input:
                    flows[node.Name] = ChannelFlow.StartedBy(node.Name);
                    coupling.Add(node.Name);
                    break;
                case GraphOp.Conv or GraphOp.Linear:
                    CheckLayer(node, inputs[0], flow!);
                    foreach (var producer in flow!.Producers)
                        if (consumers.TryGetValue(producer, out var list)) list.Add(new ChannelConsumer(node.Name, flow.InputsPerChannel));
                    feeds[node.Name] = flow;
                    consumers[node.Name] = [];
                    flows[node.Name] = ChannelFlow.StartedBy(node.Name);
                    coupling.Add(node.Name);
                    break;
                case GraphOp.BatchNorm:
                    if (flow!.InputsPerChannel != 1)
                        throw new NotSupportedException($"{node.Name}: a BatchNorm over flattened features is not described by the layer graph.");
                    if (node.Output != inputs[0].Output)
                        throw new ArgumentException($"{node.Name}: a BatchNorm keeps its input's shape {inputs[0].Output}, not {node.Output}.");
                    if (flow.Producers.Length == 1 && consumers.ContainsKey(flow.Producers[0]))
                    {
                        var layer = flow.Producers[0];
                        if (norms.TryGetValue(layer, out var first))
                            throw new NotSupportedException($"{layer} is normalised twice ({first.Norm}, then {node.Name}); the layer graph describes one BatchNorm per layer.");
                        norms[layer] = (node.Name, inputs[0].Name == layer);
                    }
                    normFlows[node.Name] = flow;
                    flows[node.Name] = flow;
                    break;
                case GraphOp.PassThrough:
                    if (node.Output.Channels != inputs[0].Output.Channels)
                        throw new ArgumentException($"{node.Name}: a pass-through op keeps {inputs[0].Output.Channels} channels, not {node.Output.Channels}.");
                    flows[node.Name] = flow!;
                    break;
                case GraphOp.Flatten:
                    var from = inputs[0].Output;
                    if (node.Output != new FeatureShape(from.Elements, 1, 1))
                        throw new NotSupportedException($"{node.Name}: only a flatten of C×H×W into C·H·W features (NCHW order) is described, not {from} into {node.Output}.");
                    flows[node.Name] = flow! with { InputsPerChannel = flow.InputsPerChannel * from.Height * from.Width };
                    break;
                case GraphOp.Add:
                    var addFlows = inputs.Select(i => flows[i.Name]).ToArray();
                    if (inputs.Any(i => i.Output != node.Output) || addFlows.Any(f => f.InputsPerChannel != flow!.InputsPerChannel))
                        throw new ArgumentException($"{node.Name}: an add needs inputs of one shape ({string.Join(", ", inputs.Select(i => $"{i.Name} {i.Output}"))}; output {node.Output}).");
                    var producers = addFlows.SelectMany(f => f.Producers).Distinct().ToArray();
                    foreach (var producer in producers) coupling.Join(producers[0], producer);
                    flows[node.Name] = new ChannelFlow([.. producers.OrderBy(p => Array.FindIndex(nodes, n => n.Name == p))], flow!.InputsPerChannel);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(nodeList), node.Op, $"{node.Name}: unknown op.");
            }
            seen[node.Name] = node;
        }

        // Groups are numbered by their first producer in network order.
        var inputNames = nodes.Where(n => n.Op == GraphOp.Input).Select(n => n.Name).ToHashSet();
        var groupOf = new Dictionary<string, ChannelGroup>();
        var groups = new List<ChannelGroup>();
        foreach (var producer in nodes.Where(n => n.Op == GraphOp.Input || n.IsLayer).Select(n => n.Name))
        {
            var root = coupling.Root(producer);
            if (groupOf.ContainsKey(root)) continue;
            var members = nodes.Where(n => (n.Op == GraphOp.Input || n.IsLayer) && coupling.Root(n.Name) == root).Select(n => n.Name).ToArray();
            var shared = normFlows.Where(f => f.Value.Producers.Length > 1 || !consumers.ContainsKey(f.Value.Producers[0]))
                .Where(f => coupling.Root(f.Value.Producers[0]) == root).Select(f => f.Key).ToArray();
            var group = new ChannelGroup(groups.Count, [.. members.Where(m => !inputNames.Contains(m))], members.Any(inputNames.Contains), shared);
            groups.Add(group);
            groupOf[root] = group;
        }
        ChannelGroup GroupOf(string producer) => groupOf[coupling.Root(producer)];

        var layers = new Dictionary<string, LayerChannels>();
        foreach (var node in nodes.Where(n => n.IsLayer))
        {
            var norm = norms.TryGetValue(node.Name, out var n) ? n : default;
            // Folding needs the norm to be the only reader of the layer's output, else another reader would see the folded values.
            var foldable = norm.Direct && nodes.Count(r => r.Inputs.Contains(node.Name)) == 1;
            var feed = feeds[node.Name];
            layers[node.Name] = new LayerChannels(node, norm.Norm, foldable, consumers[node.Name], GroupOf(node.Name), new ChannelFeed(GroupOf(feed.Producers[0]), feed.InputsPerChannel));
        }
        var normGroups = normFlows.ToDictionary(f => f.Key, f => GroupOf(f.Value.Producers[0]));
        return new LayerGraph(nodes, layers, groups, normGroups);
    }

    private static void CheckLayer(GraphNode layer, GraphNode input, ChannelFlow flow)
    {
        var shape = layer.WeightShape;
        if (layer.Op == GraphOp.Conv && (shape.Count != 4 || flow.InputsPerChannel != 1 || shape[1] != input.Output.Channels))
            throw new ArgumentException($"{layer.Name}: a conv with weight [{string.Join(", ", shape)}] cannot read {input.Name}'s {input.Output} channels.");
        if (layer.Op == GraphOp.Linear && (shape.Count != 2 || input.Output.Height != 1 || input.Output.Width != 1 || shape[1] != input.Output.Channels))
            throw new ArgumentException($"{layer.Name}: a linear layer with weight [{string.Join(", ", shape)}] cannot read {input.Name}'s {input.Output} features.");
        if (layer.Output.Channels != shape[0])
            throw new ArgumentException($"{layer.Name}: {shape[0]} filters cannot give {layer.Output.Channels} output channels.");
    }

    private static GraphNode NodeOf(string name, nn.Module<Tensor, Tensor> module, GraphNode input, FeatureShape output) => module switch
    {
        TorchSharp.Modules.Conv2d conv when conv.groups == 1 => GraphNode.Layer(name, GraphOp.Conv, input.Name, conv.weight!.shape, conv.bias is not null, output),
        TorchSharp.Modules.Conv2d => throw new NotSupportedException($"{name}: grouped convs are not described by the layer graph."),
        TorchSharp.Modules.Linear linear => GraphNode.Layer(name, GraphOp.Linear, input.Name, linear.weight!.shape, linear.bias is not null, output),
        TorchSharp.Modules.BatchNorm norm => GraphNode.Norm(name, input.Name, norm.weight is not null, output),
        TorchSharp.Modules.ReLU or TorchSharp.Modules.MaxPool2d or TorchSharp.Modules.AvgPool2d
            or TorchSharp.Modules.Dropout or TorchSharp.Modules.Dropout1d or TorchSharp.Modules.Dropout2d => GraphNode.PassThrough(name, input.Name, output),
        TorchSharp.Modules.Flatten => GraphNode.Flatten(name, input.Name, output),
        _ => throw new NotSupportedException($"{name}: the layer graph does not know what a {module.GetType().Name} does to channels."),
    };

    private static FeatureShape ShapeOf(string name, Tensor x) => x.dim() switch
    {
        2 => new FeatureShape(x.shape[1], 1, 1),
        4 => new FeatureShape(x.shape[1], x.shape[2], x.shape[3]),
        _ => throw new NotSupportedException($"{name}: an output of shape [{string.Join(", ", x.shape)}] is neither N×C×H×W nor N×F."),
    };

    /// <summary>The producers whose channels flow along one edge, and how many inputs each channel feeds there.</summary>
    private sealed record ChannelFlow(ImmutableArray<string> Producers, long InputsPerChannel)
    {
        public static ChannelFlow StartedBy(string producer) => new([producer], 1);
    }

    /// <summary>Union-find over producers: an add joins the groups of its inputs.</summary>
    private sealed class ChannelCoupling
    {
        private readonly Dictionary<string, string> _parent = [];

        public void Add(string producer) => _parent[producer] = producer;

        public string Root(string producer)
        {
            var root = producer;
            while (_parent[root] != root) root = _parent[root];
            return root;
        }

        public void Join(string a, string b)
        {
            var (rootA, rootB) = (Root(a), Root(b));
            if (rootA != rootB) _parent[rootB] = rootA;
        }
    }
}
