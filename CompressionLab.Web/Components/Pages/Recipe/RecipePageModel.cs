using System.Globalization;
using CompressionLab.Core.Export;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Reports;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Jobs;
using CompressionLab.Web.Components.Layout;

namespace CompressionLab.Web.Components.Pages.Recipe;

/// <summary>One section of the recipe as the page previews it: present (what it will say) or a gap (and the page that fills it).</summary>
/// <param name="Section">The recipe's key: provenance, results, pruning, distillation, quantization.</param>
/// <param name="GapHref">Where the gap is filled; null when the section is present.</param>
public sealed record RecipeSectionView(string Section, string Title, bool Present, string Text, string? GapHref = null, string? GapPage = null);

/// <summary>One line of an ONNX export's check: the value in ONNX Runtime beside the engine's (or the simulated INT8 network's).</summary>
public sealed record RecipeOnnxRow(string What, string Onnx, string Engine);

/// <summary>One line of "measured beside recorded" after applying a recipe; <see cref="Same"/> null when nothing was recorded.</summary>
public sealed record RecipeComparisonRow(string What, string Measured, string Recorded, bool? Same);

/// <summary>
/// Everything the Recipe page shows and does, without a renderer: the model and what the recipe will be made of (a plan
/// evaluated for its weights, a stored calibration and its method, its distillation lineage), the sections with their
/// gaps, the build job and its files, and the other half of the page: a recipe uploaded, checked (line and field of
/// what is wrong), applied to a workspace model as a job, and measured beside recorded.
/// </summary>
/// <remarks>
/// Threading as <c>QuantizationPageModel</c>: job updates are queued on the worker's thread and applied by
/// <see cref="ApplyUpdates"/>; everything else runs on the page's dispatcher, one call at a time.
/// </remarks>
public sealed class RecipePageModel : IDisposable
{
    /// <summary>Largest recipe file the page reads: a recipe is tens of kilobytes (vgg-small with INT8, ~100 kB).</summary>
    public const long UploadLimitBytes = 1024 * 1024;

    /// <summary>Validation images a recipe is measured on by default (as <c>recipe export</c>).</summary>
    public const int DefaultSubsetSize = AnalysisSubset.DefaultSize;

    /// <summary>The method for every layer's input when a calibration is chosen (the Quantization page's default).</summary>
    public const string DefaultCalibrationMethod = "mse";

    /// <summary>The methods offered for a calibration (QuantizationChoice.StandardMethods' words).</summary>
    public static IReadOnlyList<string> CalibrationMethods { get; } =
        ["max", "avg", "percentile:99.9", "percentile:99.99", "percentile:99.999", "nstd:3", "aciq-laplace", "aciq-gauss", "mse", "entropy"];

    private readonly IJobScheduler scheduler;
    private readonly ModelStore store;
    private readonly RecipeBackend backend;
    private readonly JobUpdateInbox inbox;
    private readonly Dictionary<Guid, RecipeSources> sources = [];

    public RecipePageModel(IJobScheduler scheduler, ModelStore store, RecipeBackend backend, Action updatesWaiting)
    {
        this.scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        this.store = store ?? throw new ArgumentNullException(nameof(store));
        this.backend = backend ?? throw new ArgumentNullException(nameof(backend));
        inbox = new JobUpdateInbox(scheduler, backend.Follows, updatesWaiting);
        Models = store.List();
        // A build or apply started before the page opened (another tab, a reload) is followed as if started here.
        var unfinished = inbox.Unfinished;
        Build = unfinished.LastOrDefault(j => j.Kind == RecipeBackend.BuildKind);
        Apply = unfinished.LastOrDefault(j => j.Kind == RecipeApplyJob.Kind);
        Onnx = unfinished.LastOrDefault(j => j.Kind == OnnxExportJob.Kind);
        ReportJob = unfinished.LastOrDefault(j => j.Kind == ReportJobs.Kind);
        if (Models.FirstOrDefault() is { } first)
        {
            SelectModel(first.Id);
        }
    }

    /// <summary>Models of the workspace, newest first.</summary>
    public IReadOnlyList<ModelRecord> Models { get; private set; }

    public ModelRecord? Model { get; private set; }

