using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>One conv or linear layer's weights under a plan.</summary>
/// <param name="DenseWeights">Weights of the unpruned layer.</param>
/// <param name="Rows">Output channels (filters or neurons) left: the rows of the weight as a matrix.</param>
/// <param name="Columns">Inputs × kernel left per row (input channels or features removed by the layer before are gone).</param>
/// <param name="KeptWeights">Non-zero weights left: <see cref="Rows"/> × <see cref="Columns"/> less the element-pruned ones.</param>
public sealed record LayerWeights(string Layer, long DenseWeights, long Rows, long Columns, long KeptWeights)
{
    /// <summary>Fraction of the unpruned layer's weights that are gone (removed with a channel or zeroed).</summary>
    public double Sparsity => 1 - ((double)KeptWeights / DenseWeights);
}

/// <summary>Bytes to store a model's parameters four ways (see <see cref="PlanSize"/> for what each counts).</summary>
public sealed record ModelBytes(long DenseFloat32, long CsrFloat32, long DenseInt8, long CsrInt8);

/// <summary>
/// What a plan leaves of a network: parameters and MACs (<see cref="NetworkSize"/>, through the layer
/// graph, so filter pruning also removes BatchNorm channels and the next layer's inputs), non-zero
/// weights per layer, overall weight sparsity, and storage size. A pure function of the layer graph and
/// the planned levels; no weight is read. Filter levels remove the first k channels of each layer (which
/// channels does not change any count here; the masks pick them by norm).
/// </summary>
/// <remarks>
/// Weight sparsity counts conv and linear weights only (excluded layers as dense): 1 − kept / all.
/// Storage counts the parameters <see cref="NetworkSize"/> counts (weights, biases, BatchNorm γ and β;
/// running statistics are buffers that fold into the conv at inference and are left out):
/// <list type="bullet">
/// <item>dense float32: 4 bytes per parameter of the thinned network, zeroed weights included;</item>
/// <item>CSR float32: each layer's weight as a rows × (inputs·kernel) matrix in compressed sparse rows —
/// 4-byte values and <see cref="IndexBytes"/>-byte column indices per non-zero, plus rows + 1 row pointers of
/// <see cref="IndexBytes"/> bytes — other parameters dense;</item>
/// <item>int8 (dense or CSR): 1 byte per weight value plus one float32 scale per output channel (symmetric
/// per-channel weights, as Distiller's <c>per_channel_wts</c>); biases and BatchNorm stay 4 bytes (an int8
/// kernel accumulates biases in int32).</item>
/// </list>
/// Every layer is counted in CSR in the CSR sizes, even a dense one: the sizes show the format, not a mix.
/// </remarks>
public sealed record PlanSize(NetworkSize Network, IReadOnlyList<LayerWeights> Layers, ModelBytes Bytes)
{
    /// <summary>Width of CSR column indices and row pointers: int32, as PyTorch's <c>to_sparse_csr</c> and SciPy use below 2³¹ non-zeros.</summary>
    public const int IndexBytes = 4;

    public long DenseWeights => Layers.Sum(l => l.DenseWeights);
    public long KeptWeights => Layers.Sum(l => l.KeptWeights);

    /// <summary>Fraction of all conv and linear weights that are gone.</summary>
    public double Sparsity => 1 - ((double)KeptWeights / DenseWeights);

    /// <summary>The unpruned network.</summary>
    public static PlanSize Dense(LayerGraph graph) => Of(graph, []);

    /// <summary>The network under a plan's levels (excluded layers and layers not listed stay dense).</summary>
    public static PlanSize Of(LayerGraph graph, IReadOnlyCollection<PlannedLayer> plan)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(plan);
        var channels = new List<LayerPruning>();
        var elements = new List<LayerPruning>();
        var prunedChannels = new Dictionary<string, int>();
        foreach (var layer in plan.Where(l => !l.Excluded && l.Level > 0))
        {
            if (layer.Method.Criterion == PruningCriterion.Filter)
            {
                var count = PruningRanking.PrunedCount(layer.Level, checked((int)graph.Layer(layer.Layer).OutputChannels));
                prunedChannels[layer.Layer] = count;
                var pruning = LayerPruning.Channels(layer.Layer, [.. Enumerable.Range(0, count)]);
                channels.Add(pruning);
                elements.Add(pruning);
            }
            else
            {
                elements.Add(LayerPruning.Elements(layer.Layer, layer.Level));
            }
        }

        // Counted twice by the one rule: once with channels removed only (the thinned shapes), once with every zero.
        var thinned = NetworkSize.Of(graph, channels);
        var network = channels.Count == elements.Count ? thinned : NetworkSize.Of(graph, elements);
        var layers = new List<LayerWeights>();
        foreach (var info in graph.Layers)
        {
            var node = info.Layer;
            var pixels = node.Output.Height * node.Output.Width;
            // A conv or linear node's MACs are its kept weights times its output pixels (NetworkSize's convention).
            var shaped = thinned.Nodes.Single(n => n.Name == node.Name).MacsPerSample / pixels;
            var kept = network.Nodes.Single(n => n.Name == node.Name).MacsPerSample / pixels;
            var rows = info.OutputChannels - prunedChannels.GetValueOrDefault(node.Name);
            layers.Add(new LayerWeights(node.Name, node.WeightShape.Aggregate(1L, (a, b) => a * b), rows, shaped / rows, kept));
        }
        return new PlanSize(network, layers, BytesOf(network, layers));
    }

    private static ModelBytes BytesOf(NetworkSize network, IReadOnlyList<LayerWeights> layers)
    {
        var others = network.Parameters - layers.Sum(l => l.KeptWeights);
        long denseFloat = 0, csrFloat = 0, denseInt8 = 0, csrInt8 = 0;
        foreach (var layer in layers)
        {
            var shaped = layer.Rows * layer.Columns;
            var indices = (IndexBytes * layer.KeptWeights) + (IndexBytes * (layer.Rows + 1));
            var scales = 4 * layer.Rows;
            denseFloat += 4 * shaped;
            csrFloat += (4 * layer.KeptWeights) + indices;
            denseInt8 += shaped + scales;
            csrInt8 += layer.KeptWeights + indices + scales;
        }
        var otherBytes = 4 * others;
        return new ModelBytes(denseFloat + otherBytes, csrFloat + otherBytes, denseInt8 + otherBytes, csrInt8 + otherBytes);
    }
}
