using System.Collections;
using System.Globalization;
using System.Text.Json;
using CompressionLab.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// A plan's pruning masks held through training (<see cref="ITrainingConstraint"/> for <see cref="Trainer"/>): the masks
/// change only when the <see cref="MaskSchedule"/> says, and between changes every pruned weight (and, for filter masks,
/// the filter's bias and its BatchNorm γ and β) stays exactly 0 after every optimizer step.
/// </summary>
/// <remarks>
/// <para>Why three things and not one. AdamW moves a weight by lr·m̂/(√v̂ + ε) from its moments m and v, not from this
/// step's gradient alone: zeroing a weight leaves the moments it built up while it was alive, and they keep moving it
/// for hundreds of steps (β1 = 0.9, β2 = 0.999). So (1) when a mask changes, the newly pruned positions of the weight
/// <i>and</i> of both moments are zeroed; (2) before every step the gradient is zeroed at pruned positions, so the
/// moments stay 0 there (m = β1·0 + (1 − β1)·0), the update is 0/(0 + ε) = 0 and decoupled weight decay scales 0 to 0;
/// (3) after every step the mask is applied to the weights again, so that nothing the optimizer does (a non-finite
/// value, a future optimizer with another update rule) can leave a pruned weight non-zero.</para>
/// <para>Only <see cref="TorchSharp.Modules.AdamW"/> is supported (what <see cref="Trainer"/> uses): its moments are
/// read from the optimizer's state, parameter by parameter in the model's order.</para>
/// </remarks>
public sealed class MaskedTraining : ITrainingConstraint, IDisposable
{
    private readonly ClassifierNetwork _network;
    private readonly IReadOnlyList<PlannedLayer> _layers;
    private readonly Dictionary<string, int> _parameterIndex;
    private readonly IReadOnlyList<TorchSharp.Modules.Parameter> _parameters;
    private readonly Dictionary<string, LayerMask> _masks = [];

