using System.Globalization;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>What an allocation must reach.</summary>
public enum AllocationGoal
{
    /// <summary>At least this overall conv and linear weight sparsity (a fraction).</summary>
    Sparsity,

    /// <summary>At most this many parameters (<see cref="NetworkSize.Parameters"/>).</summary>
    Parameters,

    /// <summary>At most this many multiply-accumulates per image.</summary>
    Macs,

    /// <summary>At most this predicted top-1 drop (a fraction), read off the fitted curves and added.</summary>
    MaxDrop,
}

/// <summary>A goal and its value; build it with the factory methods, which check the value.</summary>
public sealed record AllocationTarget
{
    private AllocationTarget(AllocationGoal goal, double value)
    {
        Goal = goal;
        Value = value;
    }

    public AllocationGoal Goal { get; }
    public double Value { get; }

    public static AllocationTarget Sparsity(double overall)
    {
        if (PruningPlan.LevelProblem("A target sparsity", overall) is { } problem) throw new ArgumentOutOfRangeException(nameof(overall), overall, problem);
        return new(AllocationGoal.Sparsity, overall);
    }

    public static AllocationTarget ParameterBudget(long parameters)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(parameters);
        return new(AllocationGoal.Parameters, parameters);
    }

    public static AllocationTarget MacBudget(long macsPerSample)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(macsPerSample);
        return new(AllocationGoal.Macs, macsPerSample);
    }

    public static AllocationTarget MaxDrop(double drop)
    {
        SensitivityCurve.CheckTolerance(drop);
        return new(AllocationGoal.MaxDrop, drop);
    }

    /// <summary>A budget to reach by pruning more (sparsity, parameters, MACs), rather than a drop not to exceed.</summary>
    public bool IsBudget => Goal != AllocationGoal.MaxDrop;

    public override string ToString() => Goal switch
    {
        AllocationGoal.Sparsity => $"sparsity ≥ {SweepLevels.Format(Value)}",
        AllocationGoal.Parameters => $"parameters ≤ {Value.ToString("0", CultureInfo.InvariantCulture)}",
        AllocationGoal.Macs => $"MACs ≤ {Value.ToString("0", CultureInfo.InvariantCulture)}",
        _ => $"predicted drop ≤ {Value.ToString("R", CultureInfo.InvariantCulture)}",
    };
}

public enum AllocationStrategy
{
    /// <summary>AIMET's greedy per-layer selection: one tolerated drop for every layer, searched until the target is met.</summary>
    IsoAccuracy,

    /// <summary>One level for every layer: the baseline an allocation has to beat.</summary>
    Uniform,
}

/// <summary>One allocated layer: its level and its drop on the monotone fit of its curve (a fraction).</summary>
public sealed record AllocatedLayer(string Layer, double Level, double FittedDrop);

/// <summary>A proposed set of per-layer levels.</summary>
/// <param name="Met">The target is reached; when false the levels are the most the curves allow (budgets) and the target is out of reach.</param>
/// <param name="Plan">The input plan with every allocated layer (and every layer without a curve, at 0) as an override; exclusions kept.</param>
/// <param name="Layers">The allocated layers (not excluded, with a curve for their method), in table order.</param>
/// <param name="FittedDrop">Sum of the layers' fitted drops: the allocator's own prediction (<see cref="PlanPredictor"/> gives the plan's, on the measured curves).</param>
/// <param name="LayersWithoutCurve">Layers the plan prunes by a method they have no curve for: held at 0, not guessed.</param>
/// <param name="CommonDrop">The iso-accuracy level: each allocated layer's largest level whose fitted drop is within it (but see the allocator's remarks); null for uniform.</param>
/// <param name="UniformLevel">The one level of a uniform allocation; null for iso-accuracy.</param>
public sealed record Allocation(
    AllocationStrategy Strategy,
    AllocationTarget Target,
    bool Met,
    ResolvedPlan Plan,
    IReadOnlyList<AllocatedLayer> Layers,
    double FittedDrop,
    PlanSize Size,
    IReadOnlyList<string> LayersWithoutCurve,
    double? CommonDrop,
    double? UniformLevel)
{
    /// <summary>The target's quantity as reached: sparsity, parameters, MACs or fitted drop.</summary>
    public double Achieved => Target.Goal switch
    {
        AllocationGoal.Sparsity => Size.Sparsity,
        AllocationGoal.Parameters => Size.Network.Parameters,
        AllocationGoal.Macs => Size.Network.MacsPerSample,
        _ => FittedDrop,
    };

    /// <summary>The allocation as overrides of an editable plan (what "accept" does), exclusions untouched.</summary>
    public PruningPlan ApplyTo(PruningPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        foreach (var layer in Plan.Layers.Where(l => !l.Excluded)) plan = plan.WithOverride(layer.Layer, layer.Level, layer.Method);
        return plan;
    }
}