    /// <summary>What the workspace holds for <see cref="Model"/>; null when its checkpoint could not be read (<see cref="Error"/>).</summary>
    public RecipeSources? Sources { get; private set; }

    public PlanEvaluationKey? Plan { get; private set; }

    public CalibrationProfileKey? Calibration { get; private set; }

    public string CalibrationMethod { get; private set; } = DefaultCalibrationMethod;

    public int SubsetSize { get; private set; } = DefaultSubsetSize;

    /// <summary>The last action's problem in words, for a message; null when it went well.</summary>
    public string? Error { get; private set; }

    public JobSnapshot? Build { get; private set; }

    /// <summary>The recipe the last build wrote, and the choice it was built from.</summary>
    public BuiltRecipe? Built { get; private set; }

    public RecipeBuildChoice? BuiltFor { get; private set; }

    /// <summary>The build job whose files <see cref="Built"/> holds (the ONNX export reads its recipe).</summary>
    public JobSnapshot? BuiltBy { get; private set; }

    /// <summary>The ONNX export followed here (of <see cref="Built"/>'s recipe).</summary>
    public JobSnapshot? Onnx { get; private set; }

    /// <summary>The last ONNX export's file and its check in ONNX Runtime.</summary>
    public RecipeOnnxExport? Exported { get; private set; }

    /// <summary>Why the export was refused or failed, shown where its result would be.</summary>
    public string? OnnxRefusal { get; private set; }

    public bool Exporting => Onnx is { IsFinished: false };

    /// <summary>Whether <see cref="Built"/>'s recipe has INT8 grids to export (a quantization section).</summary>
    public bool BuiltHasInt8 => Built?.Recipe.Quantization is not null;

    /// <summary>Why INT8 cannot be exported (the built recipe has no calibration), with the page that fills the gap; null when it can or nothing is built.</summary>
    public RecipeSectionView? OnnxInt8Gap => Built is null || BuiltHasInt8 ? null : new RecipeSectionView("onnx-int8", "INT8 ONNX", false,
        Calibration is null
            ? "No calibration yet: INT8 ONNX takes the recipe's INT8 grids. Run a calibration on the Quantization page, choose it above and build the recipe again."
            : "This recipe was built without a calibration: build it again with the calibration chosen above to export INT8.",
        DashboardAreas.Quantization.Href, DashboardAreas.Quantization.Title);

    /// <summary>The report job followed here.</summary>
    public JobSnapshot? ReportJob { get; private set; }

    public RecipeReport? Report { get; private set; }

    /// <summary>Why the last report failed; null when it went well.</summary>
    public string? ReportError { get; private set; }

    public bool Reporting => ReportJob is { IsFinished: false };

    /// <summary>The last ONNX export's check: top-1 in ONNX Runtime beside the engine's, max |Δlogit|, differing predictions, size.</summary>
    public IReadOnlyList<RecipeOnnxRow> OnnxRows => Exported?.Outcome is not { } o ? [] :
    [
        new("Top-1", RecipeText.Top1(o.Check.OrtTop1), RecipeText.Top1(o.Check.TorchSharpTop1)),
        new("Max |Δlogit| (ONNX Runtime − engine)", RecipeText.Scientific(o.Check.MaxAbsDiff), ""),
        new("Predictions that differ", string.Create(CultureInfo.InvariantCulture, $"{o.Check.Disagreements:N0} of {o.Check.Images:N0} images"), ""),
        new("File size", Exported.File.Size, RecipeDownload.SizeOf(o.CheckpointBytes) + " (checkpoint)"),
    ];

    /// <summary>What the engine's column is in <see cref="OnnxRows"/>: the float evaluation, or the INT8 simulation with the same grids.</summary>
    public string OnnxEngineLabel => Exported?.Outcome.Quantization == "float32" ? "Engine (TorchSharp, float32)" : "Simulated INT8 (engine)";

    /// <summary>One line for the export's job when it is done.</summary>
    public string? OnnxOutcome => Exported?.Outcome is not { } o ? null : string.Create(CultureInfo.InvariantCulture,
        $"{(o.Quantization == "float32" ? "float32" : "INT8 QDQ")}: ONNX Runtime {RecipeText.Top1(o.Check.OrtTop1)}, {(o.Quantization == "float32" ? "engine" : "simulated INT8")} {RecipeText.Top1(o.Check.TorchSharpTop1)}, max |Δlogit| {RecipeText.Scientific(o.Check.MaxAbsDiff)}; {(o.WithinTolerance ? "within tolerance" : "OUTSIDE tolerance")}.");

