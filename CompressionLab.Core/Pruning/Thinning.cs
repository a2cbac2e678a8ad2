using CompressionLab.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>One layer of a thinned network: its output channels before and after, and which of them it kept.</summary>
/// <param name="KeptChannels">The original indices of the channels kept, ascending: channel i of the thin layer is channel KeptChannels[i] of the dense one.</param>
public sealed record ThinnedLayer(string Name, int ChannelsBefore, int ChannelsAfter, IReadOnlyList<int> KeptChannels)
{
    public int RemovedChannels => ChannelsBefore - ChannelsAfter;
}

/// <summary>
/// A physically thinner network built from a model and the filters it removes (<see cref="Thinning.Thin"/>), with the
/// counts before and after. Disposing it disposes <see cref="Model"/>.
/// </summary>
/// <param name="Model">The new network: the same architecture at the kept widths (<see cref="ClassifierNetwork.Widths"/>), in the source's train/eval mode.</param>
/// <param name="Masks">The filter masks it realises (after any rounding): the dense model with these applied computes what <see cref="Model"/> computes.</param>
/// <param name="Layers">Every layer of the table, in order (the output layer keeps all its channels).</param>
/// <param name="Before">Parameters and MACs of the source network, dense (<see cref="NetworkSize.Dense"/>).</param>
/// <param name="After">Parameters and MACs of the thin network, dense.</param>
public sealed record ThinnedNetwork(ClassifierNetwork Model, IReadOnlyList<PruningMask> Masks, IReadOnlyList<ThinnedLayer> Layers, NetworkSize Before, NetworkSize After)
    : IDisposable
{
    /// <summary>The thin network's MACs over the source's: the fraction of the work left.</summary>
    public double MacFraction => (double)After.MacsPerSample / Before.MacsPerSample;

    public void Dispose() => Model.Dispose();
}

/// <summary>
/// A zoo model's silent filters: output channels that are exactly zero after their BatchNorm, as a filter mask
/// (<see cref="PruningMask.ApplyTo"/>) leaves them, and zero filters it cannot remove because their channel is not silent.
/// </summary>
/// <param name="Masks">One filter mask per layer with silent channels (never the output layer).</param>
/// <param name="NotSilent">Per layer, filters that are all zero but whose BatchNorm still turns them into a constant (β − γ·μ/√(σ²+ε) ≠ 0): removing those would change the outputs, so they stay.</param>
public sealed record SilentFilters(IReadOnlyList<PruningMask> Masks, IReadOnlyDictionary<string, int> NotSilent);