/// <summary>
/// Proposes per-layer levels for a target from the layers' sensitivity curves: AIMET's greedy iso-accuracy
/// selection on a monotonic fit of each curve, and the uniform allocation as the baseline.
/// </summary>
/// <remarks>
/// <para>Iso-accuracy (AIMET's greedy compression-ratio selection, FORMATS.md): every curve is made monotonic
/// (<see cref="SensitivityCurve.MonotoneFit"/>); for a common tolerated drop δ each layer takes its largest
/// swept level whose fitted drop is ≤ δ, so layers that hurt little are pruned more. AIMET binary-searches δ
/// over accuracy; here δ is searched over the finite set of fitted drops (a layer's choice only changes there),
/// so the search is exact: the smallest δ that meets a budget, or the largest whose summed drop stays within
/// a maximum drop.</para>
/// <para>A step of δ can move several layers at once (all levels with a fitted drop of exactly 0 move
/// together) and overshoot the target by whole sweep steps. So the last step is taken one layer and one swept
/// level at a time, layers in table order, and the layer that crosses the target is set to the level on the
/// 0.0001 grid between its two swept levels that just meets it (its fitted drop interpolated): the target is
/// met to the resolution of a level, not of the sweep.</para>
/// <para>Uniform: one level for all allocated layers on the 0.0001 grid, the smallest that meets a budget or the
/// largest whose summed fitted drop is within a maximum drop (not above the lowest highest-swept level, where
/// curves stop).</para>
/// <para>Both allocate the same layers: those the plan does not exclude and that have a curve for their
/// method. Layers without a curve are held at 0 and listed.</para>
/// </remarks>
public sealed class PlanAllocator
{
    private const int GridSteps = 10_000;
    private const double DropSlack = 1e-12;
    private readonly Dictionary<(string Layer, PruningMethod Method), FittedCurve> _fits = [];

