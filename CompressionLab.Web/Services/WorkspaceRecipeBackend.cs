using System.Collections.Concurrent;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Export;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Reports;
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
/// <see cref="RecipeJobs"/>, the ONNX export through <see cref="OnnxJobs"/> (the body of <c>export onnx --recipe</c>) into
/// the build's folder, and the report through <see cref="ReportJobs"/> (the body of <c>report</c>) into
/// <c>&lt;workspace&gt;/reports/&lt;id&gt;/</c>.
/// </summary>
public sealed class WorkspaceRecipeBackend(
    IJobScheduler scheduler,
    RecipeJobs recipes,
    OnnxJobs onnx,
    ReportJobs reports,
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
        var result = BuildResult(job);
        // Every file the export wrote, text and binary (the state dicts), in its order; the app serves them from the folder.
        var files = result.Files.Select(name => new RecipeDownload(name, new FileInfo(Path.Combine(result.Folder, name)).Length, RecipeDownload.HrefOf(job.Id, name))).ToList();
        return new BuiltRecipe(ReadRecipe(result), files);
    }

    public override JobSnapshot StartApply(ModelRecord model, RecipeDocument document, string fileName)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(document);
        return recipes.StartApply(new RecipeApplyRequest(new StoredModel(model.Id), document.Recipe, fileName, Lines: document.Lines));
    }

    public override JobSnapshot StartOnnx(ModelRecord model, JobSnapshot build, bool int8)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(build);
        var result = BuildResult(build);
        var recipe = ReadRecipe(result);
        var onnxRecipe = new OnnxRecipe(recipe, RecipeFile.YamlFileName);
        // Float32 or the recipe's recorded INT8 grids (no quantization section: the request refuses it, naming the recipe).
        var choice = int8 ? onnxRecipe.Choice ?? QuantizationChoice.Parse("symmetric", "entropy") : null;
        var images = recipe.Results is { } measured
            ? new Int8Images(EvaluationPart: measured.Images.Part == AnalysisSubset.PartName(SplitPart.Test) ? SplitPart.Test : SplitPart.Validation, EvaluationSize: measured.Images.Count)
            : null;
        var file = Path.Combine(result.Folder, "onnx", $"{recipe.Provenance.Architecture}.{(int8 ? "int8" : "float32")}.onnx");
        return onnx.StartExport(new OnnxExportRequest(new StoredModel(model.Id), file, recipe.Results?.Images.Dataset, choice, images, onnxRecipe), new JobLinks(Subject: model.Id));
    }

    public override RecipeOnnxExport ReadOnnx(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var outcome = OnnxJobs.ReadResult(job.ResultJson ?? throw new IOException($"The export job {job.Id} has no result."));
        var name = Path.GetFileName(outcome.Out);
        return new RecipeOnnxExport(outcome, new RecipeDownload(name, new FileInfo(outcome.Out).Length, RecipeDownload.HrefOf(job.Id, name)));
    }

    public override JobSnapshot StartReport(RecipeBuildChoice choice)
    {
        ArgumentNullException.ThrowIfNull(choice);
        var plan = choice.Plan is { } key ? planEvaluations.Find(key) : null;
        var images = choice.Calibration is { } calibration ? ImagesOf(calibration.Subset) : 0;
        var request = new ReportRequest(new StoredModel(choice.Model.Id), choice.Model.Dataset,
            CalibrationMethod: choice.Calibration is null ? null : choice.CalibrationMethod,
            Teachers: TeachersOf(choice.Model),
            SubsetSize: plan?.SubsetSize ?? choice.SubsetSize,
            CalibrationSize: images > 0 ? images : CalibrationRequest.DefaultSubsetSize);
        var name = "report-" + Path.GetFileNameWithoutExtension(CompressionLabWebExtensions.CheckpointFileName(choice.Model)) + ".html";
        var file = database.PathInside(Path.Combine("reports", Guid.CreateVersion7().ToString("N"), name));
        // The stored plan becomes the plan the report measures (read back from the workspace when its images are the same);
        // made on the job's thread, since it reads the model's layers.
        return reports.StartReport(request, file, plan is null ? null : r =>
        {
            var profile = planProfiles(ResolvedModel.Of(choice.Model));
            return r with { Plan = PlanContent.ToPlan(profile.Layers, plan.Levels), PlanName = $"plan {RecipeText.Short(plan.Key.PlanHash)} (Pruning plan page)" };
        }, new JobLinks(Subject: choice.Model.Id));
    }

    public override RecipeReport ReadReport(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var result = ReportJobs.ReadResult(job.ResultJson ?? throw new IOException($"The report job {job.Id} has no result."));
        var name = Path.GetFileName(result.Out);
        return new RecipeReport(result, new RecipeDownload(name, new FileInfo(result.Out).Length, RecipeDownload.HrefOf(job.Id, name)));
    }

    public override string? DownloadPath(JobSnapshot job, string fileName) => FileOf(job, fileName);

    /// <summary>
    /// The file <paramref name="fileName"/> a finished build, ONNX export or report job lists in its result, when it still
    /// exists; null for any other name (a path, "..", a file of the folder the job did not write), job state or kind.
    /// </summary>
    public static string? FileOf(JobSnapshot job, string fileName)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job is not { State: JobState.Succeeded, ResultJson: { } json } || string.IsNullOrEmpty(fileName)) return null;
        try
        {
            var path = job.Kind switch
            {
                BuildKind => ModelJobJson.Read<RecipeBuildResult>(json) is var build && build.Files.Contains(fileName, StringComparer.Ordinal) ? Path.Combine(build.Folder, fileName) : null,
                OnnxExportJob.Kind => OnnxJobs.ReadResult(json).Out is var out1 && Path.GetFileName(out1) == fileName ? out1 : null,
                ReportJobs.Kind => ReportJobs.ReadResult(json).Out is var out2 && Path.GetFileName(out2) == fileName ? out2 : null,
                _ => null,
            };
            return path is not null && File.Exists(path) ? path : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The workspace models the chosen model was distilled from (its own lineage's teachers, or its distilled parent's), for
    /// the report's soft-target section; null when it was not distilled or a teacher is not in the workspace (a gap).
    /// </summary>
    private IReadOnlyList<ModelSource>? TeachersOf(ModelRecord model)
    {
        var header = Metadata(model);
        var hashes = header.Lineage is { Operation: "distill", Teachers: { Count: > 0 } own } ? own
            : Distillation(model, header) is { IsParent: true } parent && store.Get(parent.ModelId) is { } distilled ? Metadata(distilled).Lineage?.Teachers
            : null;
        if (hashes is not { Count: > 0 }) return null;
        var byHash = new Dictionary<string, Guid>(StringComparer.OrdinalIgnoreCase);
        foreach (var candidate in store.List())
        {
            try
            {
                byHash.TryAdd(Metadata(candidate).ContentHash, candidate.Id);
            }
            catch (CheckpointException)
            {
                // An unreadable checkpoint is no teacher.
            }
        }
        return hashes.All(byHash.ContainsKey) ? [.. hashes.Select(h => (ModelSource)new StoredModel(byHash[h]))] : null;
    }

    private static RecipeBuildResult BuildResult(JobSnapshot job) =>
        job is { Kind: BuildKind, State: JobState.Succeeded, ResultJson: { } json }
            ? ModelJobJson.Read<RecipeBuildResult>(json)
            : throw new IOException($"The job {job.Id} is not a finished recipe build.");

    private static CompressionRecipe ReadRecipe(RecipeBuildResult result)
    {
        var yaml = Path.Combine(result.Folder, RecipeFile.YamlFileName);
        return RecipeFile.Parse(File.ReadAllText(yaml), RecipeFile.YamlFileName);
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
        string? statsFile = null;
        if (choice.Calibration is { } calibrationKey)
        {
            var profile = calibrationProfiles.Find(calibrationKey)
                ?? throw new InvalidRequestException("CalibrationFile", "The calibration profile is no longer in the workspace; collect it again on the Quantization page.");
            var thresholds = QuantizationThresholds.For(profile, QuantizationChoice.Parse("symmetric", choice.CalibrationMethod));
            calibrationFile = Path.Combine(inputs, CalibrationFile.FileName(profile) + ".json");
            CalibrationFile.Write(calibrationFile, thresholds, profile);
            // The profile holds each layer's activation statistics: written as calibrate --stats-yaml writes them, so the
            // export writes Distiller's statistics file as it does for recipe export --stats-yaml.
            statsFile = Path.Combine(inputs, "activation-stats.yaml");
            File.WriteAllText(statsFile, DistillerStatsYaml.Write(profile));
        }
        var distillationFile = choice.Distillation is { } parent ? store.GetRequired(parent).FilePath : null;
        var outcome = RecipeExportJob.Run(
            new RecipeExportRequest(new StoredModel(choice.Model.Id), folder, planFile, calibrationFile, distillationFile, SubsetSize: choice.SubsetSize, StatsYamlFile: statsFile),
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
}
