using System.Globalization;
using System.Text.Json;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Jobs;

namespace CompressionLab.Web.Components.Pages.Distillation;

/// <summary>
/// The Distillation page's train section without a renderer: the objective and its settings, the distillation it
/// follows (started here, running when the page opened, or resumed), each run's curves from the job's
/// <see cref="DistillationEpochFinished"/> partials (the distilled student beside its baseline), the new model, and the
/// interrupted distillations that can be resumed. Threading as <see cref="DistillationPageModel"/>.
/// </summary>
public sealed class DistillationTrainSectionModel : IDisposable
{
    private readonly IJobScheduler scheduler;
    private readonly DistillationJobs jobs;
    private readonly Func<JobSnapshot, SavedTraining?> saved;
    private readonly JobUpdateInbox inbox;
    private readonly SortedDictionary<int, EpochSummary> distilled = [];
    private readonly SortedDictionary<int, EpochSummary> baseline = [];

    /// <param name="saved">What an interrupted distillation saved (<see cref="DistillationJobs.Saved"/>); null when nothing.</param>
    public DistillationTrainSectionModel(IJobScheduler scheduler, DistillationJobs jobs, Func<JobSnapshot, SavedTraining?> saved, Action updatesWaiting)
    {
        this.scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        this.jobs = jobs ?? throw new ArgumentNullException(nameof(jobs));
        this.saved = saved ?? throw new ArgumentNullException(nameof(saved));
        inbox = new JobUpdateInbox(scheduler, kind => kind == DistillationJob.Kind, updatesWaiting);
        if (inbox.Unfinished.LastOrDefault() is { } running) Follow(running);
        RefreshResumable(scheduler.List());
    }

    /// <summary>The objective. Choosing deep mutual learning moves T from the default 4 to its default 1 (and back), unless T was changed.</summary>
    public DistillationLoss Loss
    {
        get => loss;
        set
        {
            if (value == DistillationLoss.Mutual && loss != DistillationLoss.Mutual && Temperature == 4) Temperature = 1;
            else if (value != DistillationLoss.Mutual && loss == DistillationLoss.Mutual && Temperature == 1) Temperature = 4;
            loss = value;
        }
    }

    private DistillationLoss loss = DistillationLoss.SoftHard;

    public double Temperature { get; set; } = 4;

    /// <summary>FitNets: hints added to every step's loss, or a first phase of their own.</summary>
    public HintMode Hints { get; set; } = HintMode.Added;

    /// <summary>FitNets' first phase: its epochs (before the distillation's).</summary>
    public int HintEpochs { get; set; } = 2;

    /// <summary>FitNets added to the loss: β.</summary>
    public double HintWeight { get; set; } = 1;

    /// <summary>
    /// FitNets: the hinted stages as typed, comma-separated (e.g. <c>stage1,stage2</c>); empty: every stage the student and
    /// the teacher share. An empty name between commas is kept, so the request refuses it rather than the page dropping it.
    /// </summary>
    public string HintStagesText
    {
        get => hintStagesText;
        set
        {
            // A refusal of the old text no longer stands beside the new one.
            if (value != hintStagesText) Forget(nameof(DistillationSettings.HintStages));
            hintStagesText = value ?? "";
        }
    }

    private string hintStagesText = "";

    /// <summary>The request's <see cref="DistillationSettings.HintStages"/> from <see cref="HintStagesText"/>: null when empty.</summary>
    public IReadOnlyList<string>? HintStages => string.IsNullOrWhiteSpace(HintStagesText) ? null : [.. HintStagesText.Split(',').Select(n => n.Trim())];

    /// <summary>Deep mutual learning: the second student's architecture; null: the student's (seed + 1).</summary>
    public string? PeerArchitecture { get; set; }

    /// <summary>Deep mutual learning: the seed of the second student's initial weights; null: the student's seed + 1.</summary>
    public int? PeerSeed
    {
        get => peerSeed;
        set
        {
            if (value != peerSeed) Forget(nameof(DistillationRequest.PeerSeed));
            peerSeed = value;
        }
    }

    private int? peerSeed;

