using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Recipes;

/// <summary>Export a model's recipe into a folder (recipe.yaml, recipe.json, the field's dialects and the PyTorch state dict).</summary>
/// <param name="PlanFile">A plan file for the model's weights; null: the model's lineage levels, if any.</param>
/// <param name="CalibrationFile">A calibration file of the model's weights (<see cref="Quantization.CalibrationFile"/>); null: a gap.</param>
/// <param name="DistillationFile">The distilled checkpoint the model is or was made from; null: the model's own lineage.</param>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="SubsetSize">Validation images the recipe is measured on (<see cref="AnalysisSubset"/>).</param>
/// <param name="StatsYamlFile">
/// Distiller's activation statistics of the calibration, under our layer names (what <c>calibrate --stats-yaml</c> writes,
/// <see cref="DistillerStatsYaml"/>); written again under the PyTorch names as the dialect's statistics file. Null: that
/// file is a gap. Only with <see cref="CalibrationFile"/>.
/// </param>
public sealed record RecipeExportRequest(
    ModelSource Model,
    string OutputFolder,
    string? PlanFile = null,
    string? CalibrationFile = null,
    string? DistillationFile = null,
    string? Dataset = null,
    int SubsetSize = AnalysisSubset.DefaultSize,
    string? StatsYamlFile = null)
{
    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose the model whose recipe to export.");
        Model.Validate();
        if (string.IsNullOrWhiteSpace(OutputFolder)) throw new InvalidRequestException(nameof(OutputFolder), "Choose a folder to write the recipe into.");
        foreach (var (setting, file) in new[] { (nameof(PlanFile), PlanFile), (nameof(CalibrationFile), CalibrationFile), (nameof(DistillationFile), DistillationFile), (nameof(StatsYamlFile), StatsYamlFile) })
            if (file is not null && !File.Exists(file)) throw new InvalidRequestException(setting, $"File not found: {Path.GetFullPath(file)}.");
        if (StatsYamlFile is not null && CalibrationFile is null)
            throw new InvalidRequestException(nameof(StatsYamlFile), "Activation statistics go with a calibration file: give the calibration they were collected with.");
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to measure on.");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The recipe is measured on at least one image (got {SubsetSize}).");
    }
}

/// <summary>The recipe written and where.</summary>
public sealed record RecipeExportOutcome(CompressionRecipe Recipe, IReadOnlyList<string> Files, double Seconds);

/// <summary>
/// Builds a model's recipe from its checkpoint and the files given (<see cref="RecipeBuilder"/>), measures it, and writes
/// recipe.yaml, recipe.json, the field's dialects of the same plan and calibration (<see cref="DialectWriter"/>: Distiller,
/// SparseML, NNI, the PyTorch twin's definition) and the weights as a PyTorch state dict into the output folder; a filter
/// recipe also thinned (<see cref="RecipeThinning"/>: checkpoint, twin and state dict at the kept widths). Inputs are
/// all read and checked before anything is written, so a refused input leaves the folder as it was.
/// </summary>
public static class RecipeExportJob
{
    public static RecipeExportOutcome Run(RecipeExportRequest request, DatasetCatalog catalog, ModelStore? store, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, request.SubsetSize, nameof(RecipeExportRequest.SubsetSize));
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.05, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = model.Load(subset.Images, dataset.Name, "measured");
        var metadata = checkpoint.Metadata;
        PlanDocument? plan = null;
        if (request.PlanFile is { } planFile)
        {
            try
            {
                plan = PlanFile.ReadFor(planFile, metadata.Architecture, metadata.ContentHash, checkpoint.Model.Layers);
            }
            catch (PlanFileException e)
            {
                throw new InvalidRequestException(nameof(RecipeExportRequest.PlanFile), e.Message, e);
            }
        }
        CalibrationDocument? calibration = null;
        if (request.CalibrationFile is { } calibrationFile)
        {
            try
            {
                calibration = CalibrationFile.Read(calibrationFile);
            }
            catch (CalibrationFileException e)
            {
                throw new InvalidRequestException(nameof(RecipeExportRequest.CalibrationFile), e.Message, e);
            }
        }
        IReadOnlyList<DistillerLayerStats>? statistics = null;
        if (request.StatsYamlFile is { } statsFile)
        {
            try
            {
                statistics = DistillerStatsYaml.Read(File.ReadAllText(statsFile));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                throw new InvalidRequestException(nameof(RecipeExportRequest.StatsYamlFile), $"{Path.GetFileName(statsFile)}: {e.Message}", e);
            }
            var known = checkpoint.Model.Layers.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
            if (statistics.FirstOrDefault(s => !known.Contains(s.Layer)) is { } stranger)
                throw new InvalidRequestException(nameof(RecipeExportRequest.StatsYamlFile),
                    $"{Path.GetFileName(statsFile)} names layer '{stranger.Layer}', which {metadata.Architecture} does not have (its layers: {string.Join(", ", known)}).");
        }
        CheckpointMetadata? distilled = null;
        if (request.DistillationFile is { } distillationFile)
        {
            try
            {
                distilled = Checkpoint.ReadMetadata(distillationFile);
            }
            catch (CheckpointException e)
            {
                throw new InvalidRequestException(nameof(RecipeExportRequest.DistillationFile), e.Message, e);
            }
        }

