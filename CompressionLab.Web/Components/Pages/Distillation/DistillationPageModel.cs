using System.Globalization;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Jobs;

namespace CompressionLab.Web.Components.Pages.Distillation;

/// <summary>Teacher and student probabilities of one image at one T, per class, for the grouped bar chart.</summary>
/// <param name="Classes">Class names in class order; the true one is <paramref name="Label"/>.</param>
public sealed record SoftTargetBars(IReadOnlyList<string> Classes, IReadOnlyList<double> Teacher, IReadOnlyList<double> Student, int Label, double Temperature, bool LogScale);

/// <summary>One curve chart against T: its lines and the marker at the slider's T.</summary>
public sealed record TemperatureCurve(string Title, string YTitle, IReadOnlyList<LineSeries> Series);

/// <summary>
/// The Distillation page's compare section without a renderer: the teacher(s), student and dataset picked among the
/// workspace models, the subset size, the T grid (typed, refused in place when bad) and the slider's position on it, the
/// comparison job it follows, and — once the logits are there — everything shown across T: one image's soft targets,
/// the curves with their marker, the class-similarity heatmap and the per-class table. Every T of the grid is computed
/// once when the comparison or the grid changes, so a slider move is a lookup plus one image's soft targets.
/// Threading as <see cref="Sensitivity.SensitivityPageModel"/>: job updates are queued on the worker's thread and
/// applied by <see cref="ApplyUpdates"/> on the page's.
/// </summary>
public sealed class DistillationPageModel : IDisposable
{
    public const string DefaultGridText = "1,2,3,4,6,8,12,16,20";

    /// <summary>How many of the most disagreeing images the jump button cycles through.</summary>
    public const int DisagreeingCount = 50;

    private readonly IJobScheduler scheduler;
    private readonly ModelStore store;
    private readonly DistillationJobs jobs;
    private readonly JobUpdateInbox inbox;
    private readonly HashSet<Guid> teachers = [];
    private IReadOnlyList<int> disagreeing = [];
    private double disagreeingAt = double.NaN;
    private int disagreeingNext;
    private Guid? openedJob;

    /// <param name="updatesWaiting">Called on the scheduler's thread when comparison job updates wait for <see cref="ApplyUpdates"/>.</param>
    public DistillationPageModel(IJobScheduler scheduler, ModelStore store, DistillationJobs jobs, Action updatesWaiting)
    {
        this.scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        this.store = store ?? throw new ArgumentNullException(nameof(store));
        this.jobs = jobs ?? throw new ArgumentNullException(nameof(jobs));
        inbox = new JobUpdateInbox(scheduler, kind => kind == SoftTargetJob.Kind, updatesWaiting);
        Grid = SoftTargetComparison.DefaultTemperatures;
        RefreshModels();
        // A comparison started before the page opened (another tab, a reload) is followed; else the newest finished one is opened.
        if (inbox.Unfinished.OrderByDescending(j => j.CreatedAt).FirstOrDefault() is { } running) Job = running;
        else if (scheduler.List().Where(j => j.Kind == SoftTargetJob.Kind && j.State == JobState.Succeeded).MaxBy(j => j.CreatedAt) is { } done) TryOpen(done);
    }

    /// <summary>Every model of the workspace, newest first.</summary>
    public IReadOnlyList<ModelRecord> Models { get; private set; } = [];

    /// <summary>The datasets the workspace has models of.</summary>
    public IReadOnlyList<string> Datasets => [.. Models.Select(m => m.Dataset).Distinct(StringComparer.Ordinal)];

    /// <summary>The dataset whose models are offered (teacher and student must share it).</summary>
    public string? Dataset { get; private set; }

    public IReadOnlyList<ModelRecord> ModelsOfDataset => [.. Models.Where(m => m.Dataset == Dataset)];

    /// <summary>The teachers picked; several are an ensemble (their soft targets averaged).</summary>
    public IReadOnlyCollection<Guid> Teachers => teachers;

    public Guid? Student { get; private set; }

    /// <summary>Validation images compared (the first N of the stratified order every analysis uses).</summary>
    public int SubsetSize { get; set; } = AnalysisSubset.DefaultSize;

