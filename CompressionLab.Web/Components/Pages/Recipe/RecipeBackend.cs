using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Recipes;
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

/// <summary>One file of a built recipe, with its text (a recipe is small: it is offered to the browser as is).</summary>
public sealed record RecipeFileText(string FileName, string MediaType, string Text);

/// <summary>A recipe built by the export job: its record (measured numbers, gaps) and every file written.</summary>
public sealed record BuiltRecipe(CompressionRecipe Recipe, IReadOnlyList<RecipeFileText> Files);

/// <summary>
/// What the Recipe page needs of the engine: what the workspace holds for a model, the export job (build and measure a
/// recipe) and the apply job. The app's implementation calls Core (<see cref="RecipeExportJob"/>, <see cref="RecipeJobs"/>);
/// tests give their own, so the page renders with no TorchSharp.
/// </summary>
public abstract class RecipeBackend
{
    /// <summary>The job kind of a recipe build from the dashboard.</summary>
    public const string BuildKind = "recipe-export";

    public bool Follows(string kind) => kind is BuildKind or RecipeApplyJob.Kind;

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
}