        CompressionRecipe recipe;
        try
        {
            recipe = RecipeBuilder.Build(new RecipeInputs(checkpoint, model.DisplayName, plan, calibration, distilled, subset, dataset.Name),
                step => progress.Report(0.3, string.Create(CultureInfo.InvariantCulture, $"Measuring {step} on {subset.Count:N0} validation images")), cancellationToken);
        }
        catch (InvalidRequestException e) when (e.Setting is "Plan" or "Calibration" or "Distillation")
        {
            // The builder names its inputs; the request names the files they came from.
            throw new InvalidRequestException(e.Setting + "File", e.Message, e);
        }

        progress.Report(0.95, $"Writing the recipe into {request.OutputFolder}");
        var folder = Path.GetFullPath(request.OutputFolder);
        var network = checkpoint.Model;
        var source = $"{model.DisplayName}, weights {RecipeBuilder.Short(metadata.ContentHash)}";
        var (dialects, dialectGaps) = Dialects(recipe, network, metadata, plan, calibration, source, statistics);
        if (dialectGaps.Count > 0) recipe = recipe with { Gaps = [.. recipe.Gaps, .. dialectGaps] };
        // A filter recipe is also written thinned; the thin network is built before anything is written, so a recipe
        // whose masks cannot be cut out says so as a gap in the files it writes.
        var (thin, thinProblem) = RecipeThinning.Thins(recipe)
            ? RecipeThinning.TryThin(recipe, network, RecipeMasks.Reproduce(network, recipe.Pruning!))
            : (null, null);
        using var thinned = thin;
        if (thinProblem is not null)
            recipe = recipe with { Gaps = [.. recipe.Gaps, new RecipeGap("thinning", $"the filter masks are not cut out ({RecipeThinning.CheckpointFile} is not written): {thinProblem}")] };
        Directory.CreateDirectory(folder);
        var texts = new List<(string File, string Text)>
        {
            (Path.Combine(folder, RecipeFile.YamlFileName), RecipeFile.ToYaml(recipe)),
            (Path.Combine(folder, RecipeFile.JsonFileName), RecipeFile.ToJson(recipe)),
        };
        texts.AddRange(dialects.Select(d => (Path.Combine(folder, d.Name), d.Text)));
        foreach (var (file, text) in texts) RecipeFile.WriteFile(file, text);
        var files = texts.Select(t => t.File).ToList();
        files.AddRange(StateDicts(recipe, network, metadata, folder));
        if (thinned is not null) files.AddRange(ThinFiles(recipe.Pruning!, thinned, metadata, model.DisplayName, folder));
        else if (recipe.Pruning is { Layers.Count: > 0 } pruning) files.Add(PrunedCheckpoint(pruning, network, metadata, model.DisplayName, folder));