    /// <summary>What the T box holds (kept as typed, even when refused).</summary>
    public string GridText { get; private set; } = DefaultGridText;

    /// <summary>Why the T box was refused, shown beside it; null when it is fine.</summary>
    public string? GridError { get; private set; }

    /// <summary>The T grid in use (the last accepted one).</summary>
    public IReadOnlyList<double> Grid { get; private set; }

    /// <summary>The slider's position on <see cref="Grid"/>.</summary>
    public int TemperatureIndex { get; private set; } = 3;

    public double Temperature => Grid[TemperatureIndex];

    public bool LogScale { get; set; }

    /// <summary>Why the last compute was refused or failed; null otherwise.</summary>
    public string? Error { get; private set; }

    /// <summary>The comparison job followed (started here or found running), or null.</summary>
    public JobSnapshot? Job { get; private set; }

    public bool IsComputing => Job is { IsFinished: false };

    /// <summary>The comparison shown, or null before any.</summary>
    public OpenComparison? Shown { get; private set; }

    /// <summary>Every T of <see cref="Grid"/> on <see cref="Shown"/>, in grid order.</summary>
    public IReadOnlyList<TemperaturePoint> Points { get; private set; } = [];

    /// <summary>The subset-wide numbers at the slider's T.</summary>
    public TemperaturePoint? Current => Points.Count > TemperatureIndex ? Points[TemperatureIndex] : null;

    /// <summary>The image shown (a row of the comparison).</summary>
    public int Row { get; private set; }

    /// <summary>The image shown at the slider's T.</summary>
    public ImageSoftTargets? Image { get; private set; }

    public IReadOnlyList<string> ClassNames => Shown?.ClassNames ?? [];

    public void RefreshModels()
    {
        Models = [.. store.List().OrderByDescending(m => m.CreatedAt)];
        if (Dataset is null || !Models.Any(m => m.Dataset == Dataset)) SelectDataset(Models.FirstOrDefault()?.Dataset);
        teachers.RemoveWhere(id => !Models.Any(m => m.Id == id));
        if (Student is { } s && !Models.Any(m => m.Id == s)) Student = null;
    }

    /// <summary>Shows the models of <paramref name="dataset"/>: the most accurate as teacher, the least accurate (else another) as student.</summary>
    public void SelectDataset(string? dataset)
    {
        Dataset = dataset;
        teachers.Clear();
        Student = null;
        var candidates = ModelsOfDataset.OrderByDescending(m => m.Top1 ?? 0).ToList();
        if (candidates.Count >= 2)
        {
            teachers.Add(candidates[0].Id);
            Student = candidates[^1].Id;
        }
        else if (candidates.Count == 1)
        {
            Student = candidates[0].Id;
        }
    }

    public void SetTeacher(Guid id, bool chosen)
    {
        if (chosen) teachers.Add(id);
        else teachers.Remove(id);
    }

    public void SetTeachers(IEnumerable<Guid> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        teachers.Clear();
        teachers.UnionWith(ids);
    }

    public void SetStudent(Guid? id) => Student = id;

    /// <summary>
    /// Takes the typed T grid: accepted, it replaces the grid (the slider stays at the nearest T) and every T is computed
    /// anew; refused, the message is kept in <see cref="GridError"/> and the grid in use stays.
    /// </summary>
    public bool SetGridText(string text)
    {
        GridText = text ?? "";
        try
        {
            var parsed = SoftTargetRequest.ParseTemperatures(GridText);
            var grid = parsed.Distinct().Order().ToArray();
            var was = Temperature;
            Grid = grid;
            GridError = null;
            TemperatureIndex = Nearest(grid, was);
            Recompute();
            return true;
        }
        catch (InvalidRequestException e)
        {
            GridError = e.Message;
            return false;
        }
    }

    /// <summary>Moves the slider to the <paramref name="index"/>-th T of the grid: a lookup of that T's numbers and one image's soft targets.</summary>
    public void SetTemperatureIndex(int index)
    {
        TemperatureIndex = Math.Clamp(index, 0, Grid.Count - 1);
        UpdateAtTemperature();
    }

