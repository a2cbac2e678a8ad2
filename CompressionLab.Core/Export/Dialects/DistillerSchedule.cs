using System.Text;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Export.Dialects;

/// <summary>
/// Distiller's compression schedule YAML (FORMATS.md, "Compression schedule"): one pruner per stage and per overridden layer
/// (<see cref="DialectPruners"/>), each with its policy, weights named as the PyTorch twin names them.
/// </summary>
/// <remarks>
/// <para>Gradual (agp): element stages get <c>AutomatedGradualPruner</c>, filter stages Distiller's structured AGP,
/// <c>L1RankedStructureParameterPruner_AGP</c> (or <c>L2...</c>) with <c>group_type: Filters</c>, both from
/// <c>initial_sparsity: 0.0</c> (the dense model, as our AGP) to the plan's level. Distiller steps AGP once per epoch and
/// reaches the final level at the last epoch before <c>ending_epoch</c>; ours updates ten times per epoch and reaches it at
/// 3/4 of the run, so <c>ending_epoch</c> is ⌊0.75·epochs⌋ + 1, at least 2 (Distiller asserts a span of at least one step).
/// A one-epoch run has no room for a Distiller ramp: it is written as fixed.</para>
/// <para>Fixed: element stages get <c>SparsityLevelParameterPruner</c> with <c>levels: {weight: level}</c>, filter stages
/// <c>L1RankedStructureParameterPruner</c> (or <c>L2...</c>) with <c>desired_sparsity</c>, applied every epoch of the run
/// (already-pruned weights are zero, so they stay pruned).</para>
/// </remarks>
public static class DistillerSchedule
{
    public static string Write(DialectInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var schedule = inputs.Schedule;
        var gradual = schedule.Gradual && schedule.Epochs >= 2;
        var ending = gradual ? Math.Max(2, (int)Math.Floor(schedule.RampEndEpoch) + 1) : schedule.Epochs;
        var pruners = DialectPruners.Of(inputs.Plan);
        var text = new StringBuilder();
        DialectYaml.Header(text, "Distiller compression schedule", inputs);
        if (schedule.Gradual && !gradual) text.Append("# A one-epoch AGP run has no room for Distiller's per-epoch ramp: written as fixed levels.\n");
        text.Append("version: 1\n");
        text.Append(pruners.Count == 0 ? "pruners: {}\n" : "pruners:\n");
        foreach (var pruner in pruners)
        {
            var weights = pruner.Layers.Select(inputs.Names.Weight).ToArray();
            text.Append("  ").Append(pruner.Name).Append(":\n");
            if (pruner.Override) text.Append("    # override of ").Append(pruner.Layers[0]).Append(" in stage ").Append(pruner.Stage).Append('\n');
            else text.Append("    # stage ").Append(pruner.Stage).Append(": ").Append(string.Join(", ", pruner.Layers)).Append('\n');
            var filter = pruner.Method.Criterion == PruningCriterion.Filter;
            var norm = pruner.Method.Norm == FilterNorm.L2 ? "L2" : "L1";
            if (gradual)
            {
                text.Append("    class: ").Append(filter ? $"{norm}RankedStructureParameterPruner_AGP" : "AutomatedGradualPruner").Append('\n');
                text.Append("    initial_sparsity: 0.0\n");
                text.Append("    final_sparsity: ").Append(DialectYaml.Number(pruner.Level)).Append('\n');
                if (filter) text.Append("    group_type: Filters\n");
                text.Append("    weights: ").Append(DialectYaml.FlowList(weights)).Append('\n');
            }
            else if (filter)
            {
                text.Append("    class: ").Append(norm).Append("RankedStructureParameterPruner\n");
                text.Append("    group_type: Filters\n");
                text.Append("    desired_sparsity: ").Append(DialectYaml.Number(pruner.Level)).Append('\n');
                text.Append("    weights: ").Append(DialectYaml.FlowList(weights)).Append('\n');
            }
            else
            {
                text.Append("    class: SparsityLevelParameterPruner\n");
                text.Append("    levels: {").Append(string.Join(", ", weights.Select(w => $"{DialectYaml.Quote(w)}: {DialectYaml.Number(pruner.Level)}"))).Append("}\n");
            }
        }
        text.Append(pruners.Count == 0 ? "policies: []\n" : "policies:\n");
        foreach (var pruner in pruners)
        {
            text.Append("  - pruner:\n");
            text.Append("      instance_name: ").Append(pruner.Name).Append('\n');
            text.Append("    starting_epoch: 0\n");
            text.Append("    ending_epoch: ").Append(ending).Append('\n');
            text.Append("    frequency: 1\n");
        }
        return text.ToString();
    }
}

