using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Workspace;
using Google.Protobuf;

namespace CompressionLab.Core.Export;

/// <summary>An ONNX export of a model: float32, or INT8 QDQ with thresholds calibrated by <see cref="Int8"/>.</summary>
/// <param name="Out">The .onnx file to write (replaced if it exists, only once the graph is built and checked).</param>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="Int8">Null: float32. Otherwise the quantization (method per layer, mode, float layers) calibrated on <see cref="Images"/>' calibration images.</param>
/// <param name="Images">Calibration images (INT8) and the images ORT and the engine are compared on; null: 512 and 2,000 validation images.</param>
/// <param name="Recipe">
/// A recipe for the model: its masks are applied to the exported weights and, for INT8, its recorded quantization
/// parameters are the thresholds (nothing is calibrated; <see cref="Int8"/> is then the recipe's choice, see <see cref="OnnxRecipe.Choice"/>).
/// </param>
public sealed record OnnxExportRequest(ModelSource Model, string Out, string? Dataset = null, QuantizationChoice? Int8 = null, Int8Images? Images = null,
    OnnxRecipe? Recipe = null)
{
    public Int8Images ImagesOrDefault => Images ?? new Int8Images();

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to export.");
        Model.Validate();
        if (string.IsNullOrWhiteSpace(Out)) throw new InvalidRequestException(nameof(Out), "Give the ONNX file to write.");
        if (Model is CheckpointFile { Path: var source } && string.Equals(Path.GetFullPath(source), Path.GetFullPath(Out), StringComparison.Ordinal))
            throw new InvalidRequestException(nameof(Out), "The ONNX file would replace the checkpoint it is exported from; write to another file.");
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to check the export on.");
        ImagesOrDefault.Validate();
        if (Recipe is { } recipe)
        {
            if (RecipeConsistency.Problems(recipe.Recipe).FirstOrDefault() is { } problem)
                throw new InvalidRequestException(nameof(Recipe), $"{recipe.Name} ({RecipeSourceMap.FieldName(problem.Pointer)}): {problem.Message}");
            if (Int8 is not null && recipe.Recipe.Quantization is null)
                throw new InvalidRequestException(nameof(Recipe),
                    $"{recipe.Name} has no quantization section, so it gives no INT8 parameters: export it without --int8, or export the recipe again with a calibration.");
        }
    }
}

/// <summary>A recipe an ONNX export follows: its masks, and its recorded INT8 parameters.</summary>
/// <param name="Name">The recipe's file name, for messages.</param>
public sealed record OnnxRecipe(CompressionRecipe Recipe, string Name)
{
    /// <summary>The recipe's quantization choice; null when it has no quantization section.</summary>
    public QuantizationChoice? Choice => Recipe.Quantization is { } q ? RecipeThresholds.ToThresholds(q).Choice : null;
}

/// <summary>A written ONNX file and its check in ONNX Runtime against the engine on the same images (fractions).</summary>
/// <param name="Quantization"><c>float32</c>, or the INT8 choice's key (<see cref="QuantizationChoice.Key"/>).</param>
/// <param name="CalibrationSubset">The calibration images' subset key (INT8 only).</param>
/// <param name="WithinTolerance">Float: max |Δlogit| ≤ 1e-4; INT8: |ORT top-1 − simulated top-1| ≤ 0.3 points.</param>
/// <param name="Widths">
/// The exported graph's output channels per layer when it is thinner than the checkpoint (a filter recipe's masks cut out,
/// <see cref="RecipeThinning"/>); the check then compares it with the checkpoint's network with the masks applied. Null otherwise.
/// </param>
public sealed record OnnxExportOutcome(
    string Out,
    string Quantization,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string EvaluationSubset,
    string? CalibrationSubset,
    OnnxCheck Check,
    long OnnxBytes,
    long CheckpointBytes,
    bool WithinTolerance,
    double Seconds,
    IReadOnlyDictionary<string, int>? Widths = null);

/// <summary>
/// Exports a model to ONNX and checks the file in ONNX Runtime, as a job: the float graph against the engine's evaluation,
/// the INT8 QDQ graph against <see cref="Int8Simulation"/> with the same thresholds, on the same images.
/// </summary>
public static class OnnxExportJob
{
    public const string Kind = "onnx-export";