    public PlanAllocator(LayerGraph graph, IEnumerable<SensitivityCurve> curves)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(curves);
        Graph = graph;
        foreach (var curve in curves)
        {
            graph.Layer(curve.Layer);
            if (!_fits.TryAdd((curve.Layer, curve.Method), new FittedCurve(curve.MonotoneFit())))
                throw new ArgumentException($"Two {curve.Method.Key} curves for layer {curve.Layer}.", nameof(curves));
        }
    }

    public LayerGraph Graph { get; }

    /// <summary>The monotone fit the allocator uses for a layer and method, or null.</summary>
    public SensitivityCurve? FitOf(string layer, PruningMethod method) => _fits.GetValueOrDefault((layer, method))?.Curve;

    public Allocation IsoAccuracy(ResolvedPlan plan, AllocationTarget target)
    {
        var search = new Search(this, plan, target);
        var fits = search.Free;
        var deltas = fits.SelectMany(f => f.Drops).Distinct().Order().ToArray();
        double[] LevelsAt(double delta) => [.. fits.Select(f => f.LargestLevelWithin(delta))];

        double[] levels;
        int at;
        if (target.IsBudget)
        {
            if (search.Meets(new double[fits.Count]))
                return search.Result(AllocationStrategy.IsoAccuracy, new double[fits.Count], met: true, 0, null);
            if (!search.Meets(LevelsAt(deltas[^1])))
                return search.Result(AllocationStrategy.IsoAccuracy, LevelsAt(deltas[^1]), met: false, deltas[^1], null);
            at = FirstTrue(0, deltas.Length - 1, i => search.Meets(LevelsAt(deltas[i])));
            levels = at == 0 ? new double[fits.Count] : LevelsAt(deltas[at - 1]);
        }
        else
        {
            at = LastTrue(0, deltas.Length - 1, i => search.Meets(LevelsAt(deltas[i])));
            levels = LevelsAt(deltas[at]);
            if (at == deltas.Length - 1) return search.Result(AllocationStrategy.IsoAccuracy, levels, met: true, deltas[at], null);
            at++;
        }
        search.StepTowards(levels, LevelsAt(deltas[at]));
        return search.Result(AllocationStrategy.IsoAccuracy, levels, met: search.Meets(levels), deltas[at], null);
    }

    public Allocation Uniform(ResolvedPlan plan, AllocationTarget target)
    {
        var search = new Search(this, plan, target);
        double[] LevelsAt(int step) => [.. search.Free.Select(_ => GridLevel(step))];
        if (target.IsBudget)
        {
            if (!search.Meets(LevelsAt(GridSteps - 1)))
                return search.Result(AllocationStrategy.Uniform, LevelsAt(GridSteps - 1), met: false, null, GridLevel(GridSteps - 1));
            var step = FirstTrue(0, GridSteps - 1, s => search.Meets(LevelsAt(s)));
            return search.Result(AllocationStrategy.Uniform, LevelsAt(step), met: true, null, GridLevel(step));
        }
        var highest = GridStep(search.Free.Min(f => f.Curve.HighestLevel));
        var within = LastTrue(0, highest, s => search.Meets(LevelsAt(s)));
        return search.Result(AllocationStrategy.Uniform, LevelsAt(within), met: true, null, GridLevel(within));
    }

    private static double GridLevel(int step) => (double)((decimal)step / GridSteps);

    private static int GridStep(double level) => (int)Math.Round(level * GridSteps);

    /// <summary>The smallest i in [low, high] where <paramref name="test"/> holds, given it holds at high and stays true upwards.</summary>
    private static int FirstTrue(int low, int high, Func<int, bool> test)
    {
        while (low < high)
        {
            var mid = (low + high) >>> 1;
            if (test(mid)) high = mid;
            else low = mid + 1;
        }
        return low;
    }

    /// <summary>The largest i in [low, high] where <paramref name="test"/> holds, given it holds at low and stays false upwards once false.</summary>
    private static int LastTrue(int low, int high, Func<int, bool> test)
    {
        while (low < high)
        {
            var mid = (low + high + 1) >>> 1;
            if (test(mid)) low = mid;
            else high = mid - 1;
        }
        return low;
    }

    /// <summary>A monotone curve with its levels and drops as arrays, read many times per search.</summary>
    private sealed class FittedCurve(SensitivityCurve curve)
    {
        public SensitivityCurve Curve { get; } = curve;
        public double[] Levels { get; } = [.. curve.Points.Select(p => p.Level)];
        public double[] Drops { get; } = [.. curve.Drops];

        public double LargestLevelWithin(double delta)
        {
            var level = 0.0;
            for (var i = 0; i < Levels.Length && Drops[i] <= delta; i++) level = Levels[i];
            return level;
        }

        public double NextLevel(double level) => Levels.First(l => l > level);
    }

    /// <summary>One allocation: the layers it may move, and how a set of their levels is costed against the target.</summary>
    private sealed class Search
    {
        private readonly ResolvedPlan _plan;
        private readonly AllocationTarget _target;
        private readonly LayerGraph _graph;
        private readonly int[] _freeIndex;
        private readonly List<string> _missing = [];
        private readonly long _allowedKept;

        public Search(PlanAllocator allocator, ResolvedPlan plan, AllocationTarget target)
        {
            ArgumentNullException.ThrowIfNull(plan);
            ArgumentNullException.ThrowIfNull(target);
            _target = target;
            _graph = allocator.Graph;
            var free = new List<FittedCurve>();
            var freeIndex = new List<int>();
            var layers = plan.Layers.ToArray();
            for (var i = 0; i < layers.Length; i++)
            {
                var layer = layers[i];
                if (layer.Excluded) continue;
                if (allocator._fits.TryGetValue((layer.Layer, layer.Method), out var fit))
                {
                    free.Add(fit);
                    freeIndex.Add(i);
                }
                else
                {
                    _missing.Add(layer.Layer);
                }
                layers[i] = layer with { Level = 0, Source = LevelSource.Override };
            }
            if (free.Count == 0)
                throw new ArgumentException(
                    $"No layer can be allocated: every layer is excluded or has no curve for its method ({string.Join(", ", _missing.DefaultIfEmpty("none"))}). Sweep them first.", nameof(plan));
            _plan = new ResolvedPlan(layers);
            Free = free;
            _freeIndex = [.. freeIndex];
            // Overall sparsity ≥ s ⇔ kept weights ≤ (1 − s)·all, counted in decimal so that 0.7 of 169,560 is 50,868, not one short.
            if (target.Goal == AllocationGoal.Sparsity)
                _allowedKept = (long)Math.Floor((1 - (decimal)target.Value) * PlanSize.Dense(_graph).DenseWeights);
        }

        public IReadOnlyList<FittedCurve> Free { get; }

        public bool Meets(double[] levels) => _target.Goal switch
        {
            AllocationGoal.Sparsity => Size(levels).KeptWeights <= _allowedKept,
            AllocationGoal.Parameters => Size(levels).Network.Parameters <= _target.Value,
            AllocationGoal.Macs => Size(levels).Network.MacsPerSample <= _target.Value,
            _ => Drop(levels) <= _target.Value + DropSlack,
        };

        /// <summary>
        /// Moves <paramref name="levels"/> towards <paramref name="goal"/> one swept level of one layer at a time (table
        /// order, round after round). A budget stops at the first move that meets it; a maximum drop stops before the
        /// first move that would exceed it. The layer of that move is then set on the 0.0001 grid between its two levels.
        /// </summary>
        public void StepTowards(double[] levels, double[] goal)
        {
            var moved = true;
            while (moved)
            {
                moved = false;
                for (var i = 0; i < levels.Length; i++)
                {
                    if (levels[i] >= goal[i]) continue;
                    var from = levels[i];
                    levels[i] = Free[i].NextLevel(from);
                    moved = true;
                    if (_target.IsBudget ? Meets(levels) : !Meets(levels))
                    {
                        // Budget: met at the new level, so search (from, new] for the smallest that meets it.
                        // Maximum drop: within it at the old level, so search [from, new) for the largest still within.
                        var (low, high) = (GridStep(from), GridStep(levels[i]));
                        var best = _target.IsBudget
                            ? FirstTrue(low + 1, high, s => Meets(Set(levels, i, s)))
                            : LastTrue(low, high - 1, s => Meets(Set(levels, i, s)));
                        Set(levels, i, best);
                        return;
                    }
                }
            }
        }

        private static double[] Set(double[] levels, int index, int step)
        {
            levels[index] = GridLevel(step);
            return levels;
        }

        public Allocation Result(AllocationStrategy strategy, double[] levels, bool met, double? commonDrop, double? uniformLevel)
        {
            var allocated = Free.Select((f, i) => new AllocatedLayer(f.Curve.Layer, levels[i], f.Curve.DropAt(levels[i]))).ToArray();
            var plan = Apply(levels);
            return new Allocation(strategy, _target, met, plan, allocated, allocated.Sum(a => a.FittedDrop), PlanSize.Of(_graph, plan.Layers), _missing, commonDrop, uniformLevel);
        }

        private ResolvedPlan Apply(double[] levels)
        {
            var layers = _plan.Layers.ToArray();
            for (var i = 0; i < _freeIndex.Length; i++) layers[_freeIndex[i]] = layers[_freeIndex[i]] with { Level = levels[i] };
            return new ResolvedPlan(layers);
        }

        private PlanSize Size(double[] levels) => PlanSize.Of(_graph, Apply(levels).Layers);

        private double Drop(double[] levels)
        {
            var drop = 0.0;
            for (var i = 0; i < levels.Length; i++) drop += Free[i].Curve.DropAt(levels[i]);
            return drop;
        }
    }
}