    public void ShowRow(int row)
    {
        if (Shown is null) return;
        var rows = Shown.Comparison.Rows;
        Row = ((row % rows) + rows) % rows;
        UpdateImage();
    }

    public void Next() => ShowRow(Row + 1);

    public void Previous() => ShowRow(Row - 1);

    /// <summary>Jumps to the next of the <see cref="DisagreeingCount"/> images where teacher and student disagree most at the slider's T.</summary>
    public void NextDisagreeing()
    {
        if (Shown is null) return;
        if (disagreeingAt != Temperature)
        {
            disagreeing = Shown.Comparison.MostDisagreeing(Temperature, DisagreeingCount);
            disagreeingAt = Temperature;
            disagreeingNext = 0;
        }
        if (disagreeing.Count == 0) return;
        ShowRow(disagreeing[disagreeingNext % disagreeing.Count]);
        disagreeingNext++;
    }

    /// <summary>Rank (1-based) of the image shown among the most disagreeing at this T; null when it is not among them.</summary>
    public int? DisagreeingRank => disagreeingAt == Temperature && disagreeing.ToList().IndexOf(Row) is >= 0 and var i ? i + 1 : null;

    /// <summary>
    /// Compares the picked teacher(s) with the student: at once from the workspace when every model's logits on the
    /// subset are cached, else through a job. Returns the job queued (null when none was needed or it was refused) and the error.
    /// </summary>
    public (JobSnapshot? Job, string? Error) Compute()
    {
        Error = null;
        if (IsComputing) return Fail("A comparison is already running; wait for it or cancel it.");
        if (teachers.Count == 0) return Fail("Choose at least one teacher.");
        if (Student is not { } student) return Fail("Choose a student.");
        if (teachers.Contains(student)) return Fail("The student cannot be one of its teachers.");
        if (GridError is not null) return Fail($"Fix the temperatures first: {GridError}");
        var request = new SoftTargetRequest([.. Models.Where(m => teachers.Contains(m.Id)).Select(m => (ModelSource)new StoredModel(m.Id))],
            new StoredModel(student), Dataset, Grid, SubsetSize);
        try
        {
            request.Validate();
            if (jobs.FindCached(request) is { } cached)
            {
                Show(cached);
                return (null, null);
            }
            Job = jobs.StartComparison(request);
            return (Job, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException)
        {
            return Fail(e.Message);
        }
    }

    public bool Cancel() => Job is { } job && scheduler.Cancel(job.Id);

    /// <summary>Applies comparison job updates; opens the result when the followed job succeeded. Returns an error to show once, or null.</summary>
    public string? ApplyUpdates()
    {
        string? error = null;
        while (inbox.TryTake(out var update))
        {
            var job = update.Job;
            if (job.Id != Job?.Id && !job.IsFinished && !IsComputing) Job = job;
            if (job.Id != Job?.Id) continue;
            Job = job;
            if (job.State == JobState.Succeeded && openedJob != job.Id) TryOpen(job);
            if (job.State == JobState.Failed) error = Error = job.Error;
        }
        return error;
    }

    /// <summary>Shows a comparison (a cached one, or a job's) and computes every T of the grid on it.</summary>
    public void Show(OpenComparison comparison)
    {
        Shown = comparison ?? throw new ArgumentNullException(nameof(comparison));
        Row = 0;
        disagreeing = [];
        disagreeingAt = double.NaN;
        Recompute();
    }

    /// <summary>The bars of the image shown at the slider's T.</summary>
    public SoftTargetBars? Bars => Image is { } image
        ? new SoftTargetBars(ClassNames, image.Teacher, image.Student, image.Label, Temperature, LogScale)
        : null;

    /// <summary>The curves against T, each with its marker at the slider's T (entropies, KL, T²·KL, agreement).</summary>
    public IReadOnlyList<TemperatureCurve> Curves { get; private set; } = [];

    /// <summary>The class-similarity matrix at the slider's T, in percent: row = true class, column = the teacher's mean soft target.</summary>
    public IReadOnlyList<IReadOnlyList<double>> Similarity { get; private set; } = [];

    private IReadOnlyList<TemperatureCurve> BuildCurves()
    {
        if (Points.Count == 0) return [];
        double[] t = [.. Points.Select(p => p.Temperature)];
        var at = Temperature;
        var current = Current!;
        LineSeries Marker(double y) => new($"T = {at.ToString(CultureInfo.InvariantCulture)}", [at], [y])
        {
            MarkersOnly = true,
            MarkerSize = 13,
            Color = "#d62728",
            ShowLegend = false,
            HoverTemplate = "T = %{x}: %{y:.4f}<extra></extra>",
        };
        return
        [
            new("Mean entropy", "nats",
            [
                new LineSeries("teacher", t, [.. Points.Select(p => p.TeacherEntropy)]) { Color = "#1f77b4", HoverTemplate = "teacher, T = %{x}: %{y:.4f} nats<extra></extra>" },
                new LineSeries("student", t, [.. Points.Select(p => p.StudentEntropy)]) { Color = "#ff7f0e", HoverTemplate = "student, T = %{x}: %{y:.4f} nats<extra></extra>" },
                Marker(current.TeacherEntropy) with { Name = "T marker (teacher)" },
                Marker(current.StudentEntropy) with { Name = "T marker (student)" },
            ]),
            new("KL(teacher ‖ student), without T²", "nats",
            [
                new LineSeries("KL", t, [.. Points.Select(p => p.Kl)]) { Color = "#9467bd", HoverTemplate = "T = %{x}: KL %{y:.5f}<extra></extra>" },
                Marker(current.Kl),
            ]),
            new("T² · KL (the soft term on the scale of the hard one)", "nats × T²",
            [
                new LineSeries("T²·KL", t, [.. Points.Select(p => p.KlT2)]) { Color = "#8c564b", HoverTemplate = "T = %{x}: T²·KL %{y:.4f}<extra></extra>" },
                Marker(current.KlT2),
            ]),
            new("Top-1 agreement", "% of images",
            [
                new LineSeries("agreement", t, [.. Points.Select(p => p.Agreement * 100)]) { Color = "#2ca02c", HoverTemplate = "T = %{x}: %{y:.2f} %<extra></extra>" },
                Marker(current.Agreement * 100),
            ]),
        ];
    }

    private IReadOnlyList<IReadOnlyList<double>> BuildSimilarity() =>
        Current is { } point ? [.. point.ClassSimilarity.Select(row => (IReadOnlyList<double>)[.. row.Select(v => v * 100)])] : [];

    /// <summary>The teachers' and student's names as shown above the charts.</summary>
    public string Describe() => Shown is { } shown
        ? string.Create(CultureInfo.InvariantCulture,
            $"{string.Join(" + ", shown.Summary.Teachers.Select(t => t.Name))} → {shown.Summary.Student.Name} · {shown.Summary.Images:N0} validation images of {shown.Summary.Dataset}")
        : "";

    public void Dispose() => inbox.Dispose();

    private void TryOpen(JobSnapshot job)
    {
        openedJob = job.Id;
        if (DistillationJobs.TryReadComparison(job.ResultJson) is not { } result) return;
        try
        {
            Show(jobs.Open(result));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IOException or InvalidDataException)
        {
            Error = e.Message;
        }
    }

    private void Recompute()
    {
        Points = Shown is null ? [] : Shown.Comparison.Sweep(Grid);
        UpdateAtTemperature();
    }

    /// <summary>What depends on the slider's T: the image's soft targets, the curves' markers, the heatmap.</summary>
    private void UpdateAtTemperature()
    {
        UpdateImage();
        Curves = BuildCurves();
        Similarity = BuildSimilarity();
    }

    private void UpdateImage() => Image = Shown is null ? null : Shown.Comparison.Image(Row, Temperature);

    private (JobSnapshot?, string?) Fail(string message)
    {
        Error = message;
        return (null, message);
    }

    private static int Nearest(IReadOnlyList<double> grid, double t)
    {
        var best = 0;
        for (var i = 1; i < grid.Count; i++)
            if (Math.Abs(grid[i] - t) < Math.Abs(grid[best] - t)) best = i;
        return best;
    }
}