/// <summary>
/// Filter pruning made physical: the pruned filters of each layer are cut out of the network — the conv's weight rows
/// and bias, their BatchNorm channels (γ, β, running mean and variance), and the input channels they fed in the next
/// layer (after an NCHW flatten, the H·W features of each) — and the result is the zoo architecture at the kept widths.
/// The thin network computes what the dense one computes with the filter masks applied (a masked channel is exactly 0
/// after its BatchNorm and adds nothing downstream), up to float rounding.
/// </summary>
/// <remarks>
/// <para>Which inputs a channel feeds, and which channels are coupled by an add, come from the <see cref="LayerGraph"/>, the
/// one description of the network's channels that masks and <see cref="NetworkSize"/> use too.</para>
/// <para>Rounding (<c>roundTo</c>): oneDNN's vectorised convolutions work in blocks of 8 channels (16 with AVX-512); a
/// layer of 20 channels runs on the slow path, which the vgg-tiny work measured at half the speed. Rounding each layer's
/// kept count up to a multiple of <c>roundTo</c> gives back the pruned filters with the highest norms (the ones the
/// ranking would have pruned last), so the network is the masked one at a slightly lower level: accuracy can only move
/// as a lower level moves it. A layer never keeps more filters than it had.</para>
/// </remarks>
public static class Thinning
{
    /// <summary>
    /// The filter masks of a resolved plan on <paramref name="network"/>'s current weights (the masks <see cref="PlanMasks"/>
    /// gives, ranked the same way), each layer's kept count rounded up to a multiple of <paramref name="roundTo"/>.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A layer is pruned by element (single weights, which cannot be cut out of a dense layer), or <paramref name="roundTo"/> is below 1.
    /// </exception>
    public static IReadOnlyList<PruningMask> PlanFilterMasks(ClassifierNetwork network, ResolvedPlan plan, int roundTo = 1)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(plan);
        CheckRoundTo(roundTo);
        if (ElementProblem(plan) is { } problem) throw new ArgumentException(problem, nameof(plan));
        var masks = new List<PruningMask>();
        foreach (var layer in plan.Layers.Where(l => !l.Excluded && l.Level > 0))
        {
            var ranking = PruningRanking.For(network, layer.Layer, PruningCriterion.Filter, layer.Method.Norm);
            var mask = ranking.MaskAt(layer.Level);
            // Given back first: the pruned filters the ranking would have pruned last, the highest norms.
            var restoreOrder = ranking.Order.Take(mask.PrunedCount).Reverse();
            masks.Add(RoundKept(mask, restoreOrder, roundTo));
        }
        return masks;
    }

    /// <summary>Why a plan cannot be thinned because it prunes layers by element, or null when it prunes only filters.</summary>
    public static string? ElementProblem(ResolvedPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var elements = plan.Layers.Where(l => !l.Excluded && l.Level > 0 && l.Method.Criterion != PruningCriterion.Filter).ToArray();
        return elements.Length == 0 ? null :
            $"Thinning removes whole filters, but the plan prunes {string.Join(", ", elements.Select(l => $"{l.Layer} at {SweepLevels.Format(l.Level)}"))} by " +
            "element (single weights): zeroed weights inside a filter cannot be cut out of a dense layer. Use a filter plan (filter-l1 or filter-l2).";
    }

    /// <summary>
    /// The silent filters of <paramref name="network"/> (an already filter-pruned model): filters whose weights and bias
    /// are zero and whose channel stays exactly zero through its BatchNorm (γ and β zeroed, as a filter mask leaves them).
    /// The output layer is left whole. With <paramref name="roundTo"/>, silent filters are kept (they are zero either way)
    /// until the count is a multiple of it.
    /// </summary>
    public static SilentFilters FindSilentFilters(ClassifierNetwork network, int roundTo = 1)
    {
        ArgumentNullException.ThrowIfNull(network);
        CheckRoundTo(roundTo);
        var masks = new List<PruningMask>();
        var notSilent = new Dictionary<string, int>();
        using var noGrad = no_grad();
        foreach (var info in network.Layers.Take(network.Layers.Count - 1))
        {
            var layer = PrunableLayer.Of(network, info.Name);
            var filters = (int)info.OutputChannels;
            var zero = RowIsZero(layer.Weight);
            if (layer.Bias is { } bias) zero = zero.Zip(RowIsZero(bias)).Select(z => z.First && z.Second).ToArray();
            var constant = layer.Norm is { } norm ? ConstantOfZeroInput(norm) : new double[filters];
            var silent = Enumerable.Range(0, filters).Where(c => zero[c] && constant[c] == 0).ToArray();
            var loud = Enumerable.Range(0, filters).Count(c => zero[c] && constant[c] != 0);
            if (loud > 0) notSilent[info.Name] = loud;
            if (silent.Length == 0) continue;
            // All of a layer's filters silent: one stays, as a level below 1 always keeps one (the layer still has an output).
            var pruned = silent.Length == filters ? silent[1..] : silent;
            var mask = PruningMask.FromUnits(info.Name, PruningCriterion.Filter, info.WeightShape, pruned);
            masks.Add(RoundKept(mask, Enumerable.Reverse(pruned), roundTo));
        }
        return new SilentFilters([.. masks.Where(m => m.PrunedCount > 0)], notSilent);
    }

    /// <summary>
    /// <paramref name="mask"/> with pruned filters given back, in <paramref name="restoreOrder"/>, until the layer keeps a
    /// multiple of <paramref name="roundTo"/> filters (or all of them).
    /// </summary>
    public static PruningMask RoundKept(PruningMask mask, IEnumerable<int> restoreOrder, int roundTo)
    {
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentNullException.ThrowIfNull(restoreOrder);
        CheckRoundTo(roundTo);
        var kept = mask.UnitCount - mask.PrunedCount;
        var target = Math.Min(mask.UnitCount, RoundUp(kept, roundTo));
        if (target == kept) return mask;
        var restored = restoreOrder.Take(target - kept).ToHashSet();
        if (restored.Count != target - kept || restored.Any(u => !mask.IsPruned(u)))
            throw new ArgumentException($"{mask.LayerName}: the filters to give back must be {target - kept} of its pruned filters.", nameof(restoreOrder));
        return PruningMask.FromUnits(mask.LayerName, mask.Criterion, mask.WeightShape, mask.PrunedUnits.Where(u => !restored.Contains(u)));
    }

    /// <summary>The smallest multiple of <paramref name="multiple"/> that is at least <paramref name="count"/>.</summary>
    public static int RoundUp(int count, int multiple) => (count + multiple - 1) / multiple * multiple;

    /// <summary>
    /// Builds the thin network: <paramref name="network"/>'s architecture at the widths <paramref name="masks"/> leave, with
    /// every kept weight, bias and BatchNorm statistic copied over. <paramref name="network"/> is not changed.
    /// </summary>
    /// <param name="masks">Filter masks, at most one per layer, never of the output layer; layers without one keep every channel.</param>
    /// <exception cref="ArgumentException">An element mask, a mask of the output layer or of an unknown layer, two masks of one layer, a mask that removes every filter, or coupled layers that remove different channels.</exception>
    public static ThinnedNetwork Thin(ClassifierNetwork network, IReadOnlyList<PruningMask> masks)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(masks);
        var graph = network.Graph;
        var output = network.Layers[^1].Name;
        var byLayer = new Dictionary<string, PruningMask>();
        foreach (var mask in masks)
        {
            var info = network.Layer(mask.LayerName);
            if (mask.Criterion != PruningCriterion.Filter)
                throw new ArgumentException($"Thinning removes whole filters; the mask of {mask.LayerName} zeroes single weights, which cannot be cut out of a dense layer.", nameof(masks));
            if (mask.LayerName == output)
                throw new ArgumentException($"{output} is the output layer: its outputs are the class scores, and removing one would remove a class.", nameof(masks));
            if (!mask.WeightShape.SequenceEqual(info.WeightShape))
                throw new ArgumentException($"The mask of {mask.LayerName} is for weight shape [{string.Join(", ", mask.WeightShape)}], the network's is [{string.Join(", ", info.WeightShape)}].", nameof(masks));
            if (mask.PrunedCount >= mask.UnitCount)
                throw new ArgumentException($"The mask of {mask.LayerName} removes all {mask.UnitCount} of its filters; a layer must keep at least one.", nameof(masks));
            if (!byLayer.TryAdd(mask.LayerName, mask))
                throw new ArgumentException($"{mask.LayerName} has two masks; give one per layer.", nameof(masks));
        }

        // Kept channels per coupling group: an add sums channel c of every member, so all members must remove the same ones.
        var kept = new Dictionary<int, long[]>();
        foreach (var group in graph.Groups)
        {
            var channels = group.Layers.Count > 0
                ? graph.Layer(group.Layers[0]).OutputChannels
                : graph.Nodes.First(n => n.Op == GraphOp.Input).Output.Channels; // the image's channels, never removed
            var removed = group.Layers.Select(l => byLayer.TryGetValue(l, out var m) ? m.PrunedUnits.ToHashSet() : []).ToArray();
            if (removed.Any(r => !r.SetEquals(removed[0])))
                throw new ArgumentException($"{string.Join(", ", group.Layers)} add their channels together, so they must remove the same channels.", nameof(masks));
            if (removed.Length > 0 && removed[0].Count > 0 && group.IncludesNetworkInput)
                throw new ArgumentException($"{string.Join(", ", group.Layers)} are added to the network's input, whose channels cannot be removed.", nameof(masks));
            kept[group.Index] = [.. Enumerable.Range(0, (int)channels).Where(c => removed.Length == 0 || !removed[0].Contains(c)).Select(c => (long)c)];
        }

        var widths = network.Layers.Take(network.Layers.Count - 1)
            .ToDictionary(l => l.Name, l => kept[graph.Layer(l.Name).Group.Index].Length);
        var thin = ModelZoo.Create(network.Architecture, network.ClassCount, network.InputHeight, network.InputWidth, widths);
        try
        {
            CopyKept(network, thin, kept);
            if (network.training) thin.train();
            else thin.eval();
            var layers = network.Layers.Select(l =>
            {
                var channels = kept[graph.Layer(l.Name).Group.Index];
                return new ThinnedLayer(l.Name, (int)l.OutputChannels, channels.Length, [.. channels.Select(c => (int)c)]);
            }).ToArray();
            var ordered = network.Layers.Where(l => byLayer.ContainsKey(l.Name)).Select(l => byLayer[l.Name]).ToArray();
            return new ThinnedNetwork(thin, ordered, layers, NetworkSize.Dense(graph), NetworkSize.Dense(thin.Graph));
        }
        catch
        {
            thin.Dispose();
            throw;
        }
    }

    /// <summary>Copies every tensor of the state dict, each conv, linear and BatchNorm tensor reduced to the kept channels.</summary>
    private static void CopyKept(ClassifierNetwork source, ClassifierNetwork thin, Dictionary<int, long[]> kept)
    {
        var graph = source.Graph;
        var from = source.state_dict();
        var to = thin.state_dict();
        if (!from.Keys.ToHashSet().SetEquals(to.Keys))
            throw new InvalidOperationException($"The thin {thin.Architecture} has other tensors than the source ({string.Join(", ", to.Keys.Except(from.Keys).Concat(from.Keys.Except(to.Keys)))}).");
        using var noGrad = no_grad();
        foreach (var (key, target) in to)
        {
            using var scope = NewDisposeScope();
            var dot = key.LastIndexOf('.');
            var (module, name) = (key[..dot], key[(dot + 1)..]);
            var node = graph.Nodes.FirstOrDefault(n => n.Name == module);
            var value = from[key];
            switch (node?.Op)
            {
                case GraphOp.Conv or GraphOp.Linear:
                    var layer = graph.Layer(module);
                    var outputs = Index(kept[layer.Group.Index]);
                    value = value.index_select(0, outputs);
                    if (name == "weight") value = value.index_select(1, Index(InputsFed(kept[layer.Input.Source.Index], layer.Input.InputsPerChannel)));
                    break;
                case GraphOp.BatchNorm when name != "num_batches_tracked":
                    value = value.index_select(0, Index(kept[graph.GroupNormalisedBy(module).Index]));
                    break;
            }
            if (!value.shape.SequenceEqual(target.shape))
                throw new InvalidOperationException($"{key}: the kept values have shape [{string.Join(", ", value.shape)}] but the thin network needs [{string.Join(", ", target.shape)}].");
            target.copy_(value);
        }
    }

    /// <summary>The inputs the kept channels feed: channel c feeds inputs c·n … c·n + n − 1 (n = H·W after a flatten, else 1).</summary>
    private static long[] InputsFed(long[] channels, long inputsPerChannel) =>
        [.. channels.SelectMany(c => Enumerable.Range(0, (int)inputsPerChannel).Select(i => (c * inputsPerChannel) + i))];

    private static Tensor Index(long[] indices) => tensor(indices, ScalarType.Int64);

    private static bool[] RowIsZero(Tensor t)
    {
        using var scope = NewDisposeScope();
        var rows = t.detach().reshape(t.shape[0], -1);
        // An explicit Scalar kept alive across the call: an implicit one may be finalized while libtorch reads it.
        using var zero = 0.ToScalar();
        return rows.ne(zero).any(1).logical_not().data<bool>().ToArray();
    }

    /// <summary>What the BatchNorm makes of a zero input, per channel (in eval mode): β − γ·μ/√(σ² + ε).</summary>
    private static double[] ConstantOfZeroInput(TorchSharp.Modules.BatchNorm norm)
    {
        using var scope = NewDisposeScope();
        var mean = norm.running_mean!.to_type(ScalarType.Float64);
        var scale = (norm.running_var!.to_type(ScalarType.Float64) + norm.eps).sqrt();
        var gamma = norm.weight?.detach().to_type(ScalarType.Float64) ?? ones_like(mean);
        var beta = norm.bias?.detach().to_type(ScalarType.Float64) ?? zeros_like(mean);
        return (beta - (gamma * mean / scale)).data<double>().ToArray();
    }

    private static void CheckRoundTo(int roundTo)
    {
        if (roundTo < 1) throw new ArgumentOutOfRangeException(nameof(roundTo), roundTo, "Channel counts are rounded up to a multiple of a whole number of at least 1 (1: no rounding).");
    }
}
