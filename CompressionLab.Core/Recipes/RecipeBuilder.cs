using System.Globalization;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Recipes;

/// <summary>What a recipe is built from: a loaded model and, each optional, a plan, a calibration and a distilled checkpoint's metadata.</summary>
/// <param name="Plan">A plan for these weights (<see cref="PlanFile.ReadFor"/> has checked it); null: the lineage's levels, if any.</param>
/// <param name="Calibration">Thresholds calibrated on these weights; null: no quantization section (a gap).</param>
/// <param name="Distillation">The distilled checkpoint's metadata: the model itself or its parent.</param>
/// <param name="Images">The images the recipe measures on (baseline and result).</param>
public sealed record RecipeInputs(
    Checkpoint Model,
    string? ModelName,
    PlanDocument? Plan,
    CalibrationDocument? Calibration,
    CheckpointMetadata? Distillation,
    AnalysisSubset Images,
    string Dataset,
    DateTimeOffset? CreatedAt = null);

/// <summary>
/// Builds a recipe from its inputs and measures it (<see cref="RecipeEvaluation"/>). Inputs that belong to another model
/// are refused naming what differs: a plan or calibration of other weights or another architecture, a calibration with
/// other layers, a distilled checkpoint that is neither the model nor its parent. Settings are named as the export
/// request names them (<c>Plan</c>, <c>Calibration</c>, <c>Distillation</c>).
/// </summary>
public static class RecipeBuilder
{
    /// <exception cref="InvalidRequestException">An input is for another model (the setting and what differs are named).</exception>
    public static CompressionRecipe Build(RecipeInputs inputs, Action<string>? step = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var network = inputs.Model.Model;
        var metadata = inputs.Model.Metadata;
        var layers = network.Layers;
        var gaps = new List<RecipeGap>();

        var provenance = new RecipeProvenance(metadata.Architecture, metadata.ContentHash, inputs.ModelName, metadata.Dataset,
            [.. layers.Select(l => new RecipeLayer(l.Name, [.. l.WeightShape]))], ToolVersion.Current, inputs.CreatedAt ?? DateTimeOffset.UtcNow,
            metadata.Lineage is { } lineage ? new RecipeLineage(lineage.Operation, lineage.ParentWeightsHash, lineage.ParentName) : null);

        var pruning = Pruning(inputs, network, metadata, gaps);
        var distillation = Distillation(inputs, metadata, gaps);
        RecipeQuantization? quantization = null;
        if (inputs.Calibration is { } calibration)
        {
            CheckCalibration(calibration, metadata, layers);
            quantization = RecipeThresholds.Section(calibration);
        }
        else
        {
            gaps.Add(new RecipeGap("quantization", "no calibration yet: run it on the Quantization page (Download thresholds) or with 'calibrate --out FILE', and pass the file with --calibration"));
        }

        var masks = pruning is null ? [] : RecipeMasks.Reproduce(network, pruning);
        var thresholds = quantization is null ? null : RecipeThresholds.ToThresholds(quantization);
        var (baseline, result) = RecipeEvaluation.Measure(network, masks, thresholds, inputs.Images.Images, step, cancellationToken);
        var images = new RecipeImages(inputs.Dataset, AnalysisSubset.PartName(inputs.Images.Part), inputs.Images.Count, inputs.Images.Key);
        var results = new RecipeResults(images, baseline, result, RecipeEvaluation.Size(PlanSize.Dense(network.Graph)),
            RecipeEvaluation.Size(PlanSize.Of(network.Graph, RecipeEvaluation.Planned(pruning))));
        return new CompressionRecipe(CompressionRecipe.FormatName, CompressionRecipe.CurrentVersion, provenance, results, pruning, distillation, quantization, gaps);
    }