        var result = recipe.Results!;
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Recipe written: top-1 {result.Baseline.Top1 * 100:0.00}% → {result.Result.Top1 * 100:0.00}%, sparsity {result.Compressed.Sparsity * 100:0.0}%{(recipe.Gaps.Count > 0 ? $"; gaps: {string.Join(", ", recipe.Gaps.Select(g => g.Section))}" : "")}"));
        return new RecipeExportOutcome(recipe, files, clock.Elapsed.TotalSeconds);
    }

    /// <summary><see cref="FineTuneRequest"/>'s default epochs: the run a one-shot plan's dialects span.</summary>
    private const int FineTuneEpochs = 2;

    /// <summary>The PyTorch state dict of the recipe's weights (what the dialects' schedules start from).</summary>
    public const string StateDictFile = "pytorch_model.safetensors";

    /// <summary>The same weights with the recipe's masks applied (written when the recipe prunes).</summary>
    public const string PrunedStateDictFile = "pytorch_model_pruned.safetensors";

    /// <summary>
    /// The dialect files of the recipe's plan (the plan file's, or the lineage's levels; with no pruning, every layer at 0 so
    /// that the quantization dialects and the PyTorch twin are still written), its schedule and its calibration's thresholds,
    /// under the Sequential PyTorch names. What the inputs cannot give is returned as gaps.
    /// </summary>
    /// <param name="statistics">The calibration's activation statistics under our names; null: Distiller's statistics file is a gap.</param>
    public static (IReadOnlyList<DialectFile> Files, IReadOnlyList<RecipeGap> Gaps) Dialects(CompressionRecipe recipe, ClassifierNetwork network, CheckpointMetadata metadata,
        PlanDocument? plan, CalibrationDocument? calibration, string? source, IReadOnlyList<DistillerLayerStats>? statistics = null)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(metadata);
        var layers = network.Layers;
        // The same plan RecipeBuilder recorded: a plan file's, else the levels the model was fine-tuned at.
        var pruningPlan = recipe.Pruning is null ? PruningPlan.Default(layers, PruningMethod.Element)
            : plan is not null ? plan.Plan
            : PlanContent.ToPlan(layers, metadata.Lineage!.Levels!.Select(l => new PlanLevel(l.Layer, l.Level, l.Method)));
        // A plan measured one-shot has no epochs of its own: the fixed masks over finetune's default run.
        var recorded = recipe.Pruning?.Schedule;
        var schedule = new PruningScheduleSettings(recorded?.Kind == "agp" ? FineTuneSchedule.Agp : FineTuneSchedule.Fixed,
            recorded?.Epochs ?? FineTuneEpochs);
        var quantization = calibration is null ? null : new DialectQuantization(calibration.Thresholds.Choice, statistics);
        var files = DialectWriter.Files(DialectInputs.For(network, pruningPlan, schedule, quantization, PyTorchNaming.Sequential, source));
        var gaps = new List<RecipeGap>();
        if (calibration is not null && statistics is null)
            gaps.Add(new RecipeGap("dialects", $"no Distiller activation statistics ({DialectWriter.DistillerStatsFile}): a calibration file holds thresholds, not the statistics; " +
                $"write them with 'calibrate --stats-yaml FILE' and pass them to 'recipe export --stats-yaml FILE' (the dashboard does this from the workspace's calibration profile)"));
        return (files, gaps);
    }

    /// <summary>
    /// Writes the thinned network three ways: <see cref="RecipeThinning.CheckpointFile"/> (a CompressionLab checkpoint with
    /// widths and a <c>thin</c> lineage naming the recipe's weights and plan), <see cref="RecipeThinning.PyTorchModelFile"/>
    /// (the PyTorch twin at those widths) and <see cref="RecipeThinning.StateDictFile"/> (its weights under the twin's names).
    /// </summary>
    private static IReadOnlyList<string> ThinFiles(RecipePruning pruning, ThinnedNetwork thin, CheckpointMetadata metadata, string parentName, string folder)
    {
        var checkpoint = Path.Combine(folder, RecipeThinning.CheckpointFile);
        // No top-1 of its own: it computes what the masked network computes (to float rounding), which the recipe measured.
        var saved = Checkpoint.Save(thin.Model, checkpoint, metadata.Dataset, metadata.ClassNames, lineage: RecipeThinning.Lineage(pruning, metadata.ContentHash, parentName));
        var python = Path.Combine(folder, RecipeThinning.PyTorchModelFile);
        RecipeFile.WriteFile(python, PyTorchNames.Of(thin.Model, PyTorchNaming.Sequential).PythonSource());
        var header = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["source_weights_hash"] = metadata.ContentHash,
            ["thin_weights_hash"] = saved.ContentHash,
            ["dataset"] = metadata.Dataset,
            ["recipe_plan_hash"] = pruning.PlanHash,
        };
        var stateDict = PyTorchStateDict.Write(thin.Model, Path.Combine(folder, RecipeThinning.StateDictFile), PyTorchNaming.Sequential, header).Path;
        return [Path.GetFullPath(checkpoint), python, stateDict];
    }

    /// <summary>The recipe's model with its masks applied, as a CompressionLab checkpoint (written when the recipe prunes and is not thinned).</summary>
    public const string PrunedCheckpointFile = "model_pruned.ckpt";

    /// <summary>
    /// Writes <see cref="PrunedCheckpointFile"/>: the recipe's masks applied to the weights (then the weights restored), with a
    /// <c>prune</c> lineage naming the recipe's weights, plan and levels, so it loads, evaluates, sweeps, fine-tunes and
    /// exports like any model, and a recipe built from it again finds its levels.
    /// </summary>
    private static string PrunedCheckpoint(RecipePruning pruning, ClassifierNetwork network, CheckpointMetadata metadata, string parentName, string folder)
    {
        var path = Path.Combine(folder, PrunedCheckpointFile);
        var lineage = new CheckpointLineage(PruneOperation, metadata.ContentHash, parentName, pruning.PlanHash,
            [.. pruning.Layers.Select(l => new LineageLevel(l.Name, l.Level, l.Method))]);
        // No top-1 of its own in the metadata: the recipe's result is what it measures on the recipe's images.
        using (RecipeMasks.Apply(network, RecipeMasks.Reproduce(network, pruning)))
            Checkpoint.Save(network, path, metadata.Dataset, metadata.ClassNames, lineage: lineage);
        return Path.GetFullPath(path);
    }

    /// <summary>The lineage operation of <see cref="PrunedCheckpointFile"/>: masks applied once, no training after them.</summary>
    public const string PruneOperation = "prune";

    /// <summary>
    /// Writes <see cref="StateDictFile"/> (the weights as they are) and, when the recipe prunes, <see cref="PrunedStateDictFile"/>
    /// (the recipe's masks applied, then the weights restored), under the Sequential PyTorch names.
    /// </summary>
    private static IReadOnlyList<string> StateDicts(CompressionRecipe recipe, ClassifierNetwork network, CheckpointMetadata metadata, string folder)
    {
        var header = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["source_weights_hash"] = metadata.ContentHash,
            ["dataset"] = metadata.Dataset,
        };
        var paths = new List<string> { PyTorchStateDict.Write(network, Path.Combine(folder, StateDictFile), PyTorchNaming.Sequential, header).Path };
        if (recipe.Pruning is { Layers.Count: > 0 } pruning)
        {
            header["recipe_plan_hash"] = pruning.PlanHash;
            using (RecipeMasks.Apply(network, RecipeMasks.Reproduce(network, pruning)))
                paths.Add(PyTorchStateDict.Write(network, Path.Combine(folder, PrunedStateDictFile), PyTorchNaming.Sequential, header).Path);
        }
        return paths;
    }
}