    /// <summary>
    /// The earlier build of this model whose files are shown (the page was reopened after it finished); its choice is not
    /// known to the page, so the sections are not claimed to describe it.
    /// </summary>
    public JobSnapshot? BuiltEarlier { get; private set; }

    /// <summary>The choice changed since <see cref="Built"/> was built here: its files are of another recipe than the sections show.</summary>
    public bool BuiltIsStale => Built is not null && BuiltFor is not null && BuiltFor != CurrentChoice();

    public bool Building => Build is { IsFinished: false };

    /// <summary>The refusal of the last upload (size, or <see cref="RecipeFileException"/>'s line and field); null when accepted.</summary>
    public string? UploadError { get; private set; }

    public string? UploadedName { get; private set; }

    public RecipeDocument? Uploaded { get; private set; }

    /// <summary>The workspace model the uploaded recipe is to be applied to (the one with the recipe's weights, when there is one).</summary>
    public ModelRecord? ApplyModel { get; private set; }

    public JobSnapshot? Apply { get; private set; }

    public RecipeApplyJobResult? Applied { get; private set; }

    /// <summary>Why the apply was refused or failed (another model: hash, layers, shapes), shown where the result would be.</summary>
    public string? ApplyRefusal { get; private set; }

    public bool Applying => Apply is { IsFinished: false };

    /// <summary>The plan evaluations a recipe can take its pruning from, for the picker.</summary>
    public IReadOnlyList<StoredPlanEvaluation> Plans => Sources?.Plans ?? [];

    public IReadOnlyList<RecipeCalibrationOption> Calibrations => Sources?.Calibrations ?? [];

    /// <summary>The recipe section by section: what each will say, or the gap and the page that fills it.</summary>
    public IReadOnlyList<RecipeSectionView> Sections => Model is null || Sources is null ? [] :
    [
        ProvenanceSection(Model, Sources),
        ResultsSection(),
        PruningSection(Sources),
        DistillationSection(Sources),
        QuantizationSection(),
    ];

    /// <summary>Measured beside recorded for the last apply: top-1 with the recipe, baseline top-1, images right, sparsity.</summary>
    public IReadOnlyList<RecipeComparisonRow> Comparison => Applied is not { } a ? [] :
    [
        new("Top-1, recipe applied", RecipeText.Top1(a.Top1), a.RecordedTop1 is { } r ? RecipeText.Top1(r) : "—", a.RecordedCorrect is { } c ? c == a.Correct && a.SameImages : null),
        new("Top-1, model as it is", RecipeText.Top1(a.BaselineTop1), a.RecordedBaselineTop1 is { } b ? RecipeText.Top1(b) : "—",
            a.RecordedBaselineTop1 is { } rb ? a.SameImages && rb == a.BaselineTop1 : null),
        new("Images right", string.Create(CultureInfo.InvariantCulture, $"{a.Correct:N0} of {a.Samples:N0}"),
            a.RecordedCorrect is { } rc ? string.Create(CultureInfo.InvariantCulture, $"{rc:N0}") : "—", a.RecordedCorrect is { } rc2 ? rc2 == a.Correct && a.SameImages : null),
        new("Sparsity (conv and linear weights)", RecipeText.Percent(a.Sparsity), a.RecordedSparsity is { } s ? RecipeText.Percent(s) : "—",
            a.RecordedSparsity is { } s2 ? Math.Abs(s2 - a.Sparsity) < 1e-12 : null),
    ];

    /// <summary>Chooses the model whose recipe to build; clears a plan or calibration of other weights.</summary>
    public void SelectModel(Guid modelId)
    {
        Error = null;
        if (Find(modelId) is not { } model)
        {
            Error = "That model is no longer in the workspace.";
            return;
        }
        if (Model?.Id != model.Id && !Building)
        {
            ShowEarlierBuild(model);
        }
        Model = model;
        Plan = null;
        Calibration = null;
        Sources = SourcesOf(model);
        // The newest plan and profile of these weights are the likeliest wanted; the person can choose none.
        Plan = Sources?.Plans.FirstOrDefault()?.Key;
        Calibration = Sources?.Calibrations.FirstOrDefault()?.Key;
    }