    private static RecipePruning? Pruning(RecipeInputs inputs, ClassifierNetwork network, CheckpointMetadata metadata, List<RecipeGap> gaps)
    {
        var layers = network.Layers;
        var lineage = metadata.Lineage;
        PruningPlan plan;
        string source;
        RecipeSchedule schedule;
        RecipeFineTuning? fineTuning = null;
        if (inputs.Plan is { } document)
        {
            if (document.Model.WeightsHash != metadata.ContentHash || document.Model.Architecture != metadata.Architecture)
                throw new InvalidRequestException("Plan", $"the plan is for {document.Model.Architecture} {Short(document.Model.WeightsHash)}, the model is {metadata.Architecture} {Short(metadata.ContentHash)}.");
            plan = document.Plan;
            source = "plan";
            // A plan measured as is: its masks at once on these weights.
            schedule = new RecipeSchedule("one-shot", null, null, null, null);
        }
        else if (lineage is { Operation: "fine-tune" or RecipeExportJob.PruneOperation, Levels: { Count: > 0 } levels })
        {
            // Only a fine-tuning's or a recipe's masked checkpoint's levels are levels of this model's layers: a thinned
            // model's are of its parent's widths (its filters are gone, not masked), and ranking them again here would prune
            // it a second time.
            plan = PlanContent.ToPlan(layers, levels.Select(l => new PlanLevel(l.Layer, l.Level, l.Method)));
            source = "lineage";
            var epochs = lineage.Epochs;
            schedule = lineage.Schedule == MaskSchedule.Name(FineTuneSchedule.Agp)
                ? new RecipeSchedule("agp", epochs, MaskSchedule.UpdatesPerEpoch, MaskSchedule.RampShare, 0)
                : new RecipeSchedule("one-shot", epochs, null, null, null);
            if (lineage.Operation == "fine-tune" && epochs is { } e && lineage.LearningRate is { } rate)
                fineTuning = new RecipeFineTuning(lineage.ParentWeightsHash, lineage.ParentName, lineage.Schedule ?? "fixed", e, rate, "adamw", "one-cycle",
                    metadata.Training?.BatchSize, metadata.Training?.WeightDecay, metadata.Training?.HorizontalFlip, metadata.Training?.Seed);
        }
        else if (lineage is { Operation: "thin" })
        {
            gaps.Add(new RecipeGap("pruning", $"the model was thinned from {Short(lineage.ParentWeightsHash)}: its removed filters are gone (provenance.layers has its widths); export the parent's recipe with the plan for its masks, or pass a plan for this model with --plan"));
            return null;
        }
        else
        {
            gaps.Add(new RecipeGap("pruning", "no pruning: pass a plan file with --plan (the Pruning page's Download plan file, or 'plan allocate --out'), or export a fine-tuned model"));
            return null;
        }

        var problems = plan.Problems(layers);
        if (problems.Count > 0) throw new InvalidRequestException(inputs.Plan is null ? "Model" : "Plan", string.Join(" ", problems.Select(p => $"{p.Setting}: {p.Message}")));
        var resolved = plan.Resolve(layers);
        var pruned = resolved.Layers.Where(l => !l.Excluded && l.Level > 0).Select(l => RecipeMasks.Describe(network, l)).ToList();
        var criteria = pruned.Select(l => PruningMethod.Parse(l.Method).Criterion).Distinct().ToList();
        var criterion = criteria.Count switch
        {
            0 => "element",
            1 => PruningCriterionText.Name(criteria[0]).ToLowerInvariant(),
            _ => "mixed",
        };
        if (pruned.Count == 0) gaps.Add(new RecipeGap("pruning", "the plan prunes no layer (every level is 0)"));
        return new RecipePruning(criterion, source, PlanContent.Hash(resolved),
            [.. plan.Stages.Select(s => new RecipeStage(s.Name, [.. s.Layers], s.Rate, s.Method.Key))],
            pruned,
            [.. plan.Exclusions.Select(e => new RecipeExclusion(e.Layer, e.Reason))],
            schedule,
            fineTuning);
    }

