using System.Globalization;
using System.Text.Json.Serialization;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>How a stage or a layer is pruned: the criterion and, for filters, the norm that ranks them.</summary>
public readonly record struct PruningMethod
{
    [JsonConstructor] // a struct would otherwise read back as its default (element), e.g. from a queued job's parameters
    public PruningMethod(PruningCriterion criterion, FilterNorm norm = FilterNorm.L1)
    {
        Criterion = criterion;
        // The norm means nothing for elements: fixed, so that two element methods are always equal.
        Norm = criterion == PruningCriterion.Element ? FilterNorm.L1 : norm;
    }

    public static PruningMethod Element { get; } = new(PruningCriterion.Element);
    public static PruningMethod FilterL1 { get; } = new(PruningCriterion.Filter, FilterNorm.L1);
    public static PruningMethod FilterL2 { get; } = new(PruningCriterion.Filter, FilterNorm.L2);

    public PruningCriterion Criterion { get; }
    public FilterNorm Norm { get; }

    /// <summary><c>element</c>, <c>filter-l1</c> or <c>filter-l2</c>, the sweep's criterion key.</summary>
    public string Key => PruningCriterionText.Describe(Criterion, Norm);

    public override string ToString() => Key;

    /// <summary>The method of a key (<c>element</c>, <c>filter</c>, <c>filter-l1</c>, <c>filter-l2</c>), as <see cref="Key"/> writes it.</summary>
    /// <exception cref="ArgumentException">Not a method's key.</exception>
    public static PruningMethod Parse(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var parts = key.Split('-', 2);
        var criterion = PruningCriterionText.ParseCriterion(parts[0]);
        if (criterion == PruningCriterion.Element && parts.Length == 2) throw new ArgumentException($"Element pruning has no norm ('{key}').");
        return new PruningMethod(criterion, parts.Length == 2 ? PruningCriterionText.ParseNorm(parts[1]) : FilterNorm.L1);
    }
}

/// <summary>A named group of layers pruned at one rate by one method.</summary>
/// <param name="Rate">The sparsity level every layer of the stage gets unless it is overridden or excluded.</param>
public sealed record PlanStage(string Name, IReadOnlyList<string> Layers, double Rate, PruningMethod Method);

/// <summary>A layer pruned at its own level (and, when <paramref name="Method"/> is given, by its own method) instead of its stage's.</summary>
public sealed record LayerOverride(string Layer, double Level, PruningMethod? Method = null);

/// <summary>A layer left dense, and why (shown wherever the plan is).</summary>
public sealed record LayerExclusion(string Layer, string Reason);

/// <summary>A setting of a plan that makes no sense, and what is wrong with it.</summary>
/// <param name="Setting">Which setting, as a path a front end can map to its field: <c>stages.stage2.rate</c>, <c>overrides.stage3.conv1.level</c>, <c>exclusions.classifier.fc</c>.</param>
public sealed record PlanProblem(string Setting, string Message)
{
    public override string ToString() => Message;
}

/// <summary>Where a planned layer's level comes from.</summary>
public enum LevelSource
{
    Stage,
    Override,
    Excluded,
}

/// <summary>One layer of a resolved plan: the level and method it is pruned with.</summary>
/// <param name="Level">The sparsity level (0 for an excluded layer): a fraction of the layer's weights (element) or of its output filters (filter).</param>
/// <param name="ExclusionReason">Why the layer stays dense; null unless <see cref="Source"/> is <see cref="LevelSource.Excluded"/>.</param>
public sealed record PlannedLayer(string Layer, string Stage, double Level, PruningMethod Method, LevelSource Source, string? ExclusionReason = null)
{
    public bool Excluded => Source == LevelSource.Excluded;
}

/// <summary>A plan resolved against a model's layer table: every layer once, in table order.</summary>
public sealed record ResolvedPlan(IReadOnlyList<PlannedLayer> Layers)
{
    public PlannedLayer Layer(string name) =>
        Layers.FirstOrDefault(l => l.Layer == name) ?? throw new ArgumentException($"The plan has no layer '{name}'.");
}