    /// <param name="plan">The plan, resolved against <paramref name="network"/>'s layers.</param>
    /// <param name="parentWeightsHash">The weights the run starts from (part of <see cref="Identity"/>).</param>
    public MaskedTraining(ClassifierNetwork network, ResolvedPlan plan, MaskSchedule schedule, string parentWeightsHash)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentException.ThrowIfNullOrWhiteSpace(parentWeightsHash);
        _network = network ?? throw new ArgumentNullException(nameof(network));
        Schedule = schedule ?? throw new ArgumentNullException(nameof(schedule));
        _layers = [.. plan.Layers.Where(l => !l.Excluded && l.Level > 0)];
        var named = network.named_parameters().ToList();
        _parameters = [.. named.Select(p => p.parameter)];
        _parameterIndex = named.Select((p, i) => (p.name, i)).ToDictionary(p => p.name, p => p.i);
        PlanHash = PlanContent.Hash(plan);
        Identity = string.Create(CultureInfo.InvariantCulture,
            $"the pruning masks of plan {PlanContent.Hash(plan)[..12]} on weights {parentWeightsHash[..Math.Min(12, parentWeightsHash.Length)]}, {Schedule.Describe()}");
    }

    public MaskSchedule Schedule { get; }

    public string PlanHash { get; }

    public string Identity { get; }

    /// <summary>The masks in force, in the plan's table order (a layer is absent until its level is above 0).</summary>
    public IReadOnlyList<PruningMask> Masks => [.. _layers.Where(l => _masks.ContainsKey(l.Layer)).Select(l => _masks[l.Layer].Mask)];

    /// <summary>Each pruned layer's level in force (0 before its first mask).</summary>
    public IReadOnlyDictionary<string, double> Levels => _layers.ToDictionary(l => l.Layer, l => _masks.TryGetValue(l.Layer, out var m) ? m.Level : 0);

    /// <summary>The step of the last mask update; -1 before the first.</summary>
    public long LastUpdate { get; private set; } = -1;

    /// <summary>Mask updates so far; each is published through <see cref="MasksChanged"/> as well.</summary>
    public event Action<MaskUpdate>? MasksChanged;

    public void BeforeBatch(long step, optim.Optimizer optimizer)
    {
        if (!Schedule.UpdatesAt(step)) return;
        Update(step, optimizer);
    }

    public void BeforeOptimizerStep(long step, optim.Optimizer optimizer)
    {
        using var noGrad = no_grad();
        using var zero = ZeroScalar();
        foreach (var mask in _masks.Values)
        {
            foreach (var target in mask.Targets)
            {
                using var grad = _parameters[target.Index].grad;
                grad?.masked_fill_(target.Pruned, zero);
            }
        }
    }

    public void AfterOptimizerStep(long step, optim.Optimizer optimizer) => ApplyToWeights();

    /// <summary>
    /// Sets every layer to its level at <paramref name="step"/>: ranked again by magnitude on the current weights when the
    /// level changed, with the weights and both AdamW moments zeroed at the pruned positions.
    /// </summary>
    public void Update(long step, optim.Optimizer optimizer)
    {
        var moments = Moments(optimizer);
        var changed = new List<PlanLevel>();
        foreach (var layer in _layers)
        {
            var level = Schedule.LevelAt(layer.Level, step);
            var current = _masks.TryGetValue(layer.Layer, out var existing) ? existing.Level : 0;
            if (level <= current) continue;
            var mask = PruningRanking.For(_network, layer.Layer, layer.Method.Criterion, layer.Method.Norm).MaskAt(level);
            existing?.Dispose();
            _masks[layer.Layer] = Build(mask, level);
            changed.Add(new PlanLevel(layer.Layer, level, layer.Method.Key));
        }
        LastUpdate = step;
        if (changed.Count == 0) return;
        ApplyToWeights();
        ZeroMoments(moments);
        MasksChanged?.Invoke(new MaskUpdate(step, changed));
    }

    public JsonElement SaveState()
    {
        var saved = new SavedMasks(LastUpdate, [.. _layers.Where(l => _masks.ContainsKey(l.Layer)).Select(l =>
        {
            var mask = _masks[l.Layer];
            var bits = new BitArray(mask.Mask.UnitCount);
            foreach (var unit in mask.Mask.PrunedUnits) bits[unit] = true;
            var bytes = new byte[(bits.Length + 7) / 8];
            bits.CopyTo(bytes, 0);
            return new SavedMask(l.Layer, PruningCriterionText.Name(mask.Mask.Criterion), mask.Level, [.. mask.Mask.WeightShape], Convert.ToBase64String(bytes));
        })]);
        return JsonSerializer.SerializeToElement(saved);
    }

    public void RestoreState(JsonElement saved, optim.Optimizer optimizer)
    {
        SavedMasks masks;
        try
        {
            masks = saved.Deserialize<SavedMasks>() ?? throw new InvalidDataException("no masks");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"the saved masks are not readable ({e.Message})", e);
        }
        // Everything is checked before the current masks are replaced: a damaged state leaves them as they were.
        var restored = new List<(string Layer, PruningMask Mask, double Level)>();
        foreach (var entry in masks.Layers ?? [])
            restored.Add(Read(entry));
        foreach (var old in _masks.Values) old.Dispose();
        _masks.Clear();
        foreach (var (layer, mask, level) in restored)
            _masks[layer] = Build(mask, level);
        LastUpdate = masks.LastUpdate;
    }

    /// <summary>
    /// One saved mask, checked against the plan and the network: every way it can be damaged (bad base64, an unknown
    /// criterion, a shape or level that does not fit the layer) is an <see cref="InvalidDataException"/> naming the
    /// layer, which <see cref="TrainingState.Restore"/> reports as a damaged state rather than an internal error.
    /// </summary>
    private (string Layer, PruningMask Mask, double Level) Read(SavedMask entry)
    {
        if (entry is null || string.IsNullOrEmpty(entry.Layer)) throw new InvalidDataException("it has a mask without a layer name");
        var layer = _layers.FirstOrDefault(l => l.Layer == entry.Layer)
            ?? throw new InvalidDataException($"it has a mask for {entry.Layer}, which the plan does not prune");
        PruningCriterion criterion;
        try
        {
            criterion = PruningCriterionText.ParseCriterion(entry.Criterion ?? "");
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"the mask of {entry.Layer} has an unknown criterion ({e.Message})", e);
        }
        if (criterion != layer.Method.Criterion) throw new InvalidDataException($"the mask of {entry.Layer} is by {entry.Criterion}, the plan's by {layer.Method.Key}");
        var shape = PrunableLayer.Of(_network, entry.Layer).Weight.shape;
        if (entry.Shape is null || !entry.Shape.SequenceEqual(shape))
            throw new InvalidDataException($"the mask of {entry.Layer} is for a weight of shape [{string.Join(", ", entry.Shape ?? [])}], the layer's is [{string.Join(", ", shape)}]");
        if (!double.IsFinite(entry.Level) || entry.Level < 0 || entry.Level > layer.Level + 1e-9)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"the mask of {entry.Layer} is at level {entry.Level}, outside 0 to the plan's {layer.Level}"));
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(entry.Pruned ?? "");
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"the mask of {entry.Layer} is not readable ({e.Message})", e);
        }
        var bits = new BitArray(bytes);
        var units = criterion == PruningCriterion.Filter ? entry.Shape[0] : entry.Shape.Aggregate(1L, (a, b) => a * b);
        if (bits.Length < units) throw new InvalidDataException($"the mask of {entry.Layer} is shorter than its {units} units");
        var pruned = Enumerable.Range(0, (int)units).Where(i => bits[i]);
        return (entry.Layer, PruningMask.FromUnits(entry.Layer, criterion, entry.Shape, pruned), entry.Level);
    }

    public void Dispose()
    {
        foreach (var mask in _masks.Values) mask.Dispose();
        _masks.Clear();
    }

    private void ApplyToWeights()
    {
        using var noGrad = no_grad();
        using var zero = ZeroScalar();
        foreach (var mask in _masks.Values)
            foreach (var target in mask.Targets)
                _parameters[target.Index].masked_fill_(target.Pruned, zero);
    }

    private void ZeroMoments(IReadOnlyList<TorchSharp.Modules.AdamW.State> moments)
    {
        using var noGrad = no_grad();
        using var zero = ZeroScalar();
        foreach (var mask in _masks.Values)
        {
            foreach (var target in mask.Targets)
            {
                moments[target.Index].exp_avg.masked_fill_(target.Pruned, zero);
                moments[target.Index].exp_avg_sq.masked_fill_(target.Pruned, zero);
                moments[target.Index].max_exp_avg_sq?.masked_fill_(target.Pruned, zero);
            }
        }
    }

    /// <summary>
    /// The fill value as an explicit Scalar the caller keeps alive (using) across the native calls: an implicit
    /// conversion makes a temporary the GC may finalize while libtorch still reads it, which crashed fine-tuning.
    /// </summary>
    private static Scalar ZeroScalar() => 0.0.ToScalar();

    /// <summary>AdamW's per-parameter state, in the model's parameter order (the order the trainer handed them to it).</summary>
    private IReadOnlyList<TorchSharp.Modules.AdamW.State> Moments(optim.Optimizer optimizer)
    {
        if (optimizer is not TorchSharp.Modules.AdamW adam)
            throw new ArgumentException($"Masked training keeps AdamW's moments at zero where weights are pruned; {optimizer.GetType().Name} is not supported.", nameof(optimizer));
        var states = adam.state_dict().State.Cast<TorchSharp.Modules.AdamW.State>().ToList();
        if (states.Count != _parameters.Count)
            throw new ArgumentException($"The optimizer holds {states.Count} parameters but {_network.Architecture} has {_parameters.Count}.", nameof(optimizer));
        return states;
    }

    /// <summary>The tensors a mask zeroes, each with its pruned positions as a bool tensor of its shape (kept outside any dispose scope).</summary>
    private LayerMask Build(PruningMask mask, double level)
    {
        var layer = PrunableLayer.Of(_network, mask.LayerName);
        var targets = new List<MaskTarget>();
        try
        {
            if (mask.Criterion == PruningCriterion.Element)
            {
                targets.Add(new MaskTarget(IndexOf($"{layer.Channels.Name}.weight"), mask.PrunedWeights().DetachFromDisposeScope()));
            }
            else
            {
                foreach (var (name, tensor) in layer.FilterTargets())
                {
                    Tensor pruned;
                    using (var rows = mask.UnitMask())
                    {
                        var view = Enumerable.Repeat(1L, (int)tensor.dim()).ToArray();
                        view[0] = mask.UnitCount;
                        pruned = rows.view(view).expand(tensor.shape).contiguous().DetachFromDisposeScope();
                    }
                    targets.Add(new MaskTarget(IndexOf(name), pruned));
                }
            }
        }
        catch
        {
            foreach (var target in targets) target.Pruned.Dispose();
            throw;
        }
        return new LayerMask(mask, level, targets);
    }

    private int IndexOf(string parameter) => _parameterIndex.TryGetValue(parameter, out var index)
        ? index
        : throw new InvalidOperationException($"{parameter} is not a parameter of {_network.Architecture} (its parameters: {string.Join(", ", _parameterIndex.Keys)}).");

    private sealed record MaskTarget(int Index, Tensor Pruned);

    private sealed record LayerMask(PruningMask Mask, double Level, IReadOnlyList<MaskTarget> Targets) : IDisposable
    {
        public void Dispose()
        {
            foreach (var target in Targets) target.Pruned.Dispose();
        }
    }

    private sealed record SavedMask(string Layer, string Criterion, double Level, long[] Shape, string Pruned);

    private sealed record SavedMasks(long LastUpdate, IReadOnlyList<SavedMask> Layers);
}

/// <summary>One change of the masks during a masked training: the step before which it happened and the layers' new levels.</summary>
public sealed record MaskUpdate(long Step, IReadOnlyList<PlanLevel> Levels);