/// <summary>
/// Distiller's post-training quantization configuration (FORMATS.md, "Post-training quantization"), the YAML its
/// <c>--qe-config-file</c> reads: one <c>PostTrainLinearQuantizer</c> with 8-bit activations and weights, 32-bit accumulators,
/// per-channel weights, the clipping method Distiller has for ours, <c>model_activation_stats</c> naming the statistics file,
/// and overrides: layers kept in float (no bits), per-layer methods, and the output layer unclipped when the logits stay
/// unquantized (Distiller's own advice).
/// </summary>
/// <remarks>
/// Ours quantizes each layer's input, Distiller each module's output; both read the same statistics file. Methods Distiller
/// lacks (percentile, MSE, entropy) are written as <c>NONE</c> (its max) with a comment naming ours. Our asymmetric mode is
/// Distiller's <c>ASYMMETRIC_UNSIGNED</c>.
/// </remarks>
public static class DistillerQuantization
{
    public const string QuantizerName = "post_train_quantizer";

    /// <param name="activationStatsFile">The statistics file <c>model_activation_stats</c> names; null when there is none (Distiller then measures activation ranges on the fly, per batch).</param>
    public static string Write(DialectInputs inputs, string? activationStatsFile)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var quantization = inputs.Quantization ?? throw new ArgumentException("The inputs hold no quantization choice.", nameof(inputs));
        var choice = quantization.Choice;
        var layers = inputs.Plan.Layers.Select(l => l.Layer).ToArray();
        var text = new StringBuilder();
        DialectYaml.Header(text, "Distiller post-training quantization (--qe-config-file)", inputs);
        text.Append("# Our choice: ").Append(choice.Key).Append('\n');
        text.Append("quantizers:\n");
        text.Append("  ").Append(QuantizerName).Append(":\n");
        text.Append("    class: PostTrainLinearQuantizer\n");
        text.Append("    bits_activations: 8\n");
        text.Append("    bits_parameters: 8\n");
        text.Append("    bits_accum: 32\n");
        text.Append("    mode: ").Append(choice.Mode == QuantizationMode.Asymmetric ? "ASYMMETRIC_UNSIGNED" : "SYMMETRIC").Append('\n');
        text.Append("    per_channel_wts: true\n");
        foreach (var line in ClipActs(choice.Method)) text.Append("    ").Append(line).Append('\n');
        if (activationStatsFile is null) text.Append("    # no activation statistics given: Distiller quantizes activations dynamically, from each batch's range\n");
        else text.Append("    model_activation_stats: ").Append(DialectYaml.Quote(activationStatsFile)).Append('\n');
        // Each override's lines, in layer order; a layer needs one when it stays in float, is the output layer with the
        // logits left unclipped, or has its own method.
        var overrides = new List<(string Layer, string[] Lines)>();
        foreach (var layer in layers)
        {
            if (choice.IsKeptFloat(layer))
                overrides.Add((layer, ["# kept in float", "bits_activations: null", "bits_weights: null", "bits_bias: null"]));
            else if (layer == layers[^1] && !choice.QuantizeLogits)
                overrides.Add((layer, ["# the output layer: logits unclipped", "clip_acts: NONE"]));
            else if (choice.LayerMethods?.TryGetValue(layer, out var method) == true && method != choice.Method)
                overrides.Add((layer, ClipActs(method)));
        }
        text.Append(overrides.Count == 0 ? "    overrides: {}\n" : "    overrides:\n");
        foreach (var (layer, lines) in overrides)
        {
            text.Append("      ").Append(DialectYaml.Quote(inputs.Names.Module(layer))).Append(":  # ").Append(layer).Append('\n');
            foreach (var line in lines) text.Append("        ").Append(line).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>Distiller's <c>clip_acts</c> for our method; the ones it lacks (percentile, MSE, entropy) are <c>NONE</c>.</summary>
    public static string ClipMode(ClippingMethod method)
    {
        ArgumentNullException.ThrowIfNull(method);
        return method.Kind switch
        {
            ClippingKind.Max => "NONE",
            ClippingKind.Average => "AVG",
            ClippingKind.MeanStd => "N_STD",
            ClippingKind.AciqGauss => "GAUSS",
            ClippingKind.AciqLaplace => "LAPLACE",
            _ => "NONE",
        };
    }

    /// <summary>The <c>clip_acts</c> lines for <paramref name="method"/>: a comment when Distiller lacks it, <c>clip_n_stds</c> for mean ± k·std.</summary>
    private static string[] ClipActs(ClippingMethod method)
    {
        var mode = ClipMode(method);
        var lines = new List<string>();
        if (mode == "NONE" && method.Kind != ClippingKind.Max) lines.Add($"# ours: {method.Name}, which Distiller does not have; NONE clips at the max");
        lines.Add($"clip_acts: {mode}");
        if (method.Kind == ClippingKind.MeanStd) lines.Add($"clip_n_stds: {DialectYaml.Number(method.Parameter)}");
        return [.. lines];
    }
}