    private void Forget(string setting)
    {
        if (SettingErrors.ContainsKey(setting)) SettingErrors = SettingErrors.Where(e => e.Key != setting).ToDictionary(e => e.Key, e => e.Value);
    }

    /// <summary>
    /// Data distillation: the teacher's target for an image is the mean of its soft targets over the training augmentations
    /// (the image and its mirror). Not for mutual learning (no fixed teacher).
    /// </summary>
    public bool AverageOverFlips { get; set; }

    /// <summary>The workspace model the student (and its baseline) starts from; null: its architecture's seeded initial weights.</summary>
    public Guid? StudentStart { get; private set; }

    /// <summary>Starts the student from <paramref name="model"/> (its architecture becomes the student's), or from scratch with null.</summary>
    public void SetStudentStart(ModelRecord? model)
    {
        StudentStart = model?.Id;
        if (model is not null) StudentArchitecture = model.Architecture;
    }

    /// <summary>Settings shown beside their own field; a refusal of any other is shown under the fields.</summary>
    public static readonly IReadOnlySet<string> InPlaceSettings = new HashSet<string>(StringComparer.Ordinal)
    {
        nameof(DistillationSettings.Temperature), nameof(DistillationSettings.Alpha), nameof(DistillationSettings.HintWeight),
        nameof(DistillationSettings.HintEpochs), nameof(DistillationSettings.HintStages), nameof(DistillationRequest.PeerSeed),
        nameof(DistillationRequest.Epochs), nameof(DistillationRequest.Seed), nameof(DistillationRequest.TrainingImages),
    };

    /// <summary>The refusals not shown beside a field of their own.</summary>
    public IEnumerable<string> OtherErrors => SettingErrors.Where(e => !InPlaceSettings.Contains(e.Key)).Select(e => e.Value);

    /// <summary>The message beside a field: the request's refusal of that setting, or null.</summary>
    public string? ErrorOf(string setting) => SettingErrors.GetValueOrDefault(setting);

    /// <summary>
    /// What FitNets would hint between the one ticked teacher and the student, for the line under the stages field: every
    /// shared stage with its map size and channels (student → teacher), or why there is none. Null when not one teacher.
    /// </summary>
    public string? HintStagesAvailable(IReadOnlyList<Guid> teachers)
    {
        ArgumentNullException.ThrowIfNull(teachers);
        if (teachers.Count != 1) return null;
        var key = (teachers[0], StudentArchitecture, StudentStart);
        if (hintStagesAvailable is { } known && known.Key == key) return known.Text;
        string text;
        try
        {
            var stages = jobs.PlanHints(new StoredModel(teachers[0]), StudentArchitecture, StudentStart is { } s ? new StoredModel(s) : null, wanted: null);
            text = "Shared: " + string.Join(", ", stages.Select(st => string.Create(CultureInfo.InvariantCulture,
                $"{st.Name} {st.Height}×{st.Width} ({st.StudentChannels} → {st.TeacherChannels} channels)")));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException)
        {
            text = e.Message;
        }
        // Every render asks; the answer changes only with the teacher or the student.
        hintStagesAvailable = (key, text);
        return text;
    }

    private ((Guid, string, Guid?) Key, string Text)? hintStagesAvailable;

    /// <summary>Deep mutual learning: store the second student in the workspace too.</summary>
    public bool SavePeer { get; set; }

    /// <summary>Whether the run needs a ticked teacher (every objective but deep mutual learning).</summary>
    public bool NeedsTeacher => Loss != DistillationLoss.Mutual;

    public double Alpha { get; set; } = 0.9;

    /// <summary>Multiply the KL term by T² (Hinton); on by default.</summary>
    public bool ScaleByT2 { get; set; } = true;

    public string StudentArchitecture { get; set; } = ModelZoo.VggTiny;

    /// <summary>Null: the architecture's default.</summary>
    public int? Epochs { get; set; } = 2;

    public int Seed { get; set; } = 1;

    /// <summary>Also train the same student without a teacher (same seed, epochs, flips).</summary>
    public bool Baseline { get; set; } = true;

