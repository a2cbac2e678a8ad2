using System.Collections.Concurrent;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Recipe;

namespace CompressionLab.Web.Services;

/// <summary>The result of a dashboard recipe build: the folder it wrote into and the file names, in the export's order.</summary>
public sealed record RecipeBuildResult(string Folder, IReadOnlyList<string> Files);

/// <summary>
/// The app's <see cref="RecipeBackend"/>. A build writes the chosen workspace inputs as the files <c>recipe export</c>
/// reads (the plan as a plan file, the calibration profile with the chosen method as a calibration file, the distilled
/// parent's checkpoint) and runs the export job's own body (<see cref="RecipeExportJob"/>) into
/// <c>&lt;workspace&gt;/recipes/build-&lt;hash of the choice&gt;/</c> (<see cref="BuildFolderName"/>: a rebuild of the same choice
/// replaces its files), so the dashboard's recipe is the CLI's to the byte. Applying goes through
/// <see cref="RecipeJobs"/>.
/// </summary>
public sealed class WorkspaceRecipeBackend(
    IJobScheduler scheduler,
    RecipeJobs recipes,
    DatasetCatalog catalog,
    ModelStore store,
    WorkspaceDatabase database,
    PlanEvaluationStore planEvaluations,
    CalibrationProfileStore calibrationProfiles,
    PlanProfileLoader planProfiles) : RecipeBackend
{
    // Workspace checkpoints are named by their content and never change, so each header is read once.
    private readonly ConcurrentDictionary<string, CheckpointMetadata> metadata = new();

    public override RecipeSources Sources(ModelRecord model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var header = Metadata(model);
        var plans = planEvaluations.List(header.ContentHash);
        var calibrations = calibrationProfiles.List(header.ContentHash).Select(k => new RecipeCalibrationOption(k, ImagesOf(k.Subset))).ToList();
        return new RecipeSources(header.ContentHash, header.Lineage, plans, calibrations, Distillation(model, header));
    }

    public override JobSnapshot StartBuild(RecipeBuildChoice choice)
    {
        ArgumentNullException.ThrowIfNull(choice);
        if (choice.SubsetSize < 1) throw new InvalidRequestException(nameof(RecipeExportRequest.SubsetSize), $"The recipe is measured on at least one image (got {choice.SubsetSize}).");
        _ = QuantizationChoice.Parse("symmetric", choice.CalibrationMethod); // a bad method is refused now, not in the job
        var parameters = new System.Text.Json.Nodes.JsonObject
        {
            ["model"] = choice.Model.Id.ToString(),
            ["plan"] = choice.Plan?.PlanHash,
            ["calibration"] = choice.Calibration?.Subset,
            ["calibrationMethod"] = choice.Calibration is null ? null : choice.CalibrationMethod,
            ["distillation"] = choice.Distillation?.ToString(),
            ["subsetSize"] = choice.SubsetSize,
        };
        return scheduler.Enqueue(BuildKind, $"Build recipe · {choice.Model.DisplayName}", parameters.ToJsonString(ModelJobJson.Options),
            (job, cancellationToken) => Task.FromResult<string?>(ModelJobJson.Write(Run(choice, job, cancellationToken))),
            new JobLinks(Subject: choice.Model.Id));
    }

    public override BuiltRecipe ReadBuild(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var result = ModelJobJson.Read<RecipeBuildResult>(job.ResultJson ?? throw new IOException($"The build job {job.Id} has no result."));
        // The page offers text files; the safetensors state dicts and the thinned checkpoint (binary) are in the folder for the CLI and the file system.
        var files = result.Files.Where(name => !name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) && !name.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase)).Select(name => new RecipeFileText(name, MediaType(name), File.ReadAllText(Path.Combine(result.Folder, name)))).ToList();
        var yaml = files.First(f => f.FileName == RecipeFile.YamlFileName);
        return new BuiltRecipe(RecipeFile.Parse(yaml.Text, yaml.FileName), files);
    }

    public override JobSnapshot StartApply(ModelRecord model, RecipeDocument document, string fileName)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(document);
        return recipes.StartApply(new RecipeApplyRequest(new StoredModel(model.Id), document.Recipe, fileName, Lines: document.Lines));
    }

    private RecipeBuildResult Run(RecipeBuildChoice choice, JobContext job, CancellationToken cancellationToken)
    {
        var folder = database.PathInside(Path.Combine("recipes", BuildFolderName(choice)));
        // One build of a choice at a time (the scheduler may run several jobs at once): they would write the same files.
        lock (BuildLocks.GetOrAdd(folder, _ => new object()))
            return Build(choice, folder, job, cancellationToken);
    }

    private static readonly ConcurrentDictionary<string, object> BuildLocks = new(StringComparer.Ordinal);

    /// <summary>
    /// The build folder's name: a hash of the whole choice (model, plan, calibration and method, distillation, images), so
    /// building the same choice again replaces its files in place instead of leaving one folder per job in the workspace.
    /// The same inputs give the same files (the same weights measured on the same images), so an earlier job of the choice
    /// reads equivalent files — only the recipe's <c>created_at</c> is the newer build's.
    /// </summary>
    public static string BuildFolderName(RecipeBuildChoice choice)
    {
        ArgumentNullException.ThrowIfNull(choice);
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(choice, ModelJobJson.Options);
        return "build-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(json))[..16];
    }

    private RecipeBuildResult Build(RecipeBuildChoice choice, string folder, JobContext job, CancellationToken cancellationToken)
    {
        var inputs = Path.Combine(folder, "inputs");
        Directory.CreateDirectory(inputs);
        string? planFile = null;
        if (choice.Plan is { } planKey)
        {
            var evaluation = planEvaluations.Find(planKey)
                ?? throw new InvalidRequestException("PlanFile", $"The plan {RecipeText.Short(planKey.PlanHash)} is no longer in the workspace.");
            var profile = planProfiles(ResolvedModel.Of(choice.Model));
            planFile = Path.Combine(inputs, "plan.json");
            PlanFile.Write(planFile, new PlanDocument(profile.Model, PlanContent.ToPlan(profile.Layers, evaluation.Levels)), profile.Layers);
        }
        string? calibrationFile = null;
        if (choice.Calibration is { } calibrationKey)
        {
            var profile = calibrationProfiles.Find(calibrationKey)
                ?? throw new InvalidRequestException("CalibrationFile", "The calibration profile is no longer in the workspace; collect it again on the Quantization page.");
            var thresholds = QuantizationThresholds.For(profile, QuantizationChoice.Parse("symmetric", choice.CalibrationMethod));
            calibrationFile = Path.Combine(inputs, CalibrationFile.FileName(profile) + ".json");
            CalibrationFile.Write(calibrationFile, thresholds, profile);
        }
        var distillationFile = choice.Distillation is { } parent ? store.GetRequired(parent).FilePath : null;
        var outcome = RecipeExportJob.Run(
            new RecipeExportRequest(new StoredModel(choice.Model.Id), folder, planFile, calibrationFile, distillationFile, SubsetSize: choice.SubsetSize),
            catalog, store, job.Progress, cancellationToken);
        return new RecipeBuildResult(folder, [.. outcome.Files.Select(Path.GetFileName).OfType<string>()]);
    }

    private CheckpointMetadata Metadata(ModelRecord model) => metadata.GetOrAdd(model.FilePath, Checkpoint.ReadMetadata);

    /// <summary>The distilled checkpoint: the model itself, or its parent when the workspace holds it and it was distilled.</summary>
    private RecipeDistillationSource? Distillation(ModelRecord model, CheckpointMetadata header)
    {
        if (header.Lineage is { Operation: "distill" } own)
            return new RecipeDistillationSource(model.Id, model.DisplayName, false, own.Objective ?? "", own.Teachers?.Count ?? 1);
        if (header.Lineage is not { } lineage) return null;
        foreach (var candidate in store.List().Where(m => m.Id != model.Id && m.Architecture == model.Architecture))
        {
            CheckpointMetadata other;
            try
            {
                other = Metadata(candidate);
            }
            catch (CheckpointException)
            {
                continue;
            }
            if (other.ContentHash == lineage.ParentWeightsHash && other.Lineage is { Operation: "distill" } distilled)
                return new RecipeDistillationSource(candidate.Id, candidate.DisplayName, true, distilled.Objective ?? "", distilled.Teachers?.Count ?? 1);
        }
        return null;
    }

    /// <summary>"validation/stratified-512/…" → 512 (the subset key states its size; <see cref="AnalysisSubset"/>).</summary>
    private static int ImagesOf(string subset)
    {
        var part = subset.Split('/').FirstOrDefault(p => p.StartsWith("stratified-", StringComparison.Ordinal));
        return part is not null && int.TryParse(part["stratified-".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
    }

    private static string MediaType(string fileName) => Path.GetExtension(fileName).ToLowerInvariant() switch
    {
        ".yaml" or ".yml" => "application/x-yaml",
        ".json" => "application/json",
        _ => "text/plain",
    };
}