    private static RecipeDistillation? Distillation(RecipeInputs inputs, CheckpointMetadata metadata, List<RecipeGap> gaps)
    {
        CheckpointMetadata? distilled = null;
        if (inputs.Distillation is { } given)
        {
            var parent = metadata.Lineage?.ParentWeightsHash;
            if (given.ContentHash != metadata.ContentHash && given.ContentHash != parent)
                throw new InvalidRequestException("Distillation",
                    $"the distilled checkpoint ({given.Architecture} {Short(given.ContentHash)}) is neither the model ({metadata.Architecture} {Short(metadata.ContentHash)}) " +
                    $"nor its parent ({(parent is null ? "it has none" : Short(parent))}).");
            if (given.Lineage is not { Operation: "distill" })
                throw new InvalidRequestException("Distillation", $"the checkpoint {Short(given.ContentHash)} was not made by distillation (its lineage is {given.Lineage?.Operation ?? "empty"}).");
            distilled = given;
        }
        else if (metadata.Lineage is { Operation: "distill" })
        {
            distilled = metadata;
        }
        if (distilled?.Lineage is not { } lineage)
        {
            gaps.Add(new RecipeGap("distillation", "no distillation in the model's lineage: pass the distilled checkpoint it was made from with --distillation, if any"));
            return null;
        }
        var objective = ParseObjective(lineage.Objective ?? "");
        return new RecipeDistillation(distilled.ContentHash, [.. lineage.Teachers ?? [lineage.ParentWeightsHash]], DistillationSettings.Name(objective.Loss),
            objective.Temperature, objective.Alpha, objective.ScaleByT2, objective.AverageOverFlips, lineage.Epochs, lineage.Objective ?? "");
    }

    /// <summary>The lineage's objective words (<see cref="DistillationSettings.Key"/>: <c>soft+hard T=4 alpha=0.9 t2=on</c>) back as settings.</summary>
    public static DistillationSettings ParseObjective(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var words = key.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) throw new InvalidRequestException("Distillation", "the lineage records no objective.");
        var settings = new DistillationSettings(DistillationSettings.ParseLoss(words[0]));
        foreach (var word in words.Skip(1))
        {
            var (name, value) = word.Split('=', 2) is [var n, var v] ? (n, v) : (word, "");
            settings = name switch
            {
                "T" => settings with { Temperature = double.Parse(value, CultureInfo.InvariantCulture) },
                "alpha" => settings with { Alpha = double.Parse(value, CultureInfo.InvariantCulture) },
                "t2" => settings with { ScaleByT2 = value == "on" },
                "targets" => settings with { AverageOverFlips = value == "mean-over-flips" },
                _ => settings,
            };
        }
        return settings;
    }

    private static void CheckCalibration(CalibrationDocument calibration, CheckpointMetadata metadata, IReadOnlyList<LayerInfo> layers)
    {
        if (calibration.Architecture != metadata.Architecture)
            throw new InvalidRequestException("Calibration", $"the calibration is of a {calibration.Architecture} model, not of this {metadata.Architecture}.");
        if (!string.Equals(calibration.WeightsHash, metadata.ContentHash, StringComparison.OrdinalIgnoreCase))
            throw new InvalidRequestException("Calibration",
                $"the calibration is of other weights: its weights hash is {Short(calibration.WeightsHash)}, this model's is {Short(metadata.ContentHash)}. Calibrate this model.");
        var names = calibration.Thresholds.Layers.Select(l => l.Layer).ToList();
        if (!names.SequenceEqual(layers.Select(l => l.Name)))
            throw new InvalidRequestException("Calibration", $"the calibration's layers ({string.Join(", ", names)}) are not the model's ({string.Join(", ", layers.Select(l => l.Name))}).");
        foreach (var layer in calibration.Thresholds.Layers.Where(l => !l.KeptFloat))
        {
            var channels = layers.First(l => l.Name == layer.Layer).WeightShape[0];
            if (layer.WeightGrids.Count != channels)
                throw new InvalidRequestException("Calibration", $"{layer.Layer}: the calibration has {layer.WeightGrids.Count} weight channels, the model {channels}.");
        }
    }

    internal static string Short(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;
}