    /// <summary>Train on a class-stratified subset of this many training images; null: all.</summary>
    public int? TrainingImages { get; set; }

    /// <summary>The request's message for the setting it refused (by setting name), shown beside that field.</summary>
    public IReadOnlyDictionary<string, string> SettingErrors { get; private set; } = new Dictionary<string, string>();

    public JobSnapshot? Job { get; private set; }

    public bool IsRunning => Job is { IsFinished: false };

    public DistillationJobResult? Result { get; private set; }

    public IReadOnlyList<EpochSummary> Distilled => [.. distilled.Values];

    public IReadOnlyList<EpochSummary> BaselineEpochs => [.. baseline.Values];

    /// <summary>Interrupted or failed distillations with saved epochs that no job is resuming yet, newest first.</summary>
    public IReadOnlyList<(JobSnapshot Job, SavedTraining Saved)> Resumable { get; private set; } = [];

    /// <summary>Validation top-1 (%) per epoch: distilled and baseline.</summary>
    public IReadOnlyList<LineSeries> Top1Chart { get; private set; } = [];

    /// <summary>Validation loss per epoch: distilled and baseline.</summary>
    public IReadOnlyList<LineSeries> LossChart { get; private set; } = [];

    /// <summary>
    /// Queues a distillation of the <paramref name="teachers"/>; a refused setting is kept in <see cref="SettingErrors"/>.
    /// Deep mutual learning has no teacher: the ticked ones (they serve the comparison above too) are left out of its request.
    /// </summary>
    public (JobSnapshot? Job, string? Error) Start(IReadOnlyList<Guid> teachers, string? dataset)
    {
        ArgumentNullException.ThrowIfNull(teachers);
        if (IsRunning) return (null, "A distillation is already running; wait for it or cancel it.");
        var mutual = Loss == DistillationLoss.Mutual;
        var hints = Loss == DistillationLoss.Hints;
        // The settings of other objectives than the chosen one stay on the page but out of the request (it would refuse them).
        var request = new DistillationRequest(mutual ? [] : [.. teachers.Select(id => (ModelSource)new StoredModel(id))], StudentArchitecture,
            new DistillationSettings(Loss, Temperature, Alpha, ScaleByT2, AverageOverFlips: !mutual && AverageOverFlips, Hints: Hints, HintEpochs: HintEpochs,
                HintWeight: HintWeight, HintStages: hints ? HintStages : null),
            dataset, Epochs, Seed, Baseline, TrainingImages, StudentStart: StudentStart is { } start ? new StoredModel(start) : null,
            PeerArchitecture: mutual ? PeerArchitecture : null, PeerSeed: mutual ? PeerSeed : null, SavePeer: mutual && SavePeer);
        // The baseline depends on no teacher: when an earlier run here trained the same one, it is shown again, not retrained.
        if (request.Baseline && EarlierBaseline(request, scheduler.List()) is not null) request = request with { Baseline = false };
        try
        {
            request.Validate();
        }
        catch (InvalidRequestException e)
        {
            SettingErrors = new Dictionary<string, string> { [e.Setting] = e.Message };
            return (null, e.Message);
        }
        SettingErrors = new Dictionary<string, string>();
        try
        {
            Follow(jobs.StartTraining(request));
            return (Job, null);
        }
        catch (InvalidRequestException e)
        {
            // Checks that need the workspace (a hinted stage the networks do not share, a deleted model) are refused as the request's.
            SettingErrors = new Dictionary<string, string> { [e.Setting] = e.Message };
            return (null, e.Message);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException)
        {
            return (null, e.Message);
        }
    }