    /// <summary>A plan evaluated for the model's weights, or null for none (the lineage's levels, if any).</summary>
    public void SelectPlan(PlanEvaluationKey? plan)
    {
        Error = null;
        if (plan is not null && !Plans.Any(p => p.Key == plan))
        {
            Error = "That plan was not evaluated for this model's weights.";
            return;
        }
        Plan = plan;
    }

    public void SelectCalibration(CalibrationProfileKey? calibration)
    {
        Error = null;
        if (calibration is not null && !Calibrations.Any(c => c.Key == calibration))
        {
            Error = "That calibration is not of this model's weights.";
            return;
        }
        Calibration = calibration;
    }

    public void SetCalibrationMethod(string method)
    {
        Error = null;
        if (!CalibrationMethods.Contains(method))
        {
            Error = $"Unknown calibration method '{method}'; choose one of {string.Join(", ", CalibrationMethods)}.";
            return;
        }
        CalibrationMethod = method;
    }

    public void SetSubsetSize(int size)
    {
        if (size < 1)
        {
            Error = "The recipe is measured on at least 1 validation image.";
            return;
        }
        Error = null;
        SubsetSize = size;
    }

    /// <summary>The choice as the build job takes it; null without a model.</summary>
    public RecipeBuildChoice? CurrentChoice() => Model is null ? null
        : new RecipeBuildChoice(Model, Plan, Calibration, CalibrationMethod, Sources?.Distillation is { IsParent: true } d ? d.ModelId : null, SubsetSize);

    /// <summary>Starts building (measuring and writing) the recipe of the current choice; null with <see cref="Error"/> set when it cannot.</summary>
    public JobSnapshot? StartBuild()
    {
        Error = null;
        if (CurrentChoice() is not { } choice)
        {
            Error = "Choose a model first.";
            return null;
        }
        try
        {
            Build = backend.StartBuild(choice);
            BuiltFor = choice;
            Built = null;
            BuiltBy = null;
            BuiltEarlier = null;
            Exported = null;
            OnnxRefusal = null;
            return Build;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidRequestException)
        {
            Error = e.Message;
            return null;
        }
    }

    /// <summary>Starts the ONNX export (float32, or INT8 with the recipe's grids) of the built recipe; null with <see cref="Error"/> set when it cannot.</summary>
    public JobSnapshot? StartOnnx(bool int8)
    {
        Error = null;
        if (Built is null || BuiltBy is null || Model is null)
        {
            Error = "Build the recipe first: the ONNX export applies its masks (and, for INT8, its grids).";
            return null;
        }
        if (int8 && !BuiltHasInt8)
        {
            Error = OnnxInt8Gap!.Text;
            return null;
        }
        OnnxRefusal = null;
        try
        {
            Onnx = backend.StartOnnx(Model, BuiltBy, int8);
            Exported = null;
            return Onnx;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidRequestException or IOException)
        {
            OnnxRefusal = e.Message;
            return null;
        }
    }

    /// <summary>Starts the report of the chosen model (its plan and calibration method as chosen); null with <see cref="Error"/> set when it cannot.</summary>
    public JobSnapshot? StartReport()
    {
        Error = null;
        if (CurrentChoice() is not { } choice)
        {
            Error = "Choose a model first.";
            return null;
        }
        ReportError = null;
        try
        {
            ReportJob = backend.StartReport(choice);
            Report = null;
            return ReportJob;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidRequestException)
        {
            Error = e.Message;
            return null;
        }
    }

    /// <summary>Whether a file of <paramref name="size"/> bytes is read at all; otherwise <see cref="UploadError"/> says why.</summary>
    public bool AcceptsSize(string fileName, long size)
    {
        if (size <= UploadLimitBytes) return true;
        ClearUpload();
        UploadError = string.Create(CultureInfo.InvariantCulture,
            $"{fileName} is {size / (1024.0 * 1024.0):0.0} MB; a recipe file is at most {UploadLimitBytes / (1024 * 1024)} MB here (a recipe is tens of kilobytes). Choose the recipe.yaml or recipe.json the export wrote.");
        return false;
    }