    /// <param name="store">Resolves a workspace model; may be null for a checkpoint file.</param>
    /// <param name="profiles">Where calibration statistics are read back and kept (null: collected every time).</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset (subset sizes, the choice's layers).</exception>
    public static OnnxExportOutcome Run(
        OnnxExportRequest request,
        DatasetCatalog catalog,
        ModelStore? store,
        CalibrationProfileStore? profiles,
        Guid? jobId,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var images = request.ImagesOrDefault;
        var evaluation = AnalysisSubset.ForRequest(dataset, images.EvaluationPart, images.EvaluationSize, nameof(Int8Images.EvaluationSize));
        progress.Report(0.05, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = model.Load(evaluation.Images, dataset.Name, "exported");
        QuantizationThresholds? thresholds = null;
        string? calibrationKey = null;
        IReadOnlyList<PruningMask> masks = [];
        if (request.Recipe is { } recipe)
        {
            // The recipe's model only, as recipe apply checks it: every difference is named and nothing is written.
            if (RecipeApplyJob.Differences(recipe.Recipe.Provenance, checkpoint.Metadata, checkpoint.Model.Layers) is { Count: > 0 } differences)
                throw new InvalidRequestException(nameof(OnnxExportRequest.Recipe),
                    $"{recipe.Name} is for another model than {model.DisplayName}: {string.Join("; ", differences)}. Nothing was exported.");
            try
            {
                masks = recipe.Recipe.Pruning is { } pruning ? RecipeMasks.Reproduce(checkpoint.Model, pruning) : [];
            }
            catch (RecipeMaskMismatchException e)
            {
                throw new InvalidRequestException(nameof(OnnxExportRequest.Recipe), $"{recipe.Name} ({RecipeSourceMap.FieldName(e.Pointer)}): {e.Message} Nothing was exported.", e);
            }
            if (request.Int8 is not null) thresholds = RecipeThresholds.ToThresholds(recipe.Recipe.Quantization!);
            calibrationKey = recipe.Recipe.Quantization?.Calibration.Subset;
        }
        else if (request.Int8 is { } choice)
        {
            choice.Validate([.. checkpoint.Model.Layers.Select(l => l.Name)]);
            var calibration = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, images.CalibrationSize, nameof(Int8Images.CalibrationSize));
            calibrationKey = calibration.Key;
            var key = new CalibrationProfileKey(checkpoint.Metadata.ContentHash, dataset.Name, calibration.Key);
            var profile = profiles?.Find(key);
            if (profile is null)
            {
                progress.Report(0.1, string.Create(CultureInfo.InvariantCulture, $"Calibrating on {calibration.Count:N0} validation images"));
                profile = CalibrationCollector.Collect(checkpoint.Model, checkpoint.Metadata.ContentHash, dataset.Name, calibration, cancellationToken: cancellationToken);
                profiles?.Save(profile, jobId);
            }
            thresholds = QuantizationThresholds.For(profile, choice);
        }
        // A filter recipe is exported thinned: its masks cut out of the network, so the graph has fewer channels and the
        // INT8 weight scales are those of the kept channels. Masks that cannot be cut out are exported as zeros, as before.
        using var thin = request.Recipe is { } thinRecipe ? RecipeThinning.TryThin(thinRecipe.Recipe, checkpoint.Model, masks).Thin : null;
        // The masks stay applied through the export and its check (the engine's side runs the same masked weights, which
        // the thin graph must reproduce); the checkpoint's weights are restored afterwards.
        using var masked = RecipeMasks.Apply(checkpoint.Model, masks);
        var outcome = thin is null
            ? Export(checkpoint, thresholds, evaluation, request.Out, progress, cancellationToken)
            : Export(checkpoint, thresholds, thin.Model, thresholds is null ? null : RecipeThinning.Thresholds(thresholds, thin), evaluation, request.Out, progress, cancellationToken);
        return outcome with { Dataset = dataset.Name, CalibrationSubset = calibrationKey };
    }

    /// <summary>
    /// The export itself, for any source of thresholds (a calibration here, a recipe's recorded ones elsewhere): builds
    /// the graph (float when <paramref name="thresholds"/> is null), checks it in ONNX Runtime on
    /// <paramref name="evaluation"/>, then writes <paramref name="out"/> (through a temporary file, so a failure leaves
    /// any earlier file as it was).
    /// </summary>
    public static OnnxExportOutcome Export(Checkpoint checkpoint, QuantizationThresholds? thresholds, AnalysisSubset evaluation, string @out, IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return Export(checkpoint, thresholds, checkpoint.Model, thresholds, evaluation, @out, progress, cancellationToken);
    }