    public (JobSnapshot? Job, string? Error) Resume(JobSnapshot interrupted)
    {
        ArgumentNullException.ThrowIfNull(interrupted);
        try
        {
            Follow(jobs.ResumeTraining(interrupted.Id));
            RefreshResumable(scheduler.List());
            return (Job, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    public bool Cancel() => Job is { } job && scheduler.Cancel(job.Id);

    /// <summary>Applies the job updates: progress, each run's epochs, the result. Returns (error to show once, whether a model was stored).</summary>
    public (string? Error, bool ModelStored) ApplyUpdates()
    {
        string? error = null;
        var stored = false;
        var any = false;
        while (inbox.TryTake(out var update))
        {
            any = true;
            var job = update.Job;
            if (job.Id != Job?.Id && !job.IsFinished && !IsRunning && job.State == JobState.Running) Follow(job);
            if (job.Id != Job?.Id) continue;
            Job = job;
            // FitNets' hint-phase epochs come before the distilled ones and measure another loss: not on these curves.
            if (update.Partial is DistillationEpochFinished { Run: not DistillationRun.HintPhase } epoch)
                (epoch.Run == DistillationRun.Distilled ? distilled : baseline)[epoch.Epoch.Epoch] = epoch.Epoch;
            if (job is { State: JobState.Succeeded, ResultJson: { } json } && Result is null)
            {
                Result = DistillationJobs.ReadResult(json);
                // The result holds every epoch: a page that opened mid-run gets the ones it missed.
                foreach (var e in Result.History) distilled[e.Epoch] = e;
                foreach (var e in Result.BaselineHistory ?? []) baseline[e.Epoch] = e;
                stored = Result.ModelId is not null;
            }
            if (job.State == JobState.Failed) error = job.Error;
        }
        if (any)
        {
            RefreshResumable(scheduler.List());
            BuildCharts();
        }
        return (error, stored);
    }

    /// <summary>One line on the result: the distilled student's test top-1 against its baseline's.</summary>
    public static string Describe(DistillationJobResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var against = result.BaselineTop1 is { } b
            ? string.Create(CultureInfo.InvariantCulture, $" against {b * 100:0.00} % without a teacher ({(result.Top1 - b) * 100:+0.00;-0.00;0.00} pts)")
            : "";
        var peer = result.PeerTop1 is { } p ? string.Create(CultureInfo.InvariantCulture, $"; its peer ({result.PeerArchitecture}) {p * 100:0.00} %") : "";
        return string.Create(CultureInfo.InvariantCulture, $"test top-1 {result.Top1 * 100:0.00} %{against}{peer}");
    }

    /// <summary>The teachers a distilled model records (its metadata's <c>teacherNames</c>); empty when it records none.</summary>
    public static IReadOnlyList<string> TeacherNames(ModelRecord model) => ReadMetadata(model, root =>
        root.TryGetProperty("teacherNames", out var names) && names.ValueKind == JsonValueKind.Array
            ? [.. names.EnumerateArray().Where(n => n.ValueKind == JsonValueKind.String).Select(n => n.GetString()!)]
            : (IReadOnlyList<string>)[]) ?? [];

    /// <summary>The model a distilled student started from (its metadata's <c>startedFrom</c>); null when from scratch.</summary>
    public static string? StartedFrom(ModelRecord model) => ReadMetadata(model, root =>
        root.TryGetProperty("startedFrom", out var start) && start.ValueKind == JsonValueKind.String ? start.GetString() : null);

    private static T? ReadMetadata<T>(ModelRecord model, Func<JsonElement, T?> read)
    {
        ArgumentNullException.ThrowIfNull(model);
        try
        {
            using var json = JsonDocument.Parse(model.MetadataJson);
            return json.RootElement.ValueKind == JsonValueKind.Object ? read(json.RootElement) : default;
        }
        catch (JsonException)
        {
            return default;
        }
    }

    public void Dispose() => inbox.Dispose();

    private string BaselineName => ReusedBaseline is null ? "baseline (no teacher)" : "baseline (no teacher, earlier run)";

    private void BuildCharts()
    {
        static LineSeries Line(string name, IEnumerable<EpochSummary> epochs, Func<EpochSummary, double?> value, double scale, string color, bool dashed, string unit)
        {
            var points = epochs.Where(e => value(e) is not null).ToList();
            return new LineSeries(name, [.. points.Select(e => (double)e.Epoch)], [.. points.Select(e => value(e)!.Value * scale)])
            {
                Color = color,
                Dashed = dashed,
                MarkerSize = 8,
                HoverTemplate = $"{name}, epoch %{{x}}: %{{y:.{(unit == "%" ? 2 : 4)}f}} {unit}<extra></extra>",
            };
        }
        Top1Chart =
        [
            Line("distilled", distilled.Values, e => e.ValidationTop1, 100, "#1f77b4", false, "%"),
            Line(BaselineName, baseline.Values, e => e.ValidationTop1, 100, "#7f7f7f", true, "%"),
        ];
        LossChart =
        [
            Line("distilled", distilled.Values, e => e.ValidationLoss, 1, "#1f77b4", false, ""),
            Line(BaselineName, baseline.Values, e => e.ValidationLoss, 1, "#7f7f7f", true, ""),
        ];
    }

    private void Follow(JobSnapshot job)
    {
        Job = job;
        Result = null;
        distilled.Clear();
        baseline.Clear();
        ReusedBaseline = null;
        if (ReadRequest(job) is { Baseline: false } request && EarlierBaseline(request, scheduler.List()) is { } earlier)
        {
            ReusedBaseline = earlier;
            foreach (var e in earlier.Result.BaselineHistory!) baseline[e.Epoch] = e;
        }
        BuildCharts();
    }

    /// <summary>
    /// The baseline shown for the followed run when it trains none because an earlier run here already trained the same
    /// one (same dataset, student architecture and start, epochs, seed and training images: the no-teacher run depends
    /// on nothing else and is the same bit for bit); null otherwise.
    /// </summary>
    public (JobSnapshot Job, DistillationJobResult Result)? ReusedBaseline { get; private set; }

    /// <summary>The result line: the distilled student's test top-1 against its baseline's, a reused one included.</summary>
    public string? ResultLine => Result is not { } result
        ? null
        : ReusedBaseline is { } reused && result.BaselineTop1 is null
            ? Describe(result with { BaselineTop1 = reused.Result.BaselineTop1 }) + $" (the baseline of \"{reused.Job.Title}\", the same student without a teacher)"
            : Describe(result);

    /// <summary>What the no-teacher run of <paramref name="request"/> depends on.</summary>
    private static string BaselineKey(DistillationRequest request) => string.Create(CultureInfo.InvariantCulture,
        $"{request.Dataset}|{request.StudentArchitecture}|{request.StudentStart}|{request.Settings().Epochs}|{request.Seed}|{request.TrainingImages}");

    /// <summary>The newest succeeded distillation whose baseline is the one <paramref name="request"/> would train, with its result.</summary>
    private static (JobSnapshot Job, DistillationJobResult Result)? EarlierBaseline(DistillationRequest request, IReadOnlyList<JobSnapshot> all)
    {
        if (request.Dataset is null) return null;
        var key = BaselineKey(request);
        foreach (var job in all.Where(j => j is { Kind: DistillationJob.Kind, State: JobState.Succeeded, ResultJson: not null }).OrderByDescending(j => j.CreatedAt))
        {
            if (ReadRequest(job) is not { Baseline: true } earlier || earlier.Dataset is null || BaselineKey(earlier) != key) continue;
            try
            {
                if (DistillationJobs.ReadResult(job.ResultJson!) is { BaselineTop1: not null, BaselineHistory.Count: > 0 } result) return (job, result);
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
            {
                // An old or foreign result: not a baseline to show.
            }
        }
        return null;
    }

    private static DistillationRequest? ReadRequest(JobSnapshot job)
    {
        try
        {
            return ModelJobJson.Read<DistillationRequest>(job.ParametersJson);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    private void RefreshResumable(IReadOnlyList<JobSnapshot> all) =>
        Resumable = [.. all
            .Where(j => j.Kind == DistillationJob.Kind && j.State is JobState.Interrupted or JobState.Failed)
            .Where(j => !all.Any(other => !other.IsFinished && other.Links.Resumes == j.Id))
            .Select(j => (Job: j, Saved: saved(j)))
            .Where(x => x.Saved is { CanResume: true })
            .OrderByDescending(x => x.Job.CreatedAt)
            .Select(x => (x.Job, x.Saved!))];
}
