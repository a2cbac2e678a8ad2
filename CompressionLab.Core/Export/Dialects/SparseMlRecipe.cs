using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Export.Dialects;

/// <summary>
/// A SparseML recipe (FORMATS.md, "Recipe"): <c>version: 1.1.0</c> and a plain <c>modifiers</c> list, an
/// <c>!EpochRangeModifier</c> over the run, one <c>!GMPruningModifier</c> per stage and per overridden layer with the PyTorch
/// twin's parameter names, and a <c>!QuantizationModifier</c> when a calibration is given.
/// </summary>
/// <remarks>
/// <para>Gradual: <c>init_sparsity: 0.0</c> to the plan's level, <c>inter_func</c> cubic (SparseML's default, AGP's curve),
/// from epoch 0 to 3/4 of the run, <c>update_frequency: 0.1</c> — our fine-tuning's ten updates per epoch, which SparseML
/// (unlike Distiller) can express. Fixed: init and final sparsity equal (the level from the first step), from epoch 0 to 1
/// with one update. <c>mask_type</c> is <c>unstructured</c> or <c>filter</c>; SparseML ranks filters by its own magnitude
/// measure, so an L2 plan is written as filter with a comment.</para>
/// <para>SparseML's QuantizationModifier is quantization-aware training from the epoch pruning ends: it observes its own
/// ranges, so our calibrated thresholds do not carry over; layers we keep in float are named in a comment.</para>
/// </remarks>
public static class SparseMlRecipe
{
    public const string Version = "1.1.0";

    public static string Write(DialectInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var schedule = inputs.Schedule;
        var (end, frequency) = schedule.Gradual ? (schedule.RampEndEpoch, schedule.UpdateFrequency) : (1.0, 1.0);
        var text = new StringBuilder();
        DialectYaml.Header(text, "SparseML recipe", inputs);
        text.Append("version: ").Append(Version).Append('\n');
        text.Append("modifiers:\n");
        text.Append("  - !EpochRangeModifier\n");
        text.Append("    start_epoch: 0.0\n");
        text.Append("    end_epoch: ").Append(DialectYaml.Number(schedule.Epochs)).Append('\n');
        foreach (var pruner in DialectPruners.Of(inputs.Plan))
        {
            var level = DialectYaml.Number(pruner.Level);
            text.Append("  - !GMPruningModifier\n");
            text.Append("    # ").Append(pruner.Override ? $"override of {pruner.Layers[0]} in stage {pruner.Stage}" : $"stage {pruner.Stage}: {string.Join(", ", pruner.Layers)}")
                .Append('\n');
            if (pruner.Method == PruningMethod.FilterL2) text.Append("    # ours ranks the filters by L2 norm; SparseML's filter mask uses its own magnitude measure\n");
            text.Append("    params: ").Append(DialectYaml.FlowList([.. pruner.Layers.Select(inputs.Names.Weight)])).Append('\n');
            text.Append("    init_sparsity: ").Append(schedule.Gradual ? "0.0" : level).Append('\n');
            text.Append("    final_sparsity: ").Append(level).Append('\n');
            text.Append("    start_epoch: 0.0\n");
            text.Append("    end_epoch: ").Append(DialectYaml.Number(end)).Append('\n');
            text.Append("    update_frequency: ").Append(DialectYaml.Number(frequency)).Append('\n');
            text.Append("    inter_func: cubic\n");
            text.Append("    mask_type: ").Append(pruner.Method.Criterion == PruningCriterion.Filter ? "filter" : "unstructured").Append('\n');
        }
        if (inputs.Quantization is { } quantization)
        {
            text.Append("  - !QuantizationModifier\n");
            text.Append("    # ours: ").Append(quantization.Choice.Key).Append('\n');
            var floats = inputs.Plan.Layers.Where(l => quantization.Choice.IsKeptFloat(l.Layer)).Select(l => $"{inputs.Names.Module(l.Layer)} ({l.Layer})").ToArray();
            if (floats.Length > 0) text.Append("    # kept in float by ours: ").Append(string.Join(", ", floats)).Append('\n');
            text.Append("    start_epoch: ").Append(DialectYaml.Number(end)).Append('\n');
        }
        return text.ToString();
    }
}