/// <summary>
/// A pruning plan: the model's layers grouped into stages, one rate and method per stage, per-layer
/// overrides and exclusions. Immutable: every edit returns a new plan. Structural edits (rename, merge,
/// split) check their own arguments at once; values (rates, levels, reasons) are checked against the
/// model's layer table by <see cref="Problems"/> and <see cref="Resolve"/>, so a front end can hold a bad
/// typed value and show what is wrong with it.
/// </summary>
/// <remarks>
/// Levels follow the masks' rule (<see cref="PruningRanking.PrunedCount"/>): in [0, 1), at most four decimals,
/// rounded to whole weights or filters when applied. An override wins over its stage; an exclusion wins
/// over both, and a plan that holds both for one layer is refused rather than guessed at.
/// </remarks>
public sealed record PruningPlan(IReadOnlyList<PlanStage> Stages, IReadOnlyList<LayerOverride> Overrides, IReadOnlyList<LayerExclusion> Exclusions)
{
    /// <summary>
    /// The zoo's stages (<c>stage1</c>…, <c>hidden</c>, <c>classifier</c>) in table order, each at
    /// <paramref name="rate"/> by <paramref name="method"/>, with the output layer excluded
    /// (<see cref="OutputLayerReason"/>). In LeNet-5 the <c>classifier</c> stage also holds the hidden
    /// fully connected layers: only the last layer, whose outputs are the logits, is excluded.
    /// </summary>
    public static PruningPlan Default(IReadOnlyList<LayerInfo> layers, PruningMethod method, double rate = 0)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0) throw new ArgumentException("A plan needs a model with at least one prunable layer.", nameof(layers));
        var stages = layers.Select(l => l.Stage).Distinct()
            .Select(stage => new PlanStage(stage, [.. layers.Where(l => l.Stage == stage).Select(l => l.Name)], rate, method))
            .ToArray();
        return new PruningPlan(stages, [], [new LayerExclusion(layers[^1].Name, OutputLayerReason(layers))]);
    }

    /// <summary>Why <see cref="Default"/> leaves the output layer dense, with its share of the model's weights.</summary>
    public static string OutputLayerReason(IReadOnlyList<LayerInfo> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var share = (double)WeightCount(layers[^1]) / layers.Sum(WeightCount);
        return "it is the output layer, whose outputs are the class scores: removing a filter removes a class, and it holds only " +
            $"{(share * 100).ToString("0.#", CultureInfo.InvariantCulture)} % of the weights, so it stays dense unless included";
    }

    public PlanStage Stage(string name) => Stages[IndexOfStage(name)];

    public PruningPlan WithStageRate(string stage, double rate) => ReplaceStage(stage, s => s with { Rate = rate });

    public PruningPlan WithStageMethod(string stage, PruningMethod method) => ReplaceStage(stage, s => s with { Method = method });

    /// <summary>The layer at its own level (replacing an earlier override); an exclusion of it is lifted.</summary>
    public PruningPlan WithOverride(string layer, double level, PruningMethod? method = null) => this with
    {
        Overrides = [.. Overrides.Where(o => o.Layer != layer), new LayerOverride(layer, level, method)],
        Exclusions = [.. Exclusions.Where(e => e.Layer != layer)],
    };

    /// <summary>The layer back at its stage's rate and method.</summary>
    public PruningPlan WithoutOverride(string layer) => this with { Overrides = [.. Overrides.Where(o => o.Layer != layer)] };

    /// <summary>The layer left dense for <paramref name="reason"/>; an override of it is dropped.</summary>
    public PruningPlan Excluding(string layer, string reason) => this with
    {
        Overrides = [.. Overrides.Where(o => o.Layer != layer)],
        Exclusions = [.. Exclusions.Where(e => e.Layer != layer), new LayerExclusion(layer, reason)],
    };

    /// <summary>The layer pruned again (at its stage's rate).</summary>
    public PruningPlan Including(string layer) => this with { Exclusions = [.. Exclusions.Where(e => e.Layer != layer)] };

    public PruningPlan RenameStage(string from, string to)
    {
        CheckNewStageName(to, except: from);
        return ReplaceStage(from, s => s with { Name = to.Trim() });
    }

    /// <summary>The layers of <paramref name="from"/> join <paramref name="into"/>, which keeps its name, rate and method.</summary>
    public PruningPlan MergeStages(string into, string from)
    {
        if (into == from) throw new ArgumentException($"Stage '{into}' cannot be merged into itself.", nameof(from));
        var source = Stage(from);
        var merged = ReplaceStage(into, s => s with { Layers = [.. s.Layers, .. source.Layers] });
        return merged with { Stages = [.. merged.Stages.Where((_, i) => i != IndexOfStage(from))] };
    }

    /// <summary>
    /// <paramref name="layers"/> leave <paramref name="stage"/> for a new stage <paramref name="newStage"/>, placed
    /// right after it with the same rate and method. At least one layer must stay behind.
    /// </summary>
    public PruningPlan SplitStage(string stage, string newStage, IEnumerable<string> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var source = Stage(stage);
        CheckNewStageName(newStage, except: null);
        var moving = layers.Distinct().ToArray();
        if (moving.Length == 0) throw new ArgumentException($"Name the layers of stage '{stage}' that go to '{newStage}'.", nameof(layers));
        if (moving.FirstOrDefault(l => !source.Layers.Contains(l)) is { } stranger)
            throw new ArgumentException($"Layer '{stranger}' is not in stage '{stage}' (it has {string.Join(", ", source.Layers)}).", nameof(layers));
        if (moving.Length == source.Layers.Count)
            throw new ArgumentException($"Splitting every layer out of stage '{stage}' leaves it empty: rename it instead.", nameof(layers));
        var kept = source with { Layers = [.. source.Layers.Where(l => !moving.Contains(l))] };
        var split = source with { Name = newStage.Trim(), Layers = [.. source.Layers.Where(moving.Contains)] };
        var at = IndexOfStage(stage);
        return this with { Stages = [.. Stages.SelectMany((s, i) => i == at ? new[] { kept, split } : [s])] };
    }

    /// <summary>Every setting that makes no sense for a model with these layers; empty when the plan resolves.</summary>
    public IReadOnlyList<PlanProblem> Problems(IReadOnlyList<LayerInfo> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var problems = new List<PlanProblem>();
        var known = layers.Select(l => l.Name).ToHashSet();
        var layerList = string.Join(", ", layers.Select(l => l.Name));
        string Unknown(string what, string layer) => $"{what} names layer '{layer}', which the model does not have. Its layers are: {layerList}.";

        var stageOf = new Dictionary<string, string>();
        var stageNames = new HashSet<string>();
        foreach (var stage in Stages)
        {
            var setting = $"stages.{stage.Name}";
            if (string.IsNullOrWhiteSpace(stage.Name)) problems.Add(new("stages", "A stage has no name."));
            else if (!stageNames.Add(stage.Name)) problems.Add(new(setting, $"Two stages are named '{stage.Name}'."));
            if (LevelProblem($"Stage {stage.Name}: rate", stage.Rate) is { } rate) problems.Add(new($"{setting}.rate", rate));
            foreach (var layer in stage.Layers)
            {
                if (!known.Contains(layer)) problems.Add(new($"{setting}.layers", Unknown($"Stage {stage.Name}", layer)));
                else if (stageOf.TryGetValue(layer, out var first))
                    problems.Add(new($"{setting}.layers", $"Layer {layer} is in two stages: {first} and {stage.Name}. Put it in one."));
                else stageOf[layer] = stage.Name;
            }
        }
        foreach (var layer in layers.Where(l => !stageOf.ContainsKey(l.Name)))
            problems.Add(new("stages", $"Layer {layer.Name} is in no stage. Put it in one (and exclude it to leave it dense)."));

        var overridden = new HashSet<string>();
        foreach (var over in Overrides)
        {
            var setting = $"overrides.{over.Layer}";
            if (!known.Contains(over.Layer)) problems.Add(new(setting, Unknown("An override", over.Layer)));
            else if (!overridden.Add(over.Layer)) problems.Add(new(setting, $"Layer {over.Layer} is overridden twice."));
            if (LevelProblem($"Override of {over.Layer}: level", over.Level) is { } level) problems.Add(new($"{setting}.level", level));
        }
        var excluded = new HashSet<string>();
        foreach (var exclusion in Exclusions)
        {
            var setting = $"exclusions.{exclusion.Layer}";
            if (!known.Contains(exclusion.Layer)) problems.Add(new(setting, Unknown("An exclusion", exclusion.Layer)));
            else if (!excluded.Add(exclusion.Layer)) problems.Add(new(setting, $"Layer {exclusion.Layer} is excluded twice."));
            if (string.IsNullOrWhiteSpace(exclusion.Reason)) problems.Add(new(setting, $"The exclusion of {exclusion.Layer} gives no reason."));
            if (overridden.Contains(exclusion.Layer))
                problems.Add(new(setting, $"Layer {exclusion.Layer} is both excluded and overridden: drop one of the two."));
        }

        var output = layers.Count > 0 ? layers[^1].Name : null;
        if (output is not null && !excluded.Contains(output) && stageOf.TryGetValue(output, out var outputStage)
            && MethodOf(output, outputStage).Criterion == PruningCriterion.Filter)
            problems.Add(new(overridden.Contains(output) ? $"overrides.{output}" : $"stages.{outputStage}",
                $"Layer {output} cannot be pruned by filter: {SweepCandidates.OutputLayerReason}. Prune it by element, or exclude it."));
        return problems;
    }

    /// <summary>Every layer of the table with its level and method, in table order; throws naming every problem (<see cref="Problems"/>).</summary>
    public ResolvedPlan Resolve(IReadOnlyList<LayerInfo> layers)
    {
        var problems = Problems(layers);
        if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems.Select(p => p.Message)), nameof(layers));
        var stageOf = Stages.SelectMany(s => s.Layers.Select(l => (Layer: l, Stage: s))).ToDictionary(x => x.Layer, x => x.Stage);
        return new ResolvedPlan([.. layers.Select(info =>
        {
            var stage = stageOf[info.Name];
            if (Exclusions.FirstOrDefault(e => e.Layer == info.Name) is { } exclusion)
                return new PlannedLayer(info.Name, stage.Name, 0, stage.Method, LevelSource.Excluded, exclusion.Reason);
            if (Overrides.FirstOrDefault(o => o.Layer == info.Name) is { } over)
                return new PlannedLayer(info.Name, stage.Name, over.Level, over.Method ?? stage.Method, LevelSource.Override);
            return new PlannedLayer(info.Name, stage.Name, stage.Rate, stage.Method, LevelSource.Stage);
        })]);
    }

    /// <summary>
    /// What is wrong with <paramref name="level"/> as a sparsity level, in words that start with
    /// <paramref name="setting"/>; null for a valid level (0 ≤ level &lt; 1, at most four decimals, as <see cref="SweepLevels.Validate"/>).
    /// </summary>
    public static string? LevelProblem(string setting, double level)
    {
        var text = level.ToString("R", CultureInfo.InvariantCulture);
        if (double.IsNaN(level)) return $"{setting} is not a number (NaN).";
        if (level < 0 || level >= 1)
            return $"{setting} {text} is outside [0, 1): a level is the fraction of a layer to prune, from 0 (nothing) up to but not including 1.";
        if (Math.Round(level, SweepLevels.MaxDecimals) != level)
            return $"{setting} {text} is finer than 0.0001: give at most {SweepLevels.MaxDecimals} decimals.";
        return null;
    }

    private PruningMethod MethodOf(string layer, string stage) =>
        Overrides.FirstOrDefault(o => o.Layer == layer)?.Method ?? Stages.First(s => s.Name == stage).Method;

    private int IndexOfStage(string name)
    {
        for (var i = 0; i < Stages.Count; i++)
            if (Stages[i].Name == name) return i;
        throw new ArgumentException($"The plan has no stage '{name}'. Its stages are: {string.Join(", ", Stages.Select(s => s.Name))}.", nameof(name));
    }

    private PruningPlan ReplaceStage(string name, Func<PlanStage, PlanStage> change)
    {
        var at = IndexOfStage(name);
        return this with { Stages = [.. Stages.Select((s, i) => i == at ? change(s) : s)] };
    }

    private void CheckNewStageName(string name, string? except)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A stage needs a name.", nameof(name));
        if (Stages.Any(s => s.Name == name.Trim() && s.Name != except))
            throw new ArgumentException($"There is already a stage named '{name.Trim()}': merge the two instead.", nameof(name));
    }

    private static long WeightCount(LayerInfo layer) => layer.WeightShape.Aggregate(1L, (a, b) => a * b);
}
