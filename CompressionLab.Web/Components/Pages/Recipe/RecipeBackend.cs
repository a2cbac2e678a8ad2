using System.Globalization;
using CompressionLab.Core.Export;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Reports;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Web.Components.Pages.Recipe;

/// <summary>A calibration profile the workspace holds for a model's weights: what a quantization section can be made from.</summary>
/// <param name="Key">The profile's identity in the workspace.</param>
/// <param name="Images">Calibration images it was collected on.</param>
public sealed record RecipeCalibrationOption(CalibrationProfileKey Key, int Images);

/// <summary>The distilled checkpoint a recipe's distillation section comes from: the model itself, or its parent in the workspace.</summary>
/// <param name="ModelId">The workspace model holding the distilled checkpoint (the chosen model itself or its parent).</param>
/// <param name="IsParent">The chosen model was made from the distilled one (fine-tuned or thinned after distillation).</param>
/// <param name="Teachers">How many teachers its lineage names.</param>
public sealed record RecipeDistillationSource(Guid ModelId, string Name, bool IsParent, string Objective, int Teachers);

/// <summary>
/// What the workspace holds for one model that a recipe can contain: its weights hash and lineage, the plans evaluated
/// for these weights, the calibration profiles collected on them, and the distilled checkpoint it is or comes from.
/// </summary>
/// <param name="Lineage">How the model was made from another; null for a model trained from scratch or imported.</param>
/// <param name="Plans">Evaluated plans of these weights, newest first.</param>
public sealed record RecipeSources(
    string WeightsHash,
    CheckpointLineage? Lineage,
    IReadOnlyList<StoredPlanEvaluation> Plans,
    IReadOnlyList<RecipeCalibrationOption> Calibrations,
    RecipeDistillationSource? Distillation);

/// <summary>What the person chose to put into the recipe.</summary>
/// <param name="Plan">An evaluated plan of the model's weights; null: the lineage's levels, if any (else no pruning).</param>
/// <param name="Calibration">A stored calibration profile; null: no quantization section (a gap).</param>
/// <param name="CalibrationMethod">The clipping method for every layer's input (<c>ClippingMethod.Parse</c> text).</param>
/// <param name="Distillation">The distilled checkpoint when it is the model's parent (the model's own lineage is read anyway).</param>
/// <param name="SubsetSize">Validation images the recipe is measured on.</param>
public sealed record RecipeBuildChoice(
    ModelRecord Model,
    PlanEvaluationKey? Plan,
    CalibrationProfileKey? Calibration,
    string CalibrationMethod,
    Guid? Distillation,
    int SubsetSize);

/// <summary>
/// One file a finished job wrote, offered for download: served by the app from the workspace
/// (<c>GET /recipes/{job}/{file}</c>, <see cref="RecipeBackend.DownloadPath"/>), so binary files (safetensors, ONNX) of any
/// size download as they are, never through the page's connection.
/// </summary>
/// <param name="Bytes">The file's size on disk.</param>
public sealed record RecipeDownload(string FileName, long Bytes, string Href)
{
    /// <summary>"recipe.yaml" → "download-recipe-yaml" (the page's test id).</summary>
    public string TestId => "download-" + FileName.Replace('.', '-');

    /// <summary>The size as a person reads it: "1.2 kB", "686.8 kB", "1.3 MB" (decimal units, as file managers show).</summary>
    public string Size => SizeOf(Bytes);

    public static string SizeOf(long bytes) => bytes switch
    {
        < 1000 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:0.0} kB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.0} MB"),
    };

    /// <summary>Where the app serves a job's file.</summary>
    public static string HrefOf(Guid jobId, string fileName) =>
        string.Create(CultureInfo.InvariantCulture, $"/recipes/{jobId:D}/{Uri.EscapeDataString(fileName)}");
}

/// <summary>A recipe built by the export job: its record (measured numbers, gaps) and every file written, in the export's order.</summary>
public sealed record BuiltRecipe(CompressionRecipe Recipe, IReadOnlyList<RecipeDownload> Files);