/// <summary>
/// NNI's <c>config_list</c> (FORMATS.md, "Pruning config"), as NNI 2.x's pruners take it (<c>sparsity_per_layer</c>; NNI 3
/// renamed it <c>sparse_ratio</c>): one entry per stage and per overridden layer, <c>op_types</c> the PyTorch classes and
/// <c>op_names</c> the twin's module names, then one <c>{"exclude": true, "op_names": [...]}</c> for the excluded layers.
/// </summary>
/// <remarks>
/// In NNI the criterion is the pruner, not the config: element levels go to <c>LevelPruner</c>, L1 filter levels to
/// <c>L1NormPruner</c>, L2 ones to <c>L2NormPruner</c>, so a plan gives one list per pruner it needs
/// (<see cref="PrunerFor"/>). Each level is per layer (<c>sparsity_per_layer</c>), not a budget spread over the layers
/// (<c>total_sparsity</c>): the plan has already chosen every layer's level.
/// </remarks>
public static class NniConfigList
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The NNI pruner class for a method: <c>LevelPruner</c>, <c>L1NormPruner</c> or <c>L2NormPruner</c>.</summary>
    public static string PrunerFor(PruningMethod method) => method.Criterion == PruningCriterion.Element ? "LevelPruner"
        : method.Norm == FilterNorm.L2 ? "L2NormPruner" : "L1NormPruner";

    /// <summary>One config list per NNI pruner the plan needs, keyed by the pruner's class, in the order first needed.</summary>
    public static IReadOnlyList<(string Pruner, string Json)> Write(DialectInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var names = inputs.Names;
        var excluded = inputs.Plan.Layers.Where(l => l.Excluded).Select(l => names.Module(l.Layer)).ToArray();
        var lists = new List<(string, string)>();
        foreach (var group in DialectPruners.Of(inputs.Plan).GroupBy(p => PrunerFor(p.Method)))
        {
            var list = new JsonArray();
            foreach (var pruner in group)
            {
                var modules = pruner.Layers.Select(names.Module).ToArray();
                list.Add(new JsonObject
                {
                    ["sparsity_per_layer"] = pruner.Level,
                    ["op_types"] = new JsonArray([.. pruner.Layers.Select(names.ModuleType).Distinct().Select(t => (JsonNode?)JsonValue.Create(t))]),
                    ["op_names"] = new JsonArray([.. modules.Select(m => (JsonNode?)JsonValue.Create(m))]),
                });
            }
            if (excluded.Length > 0)
                list.Add(new JsonObject { ["exclude"] = true, ["op_names"] = new JsonArray([.. excluded.Select(m => (JsonNode?)JsonValue.Create(m))]) });
            lists.Add((group.Key, list.ToJsonString(Indented) + "\n"));
        }
        return lists;
    }

    /// <summary>The file name of a pruner's list: <c>nni_config_list.levelpruner.json</c>.</summary>
    public static string FileName(string pruner) => $"nni_config_list.{pruner.ToLower(CultureInfo.InvariantCulture)}.json";
}

/// <summary>YAML text the dialect writers share: quoted names, numbers as PyYAML reads them, a provenance comment.</summary>
internal static class DialectYaml
{
    /// <summary>A single-quoted scalar: names like <c>23</c> or <c>0.weight</c> stay strings whatever a reader's schema.</summary>
    public static string Quote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static string FlowList(IEnumerable<string> values) => "[" + string.Join(", ", values.Select(Quote)) + "]";

    /// <summary>A float as Python's repr (always a dot), which PyYAML reads back as a float.</summary>
    public static string Number(double value) => DistillerStatsYaml.Number(value);

    public static void Header(StringBuilder text, string what, DialectInputs inputs)
    {
        text.Append("# ").Append(what).Append(", written by CompressionLab for ").Append(inputs.Names.Architecture)
            .Append(inputs.Source is null ? "" : $" ({inputs.Source})").Append(".\n");
        text.Append("# Names are the PyTorch twin's (").Append(inputs.Names.Naming == PyTorchNaming.Sequential ? "one flat nn.Sequential, pytorch_model.py" : "our own names, nested nn.Sequential")
            .Append("); see docs/dialects.md.\n");
        text.Append("# Schedule: ").Append(inputs.Schedule.Describe()).Append(".\n");
    }
}