    /// <summary>
    /// The export of <paramref name="exported"/> (the checkpoint's network, or a thinned equivalent of it with
    /// <paramref name="exportedThresholds"/> for its channels), checked in ONNX Runtime against the checkpoint's network
    /// as it is (with any masks applied) and <paramref name="thresholds"/>: the file must compute what that network computes.
    /// </summary>
    private static OnnxExportOutcome Export(Checkpoint checkpoint, QuantizationThresholds? thresholds, ClassifierNetwork exported, QuantizationThresholds? exportedThresholds,
        AnalysisSubset evaluation, string @out, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(evaluation);
        ArgumentNullException.ThrowIfNull(progress);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var network = checkpoint.Model;
        var thinned = !ReferenceEquals(exported, network);
        progress.Report(0.3, (thresholds is null ? "Building the float32 ONNX graph" : "Building the INT8 QDQ ONNX graph") + (thinned ? " of the thinned network" : ""));
        var bytes = (exportedThresholds is null ? OnnxExport.Float(exported) : OnnxExport.Int8(exported, exportedThresholds)).ToByteArray();
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.4, string.Create(CultureInfo.InvariantCulture,
            $"Running it in ONNX Runtime and {(thresholds is null ? "the engine" : "the INT8 simulation")} on {evaluation.Count:N0} {AnalysisSubset.PartName(evaluation.Part)} images"));
        OnnxCheck check;
        using (var onnx = OnnxInference.Load(bytes))
        {
            check = thresholds is null
                ? OnnxValidation.Float(onnx, network, evaluation.Images, cancellationToken)
                : OnnxValidation.Int8(onnx, network, thresholds, evaluation.Images, cancellationToken);
        }
        var within = thresholds is null
            ? check.MaxAbsDiff <= OnnxValidation.FloatTolerance
            : Math.Abs(check.OrtTop1 - check.TorchSharpTop1) <= OnnxValidation.Int8Top1Tolerance + 1e-12;

        var full = Path.GetFullPath(@out);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.WriteAllBytes(full, bytes);
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Wrote {full} ({bytes.Length:N0} bytes): ORT top-1 {check.OrtTop1 * 100:0.00}%, {(thresholds is null ? "TorchSharp" : "simulated INT8")} {check.TorchSharpTop1 * 100:0.00}%, max |Δlogit| {check.MaxAbsDiff:0.###e+0}"));
        return new OnnxExportOutcome(full, thresholds?.Choice.Key ?? "float32", network.Architecture, checkpoint.Metadata.ContentHash, "", evaluation.Key, null, check,
            bytes.Length, new FileInfo(checkpoint.FilePath).Length, within, clock.Elapsed.TotalSeconds, thinned ? exported.Widths : null);
    }
}

/// <summary>Starts ONNX exports as jobs with their parameters recorded: the dashboard's way to run <see cref="OnnxExportJob.Run"/>, the body <c>export onnx</c> calls.</summary>
public sealed class OnnxJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, CalibrationProfileStore profiles)
{
    /// <summary>Queues the export; its result is the <see cref="OnnxExportOutcome"/> as JSON (<see cref="ModelJobJson"/>).</summary>
    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense (<see cref="InvalidRequestException"/>).</exception>
    public JobSnapshot StartExport(OnnxExportRequest request, JobLinks? links = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        var images = request.ImagesOrDefault;
        var parameters = new System.Text.Json.Nodes.JsonObject
        {
            ["model"] = System.Text.Json.JsonSerializer.SerializeToNode<ModelSource>(request.Model, ModelJobJson.Options),
            ["out"] = Path.GetFullPath(request.Out),
            ["dataset"] = request.Dataset ?? model.Dataset,
            ["quantization"] = request.Int8?.Key ?? "float32",
            ["recipe"] = request.Recipe?.Name,
            ["evaluationPart"] = AnalysisSubset.PartName(images.EvaluationPart),
            ["evaluationSize"] = images.EvaluationSize,
            ["calibrationSize"] = request.Int8 is not null && request.Recipe is null ? images.CalibrationSize : null,
        };
        var title = $"Export ONNX {(request.Int8 is null ? "float32" : "INT8")}{(request.Recipe is null ? "" : " with the recipe")} · {model.DisplayName}";
        return scheduler.Enqueue(OnnxExportJob.Kind, title, parameters.ToJsonString(ModelJobJson.Options),
            (job, cancellationToken) => Task.FromResult<string?>(ModelJobJson.Write(OnnxExportJob.Run(request, catalog, store, profiles, job.Id, job.Progress, cancellationToken))),
            links);
    }

    /// <summary>The outcome a finished export job recorded.</summary>
    /// <exception cref="System.Text.Json.JsonException">The result is not an export's.</exception>
    public static OnnxExportOutcome ReadResult(string resultJson) => ModelJobJson.Read<OnnxExportOutcome>(resultJson);
}