    /// <summary>Reads an uploaded recipe: refused naming line and field when malformed, otherwise shown and ready to apply.</summary>
    public void Upload(string fileName, string text)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(text);
        ClearUpload();
        if (!AcceptsSize(fileName, System.Text.Encoding.UTF8.GetByteCount(text))) return;
        try
        {
            Uploaded = RecipeFile.ParseDocument(text, fileName);
        }
        catch (RecipeFileException e)
        {
            UploadError = e.Message;
            return;
        }
        UploadedName = fileName;
        var hash = Uploaded.Recipe.Provenance.WeightsHash;
        // The recipe's own model when the workspace has it; otherwise the one chosen above (apply then names what differs).
        ApplyModel = Models.FirstOrDefault(m => string.Equals(WeightsHashOf(m), hash, StringComparison.OrdinalIgnoreCase)) ?? Model ?? Models.FirstOrDefault();
    }

    /// <summary>Whether the chosen apply model has the recipe's weights (else the apply is refused, naming what differs).</summary>
    public bool ApplyModelIsRecipes =>
        Uploaded is not null && ApplyModel is not null && string.Equals(WeightsHashOf(ApplyModel), Uploaded.Recipe.Provenance.WeightsHash, StringComparison.OrdinalIgnoreCase);

    public void SelectApplyModel(Guid modelId)
    {
        Error = null;
        if (Find(modelId) is not { } model)
        {
            Error = "That model is no longer in the workspace.";
            return;
        }
        ApplyModel = model;
    }

    /// <summary>Starts applying the uploaded recipe to <see cref="ApplyModel"/>; a refusal at the start is shown as <see cref="ApplyRefusal"/>.</summary>
    public JobSnapshot? StartApply()
    {
        Error = null;
        if (Uploaded is null || UploadedName is null)
        {
            Error = "Upload a recipe first.";
            return null;
        }
        if (ApplyModel is null)
        {
            Error = "Choose the model to apply the recipe to.";
            return null;
        }
        Applied = null;
        ApplyRefusal = null;
        try
        {
            Apply = backend.StartApply(ApplyModel, Uploaded, UploadedName);
            return Apply;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidRequestException)
        {
            Apply = null;
            ApplyRefusal = e.Message;
            return null;
        }
    }

    public bool Cancel(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return scheduler.Cancel(job.Id);
    }

    /// <summary>Applies what the scheduler published; returns a finished build's error, to be shown once, or null.</summary>
    public string? ApplyUpdates()
    {
        string? failure = null;
        while (inbox.TryTake(out var update))
        {
            var job = update.Job;
            if (job.Kind == RecipeBackend.BuildKind && (job.Id == Build?.Id || (Build is null or { IsFinished: true } && !job.IsFinished)))
            {
                Build = job;
                if (job.State == JobState.Succeeded)
                {
                    try
                    {
                        Built = backend.ReadBuild(job);
                        BuiltBy = job;
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or RecipeFileException)
                    {
                        failure = $"The recipe was built but its files could not be read: {e.Message}";
                    }
                }
                else if (job is { State: JobState.Failed, Error: { } error })
                {
                    failure = error;
                }
            }
            else if (job.Kind == OnnxExportJob.Kind && (job.Id == Onnx?.Id || (Onnx is null or { IsFinished: true } && !job.IsFinished)))
            {
                Onnx = job;
                if (job.State == JobState.Succeeded)
                {
                    try
                    {
                        Exported = backend.ReadOnnx(job);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
                    {
                        OnnxRefusal = $"The ONNX file was written but cannot be read: {e.Message}";
                    }
                }
                else if (job.State is JobState.Failed or JobState.Interrupted)
                {
                    // Another model, a mask that differs, no INT8 grids: refused before anything is written, shown in place.
                    OnnxRefusal = job.Error ?? "The export did not finish.";
                }
            }
            else if (job.Kind == ReportJobs.Kind && (job.Id == ReportJob?.Id || (ReportJob is null or { IsFinished: true } && !job.IsFinished)))
            {
                ReportJob = job;
                if (job.State == JobState.Succeeded)
                {
                    try
                    {
                        Report = backend.ReadReport(job);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
                    {
                        ReportError = $"The report was written but cannot be read: {e.Message}";
                    }
                }
                else if (job.State is JobState.Failed or JobState.Interrupted)
                {
                    ReportError = job.Error ?? "The report did not finish.";
                }
            }
            else if (job.Kind == RecipeApplyJob.Kind && (job.Id == Apply?.Id || (Apply is null or { IsFinished: true } && !job.IsFinished)))
            {
                Apply = job;
                if (job is { State: JobState.Succeeded, ResultJson: { } json })
                {
                    Applied = RecipeBackend.ReadApply(json);
                }
                else if (job.State is JobState.Failed or JobState.Interrupted)
                {
                    // The job refuses another model or a mask that differs before it measures anything: shown in place.
                    ApplyRefusal = job.Error ?? "The apply did not finish.";
                }
            }
        }
        return failure;
    }

    public void Dispose() => inbox.Dispose();

    private ModelRecord? Find(Guid modelId)
    {
        if (Models.FirstOrDefault(m => m.Id == modelId) is { } model) return model;
        Models = store.List();
        return Models.FirstOrDefault(m => m.Id == modelId);
    }

    /// <summary>The files of the model's newest finished build, if they are still there (reopening the page keeps the downloads).</summary>
    private void ShowEarlierBuild(ModelRecord model)
    {
        Built = null;
        BuiltFor = null;
        BuiltBy = null;
        Exported = null;
        OnnxRefusal = null;
        Report = null;
        ReportError = null;
        BuiltEarlier = scheduler.List()
            .Where(j => j is { Kind: RecipeBackend.BuildKind, State: JobState.Succeeded } && j.Links.Subject == model.Id)
            .OrderByDescending(j => j.FinishedAt)
            .FirstOrDefault();
        if (BuiltEarlier is null) return;
        try
        {
            Built = backend.ReadBuild(BuiltEarlier);
            BuiltBy = BuiltEarlier;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or RecipeFileException or InvalidOperationException)
        {
            // The files were deleted with the workspace's recipes folder: nothing to offer until the next build.
            BuiltEarlier = null;
        }
    }

    private RecipeSources? SourcesOf(ModelRecord model)
    {
        if (sources.TryGetValue(model.Id, out var known)) return known;
        try
        {
            return sources[model.Id] = backend.Sources(model);
        }
        catch (Exception e) when (e is CheckpointException or IOException or InvalidOperationException)
        {
            Error = $"The checkpoint of {model.DisplayName} cannot be read: {e.Message}";
            return null;
        }
    }

    private string? WeightsHashOf(ModelRecord model) => SourcesOf(model)?.WeightsHash;

    private void ClearUpload()
    {
        UploadError = null;
        UploadedName = null;
        Uploaded = null;
        Applied = null;
        ApplyRefusal = null;
    }

    private static RecipeSectionView ProvenanceSection(ModelRecord model, RecipeSources sources)
    {
        var lineage = sources.Lineage is { } l ? $"; made by {l.Operation} from {l.ParentName ?? RecipeText.Short(l.ParentWeightsHash)}" : "; trained from scratch or imported (no lineage)";
        return new RecipeSectionView("provenance", "Provenance", true,
            $"{model.Architecture}, weights {RecipeText.Short(sources.WeightsHash)}, trained on {model.Dataset}{lineage}. A recipe applies to these weights only.");
    }

    private RecipeSectionView ResultsSection()
    {
        if (Built is { Recipe.Results: { } r } && BuiltFor is not null && !BuiltIsStale)
        {
            return new RecipeSectionView("results", "Measured results", true,
                string.Create(CultureInfo.InvariantCulture, $"Top-1 {RecipeText.Top1(r.Baseline.Top1)} as it is → {RecipeText.Top1(r.Result.Top1)} with the recipe, on {r.Images.Count:N0} {r.Images.Part} images of {r.Images.Dataset}; ") +
                string.Create(CultureInfo.InvariantCulture, $"sparsity {RecipeText.Percent(r.Compressed.Sparsity)}, {r.Dense.Parameters:N0} → {r.Compressed.Parameters:N0} parameters, {r.Compressed.Macs:N0} MACs per image."));
        }
        return new RecipeSectionView("results", "Measured results", true, string.Create(CultureInfo.InvariantCulture,
            $"Measured when you build the recipe: top-1 of the model as it is and with the recipe on its first {SubsetSize:N0} validation images, sparsity, parameters, MACs and size."));
    }

    private RecipeSectionView PruningSection(RecipeSources sources)
    {
        if (Plan is { } key && sources.Plans.FirstOrDefault(p => p.Key == key) is { } plan)
        {
            return new RecipeSectionView("pruning", "Pruning", true,
                string.Create(CultureInfo.InvariantCulture, $"Plan {RecipeText.Short(plan.Key.PlanHash)}: {plan.Levels.Count(l => l.Level > 0)} layers pruned ({RecipeText.Methods(plan.Levels)}), one-shot; ") +
                string.Create(CultureInfo.InvariantCulture, $"sparsity {RecipeText.Percent(plan.Sparsity)}, measured {RecipeText.Top1(plan.Measured.Top1)} on {plan.SubsetSize:N0} images on the Pruning page. ") +
                "Each layer's level, threshold and a hash of its mask.");
        }
        if (sources.Lineage is { Levels: { Count: > 0 } levels } lineage)
        {
            return new RecipeSectionView("pruning", "Pruning", true, string.Create(CultureInfo.InvariantCulture,
                $"The levels the model was {lineage.Operation}d at ({levels.Count} layers, {lineage.Schedule ?? "fixed"} schedule{(lineage.Epochs is { } e ? $", {e} epochs" : "")}), read on its own weights."));
        }
        return new RecipeSectionView("pruning", "Pruning", false,
            "No pruning plan yet: evaluate one on the Pruning plan page (its plans of these weights appear here).",
            DashboardAreas.PruningPlan.Href, DashboardAreas.PruningPlan.Title);
    }

    private static RecipeSectionView DistillationSection(RecipeSources sources)
    {
        if (sources.Distillation is { } d)
        {
            return new RecipeSectionView("distillation", "Distillation", true, string.Create(CultureInfo.InvariantCulture,
                $"{(d.IsParent ? $"Its parent {d.Name} was distilled" : "The model was distilled")}: {d.Objective}, {d.Teachers} teacher{(d.Teachers == 1 ? "" : "s")} (by weights hash)."));
        }
        return new RecipeSectionView("distillation", "Distillation", false,
            "No distillation in the model's lineage: distil a student on the Distillation page, then build the recipe of the student.",
            DashboardAreas.Distillation.Href, DashboardAreas.Distillation.Title);
    }

    private RecipeSectionView QuantizationSection()
    {
        if (Calibration is { } key && Calibrations.FirstOrDefault(c => c.Key == key) is { } calibration)
        {
            return new RecipeSectionView("quantization", "Quantization", true,
                string.Create(CultureInfo.InvariantCulture, $"Simulated INT8, {CalibrationMethod} for every layer's input (symmetric; unsigned after ReLU), weights per output channel, logits in float; ") +
                string.Create(CultureInfo.InvariantCulture, $"calibrated on {calibration.Images:N0} {calibration.Key.Dataset} images. Each layer's amax, scale and zero point; Distiller's activation statistics from the same profile."));
        }
        return new RecipeSectionView("quantization", "Quantization", false,
            "No calibration yet: run it on the Quantization page (Collect), and it appears here.",
            DashboardAreas.Quantization.Href, DashboardAreas.Quantization.Title);
    }
}

/// <summary>How the Recipe page writes numbers: fractions as percent on screen only.</summary>
public static class RecipeText
{
    public static string Top1(double fraction) => string.Create(CultureInfo.InvariantCulture, $"{fraction * 100:0.00} %");

    public static string Percent(double fraction) => string.Create(CultureInfo.InvariantCulture, $"{fraction * 100:0.0} %");

    /// <summary>A small difference as 1.24e-05 (three digits), 0 as 0.</summary>
    public static string Scientific(double value) => value == 0 ? "0" : value.ToString("0.00e+00", CultureInfo.InvariantCulture);

    /// <summary>The first 12 hex digits of a hash, as messages elsewhere show it.</summary>
    public static string Short(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;

    public static string Methods(IEnumerable<PlanLevel> levels) =>
        string.Join(", ", levels.Where(l => l.Level > 0).Select(l => l.Method).Distinct().Order(StringComparer.Ordinal));
}