/// <summary>A finished ONNX export of a built recipe: the job body's outcome (ORT beside the engine) and the file.</summary>
public sealed record RecipeOnnxExport(OnnxExportOutcome Outcome, RecipeDownload File);

/// <summary>A finished report: what <c>report --json</c> would print, and the file.</summary>
public sealed record RecipeReport(ReportJobResult Result, RecipeDownload File);

/// <summary>
/// What the Recipe page needs of the engine: what the workspace holds for a model, the export job (build and measure a
/// recipe) and the apply job. The app's implementation calls Core (<see cref="RecipeExportJob"/>, <see cref="RecipeJobs"/>);
/// tests give their own, so the page renders with no TorchSharp.
/// </summary>
public abstract class RecipeBackend
{
    /// <summary>The job kind of a recipe build from the dashboard.</summary>
    public const string BuildKind = "recipe-export";

    public bool Follows(string kind) => kind is BuildKind or RecipeApplyJob.Kind or OnnxExportJob.Kind or ReportJobs.Kind;

    /// <exception cref="CheckpointException">The model's checkpoint cannot be read.</exception>
    public abstract RecipeSources Sources(ModelRecord model);

    /// <summary>Queues the build: the recipe measured on the choice's images and written as files.</summary>
    /// <exception cref="ArgumentException">The choice makes no sense (an <see cref="InvalidRequestException"/> names the setting).</exception>
    public abstract JobSnapshot StartBuild(RecipeBuildChoice choice);

    /// <summary>The recipe a finished build job wrote.</summary>
    /// <exception cref="IOException">The files are gone (the workspace was cleaned).</exception>
    public abstract BuiltRecipe ReadBuild(JobSnapshot job);

    /// <summary>Queues applying <paramref name="document"/> to a workspace model (<see cref="RecipeJobs.StartApply"/>).</summary>
    /// <exception cref="ArgumentException">The request makes no sense (an <see cref="InvalidRequestException"/> names the setting).</exception>
    public abstract JobSnapshot StartApply(ModelRecord model, RecipeDocument document, string fileName);

    public static RecipeApplyJobResult ReadApply(string resultJson) => RecipeApplyJobResult.FromJson(resultJson);

    /// <summary>
    /// Queues the ONNX export of the recipe <paramref name="build"/> wrote (<see cref="OnnxJobs"/>, the job body of
    /// <c>export onnx --recipe</c>): its masks applied, with <paramref name="int8"/> its recorded INT8 grids, checked in ONNX
    /// Runtime on the images the recipe was measured on.
    /// </summary>
    /// <exception cref="ArgumentException">The request makes no sense (an <see cref="InvalidRequestException"/> names the setting, e.g. no quantization section for INT8).</exception>
    public abstract JobSnapshot StartOnnx(ModelRecord model, JobSnapshot build, bool int8);

    /// <summary>The outcome and file of a finished ONNX export.</summary>
    /// <exception cref="IOException">The file is gone.</exception>
    public abstract RecipeOnnxExport ReadOnnx(JobSnapshot job);

    /// <summary>Queues the report of the choice's model (<see cref="ReportJobs"/>, the CLI's <c>report</c>), with its plan and calibration method.</summary>
    /// <exception cref="ArgumentException">The request makes no sense (an <see cref="InvalidRequestException"/> names the setting).</exception>
    public abstract JobSnapshot StartReport(RecipeBuildChoice choice);

    /// <exception cref="IOException">The file is gone.</exception>
    public abstract RecipeReport ReadReport(JobSnapshot job);

    /// <summary>
    /// The file <paramref name="fileName"/> of a finished build, ONNX export or report job, when the job wrote it and it is
    /// still there; null otherwise (only names the job lists are served, so no other file of the workspace can be asked for).
    /// </summary>
    public abstract string? DownloadPath(JobSnapshot job, string fileName);

    /// <summary>The media type a download is served with.</summary>
    public static string MediaType(string fileName) => Path.GetExtension(fileName).ToLowerInvariant() switch
    {
        ".yaml" or ".yml" => "application/x-yaml",
        ".json" => "application/json",
        ".html" => "text/html",
        ".py" => "text/x-python",
        _ => "application/octet-stream",
    };
}
