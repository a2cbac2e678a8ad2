using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Recipes;

/// <summary>Export a model's recipe into a folder (recipe.yaml, recipe.json and the registered dialects).</summary>
/// <param name="PlanFile">A plan file for the model's weights; null: the model's lineage levels, if any.</param>
/// <param name="CalibrationFile">A calibration file of the model's weights (<see cref="Quantization.CalibrationFile"/>); null: a gap.</param>
/// <param name="DistillationFile">The distilled checkpoint the model is or was made from; null: the model's own lineage.</param>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="SubsetSize">Validation images the recipe is measured on (<see cref="AnalysisSubset"/>).</param>
public sealed record RecipeExportRequest(
    ModelSource Model,
    string OutputFolder,
    string? PlanFile = null,
    string? CalibrationFile = null,
    string? DistillationFile = null,
    string? Dataset = null,
    int SubsetSize = AnalysisSubset.DefaultSize)
{
    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose the model whose recipe to export.");
        Model.Validate();
        if (string.IsNullOrWhiteSpace(OutputFolder)) throw new InvalidRequestException(nameof(OutputFolder), "Choose a folder to write the recipe into.");
        foreach (var (setting, file) in new[] { (nameof(PlanFile), PlanFile), (nameof(CalibrationFile), CalibrationFile), (nameof(DistillationFile), DistillationFile) })
            if (file is not null && !File.Exists(file)) throw new InvalidRequestException(setting, $"File not found: {Path.GetFullPath(file)}.");
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to measure on.");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The recipe is measured on at least one image (got {SubsetSize}).");
    }
}

/// <summary>The recipe written and where.</summary>
public sealed record RecipeExportOutcome(CompressionRecipe Recipe, IReadOnlyList<string> Files, double Seconds);

/// <summary>
/// Builds a model's recipe from its checkpoint and the files given (<see cref="RecipeBuilder"/>), measures it, and writes
/// recipe.yaml, recipe.json and every <see cref="RecipeDialects.All"/> into the output folder. Inputs are all read and
/// checked before anything is written, so a refused input leaves the folder as it was.
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
        Directory.CreateDirectory(folder);
        var texts = new List<(string File, string Text)>
        {
            (Path.Combine(folder, RecipeFile.YamlFileName), RecipeFile.ToYaml(recipe)),
            (Path.Combine(folder, RecipeFile.JsonFileName), RecipeFile.ToJson(recipe)),
        };
        foreach (var dialect in RecipeDialects.All)
            if (dialect.Write(recipe) is { } text) texts.Add((Path.Combine(folder, dialect.FileName), text));
        foreach (var (file, text) in texts) RecipeFile.WriteFile(file, text);

        var result = recipe.Results!;
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Recipe written: top-1 {result.Baseline.Top1 * 100:0.00}% → {result.Result.Top1 * 100:0.00}%, sparsity {result.Compressed.Sparsity * 100:0.0}%{(recipe.Gaps.Count > 0 ? $"; gaps: {string.Join(", ", recipe.Gaps.Select(g => g.Section))}" : "")}"));
        return new RecipeExportOutcome(recipe, [.. texts.Select(t => t.File)], clock.Elapsed.TotalSeconds);
    }
}
