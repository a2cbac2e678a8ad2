using System.Collections.Concurrent;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;

namespace CompressionLab.Web.Components.Pages.Pruning;

/// <summary>One point of the recovery curve: validation top-1 (a fraction) after an epoch of fine-tuning.</summary>
public sealed record RecoveryPoint(int Epoch, double Top1);

/// <summary>
/// The Pruning plan page's fine-tune section without a renderer: the settings (schedule, epochs, learning rate,
/// training images), the fine-tuning it follows (started here, running when the page opened, or resumed), the recovery
/// curve built from the job's partial results, the new model when it is done, and the interrupted fine-tunings that
/// can be resumed. Threading as <see cref="PruningPageModel"/>: updates are queued on the worker's thread and applied
/// by <see cref="ApplyUpdates"/> on the page's.
/// </summary>
public sealed class FineTuneSectionModel : IDisposable
{
    public const int DefaultEpochs = 2;

    private readonly IJobScheduler scheduler;
    private readonly FineTuneJobs fineTunes;
    private readonly Func<JobSnapshot, SavedTraining?> saved;
    private readonly ConcurrentQueue<JobUpdate> updates = new();
    private readonly IDisposable subscription;
    private readonly List<RecoveryPoint> points = [];

    /// <param name="saved">What an interrupted fine-tuning saved (the dashboard's <c>SavedTrainings.Of</c>); null when nothing.</param>
    /// <param name="updatesWaiting">Called on the scheduler's thread when job updates wait for <see cref="ApplyUpdates"/>.</param>
    public FineTuneSectionModel(IJobScheduler scheduler, FineTuneJobs fineTunes, Func<JobSnapshot, SavedTraining?> saved, Action updatesWaiting)
    {
        this.scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        this.fineTunes = fineTunes ?? throw new ArgumentNullException(nameof(fineTunes));
        this.saved = saved ?? throw new ArgumentNullException(nameof(saved));
        ArgumentNullException.ThrowIfNull(updatesWaiting);
        subscription = scheduler.Subscribe(update =>
        {
            if (update.Job.Kind == FineTuneJob.Kind)
            {
                updates.Enqueue(update);
                updatesWaiting();
            }
        });
        // A fine-tuning started before the page opened (another tab, or before a reload) is followed as if started here;
        // its earlier partials are gone, so its curve starts at the next epoch.
        var jobs = scheduler.List();
        if (jobs.Where(j => j.Kind == FineTuneJob.Kind && !j.IsFinished).OrderBy(j => j.CreatedAt).LastOrDefault() is { } running) Follow(running);
        RefreshResumable(jobs);
    }

    public FineTuneSchedule Schedule { get; set; } = FineTuneSchedule.Fixed;

    public int Epochs { get; set; } = DefaultEpochs;

    public double LearningRate { get; set; } = FineTuneRequest.DefaultLearningRate;

    /// <summary>Fine-tune on a class-stratified subset of this many training images; null: the whole train part.</summary>
    public int? TrainingImages { get; set; }

    /// <summary>The request's message for each setting it refused (by the request's setting name), shown beside that field.</summary>
    public IReadOnlyDictionary<string, string> SettingErrors { get; private set; } = new Dictionary<string, string>();

    /// <summary>The fine-tuning this section follows, or null.</summary>
    public JobSnapshot? Job { get; private set; }

    /// <summary>The followed job's first partial: the reference lines and the run's settings; null until it arrives.</summary>
    public FineTuneStarted? Started { get; private set; }

    /// <summary>Validation top-1 after each finished epoch (a resumed run's earlier epochs included).</summary>
    public IReadOnlyList<RecoveryPoint> Points => points;

    /// <summary>What the followed job made, once it succeeded.</summary>
    public FineTuneJobResult? Result { get; private set; }

    /// <summary>Interrupted or failed fine-tunings with saved epochs that no job is resuming yet, newest first.</summary>
    public IReadOnlyList<(JobSnapshot Job, SavedTraining Saved)> Resumable { get; private set; } = [];

    /// <summary>The recovery chart's lines, rebuilt when a point or a reference arrives.</summary>
    public IReadOnlyList<LineSeries> Chart { get; private set; } = [];

    public bool IsRunning => Job is { IsFinished: false };

    /// <summary>
    /// Queues the fine-tuning of <paramref name="plan"/> on <paramref name="model"/>. A setting the request refuses is
    /// kept in <see cref="SettingErrors"/> (shown in place) and nothing is queued.
    /// </summary>
    /// <param name="subsetSize">Validation images of the recovery curve: the plan evaluation's, so its first points compare.</param>
    /// <returns>The queued job, or why none was queued.</returns>
    public (JobSnapshot? Job, string? Error) Start(ModelRecord? model, PruningPlan? plan, IReadOnlyList<PlanProblem> problems, string? dataset, int subsetSize)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (model is null || plan is null) return (null, "Choose a model first.");
        if (problems is [var first, ..]) return (null, $"Fix the plan first: {first.Message}");
        if (IsRunning) return (null, "A fine-tuning is already running; wait for it or cancel it.");
        var request = new FineTuneRequest(new StoredModel(model.Id), plan, dataset, Schedule, Epochs, LearningRate, TrainingImages: TrainingImages,
            SubsetSize: subsetSize, PlanFor: null);
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
            Follow(fineTunes.StartFineTune(request));
            return (Job, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>Queues the continuation of an interrupted fine-tuning from its last saved epoch, and follows it.</summary>
    public (JobSnapshot? Job, string? Error) Resume(JobSnapshot interrupted)
    {
        ArgumentNullException.ThrowIfNull(interrupted);
        try
        {
            Follow(fineTunes.ResumeFineTune(interrupted.Id));
            RefreshResumable(scheduler.List());
            return (Job, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    public bool Cancel() => Job is { } job && scheduler.Cancel(job.Id);

    /// <summary>
    /// Applies the job updates that arrived: progress, the reference lines, each epoch's point, and the result. Returns
    /// (failure to show once or null, whether a new model was stored so the page reloads its model list).
    /// </summary>
    public (string? Error, bool ModelStored) ApplyUpdates()
    {
        string? error = null;
        var stored = false;
        var any = false;
        while (updates.TryDequeue(out var update))
        {
            any = true;
            var job = update.Job;
            // A job started elsewhere while nothing runs here is followed too (the page shows the one running fine-tuning).
            if (job.Id != Job?.Id && !job.IsFinished && !IsRunning && job.State == JobState.Running) Follow(job);
            if (job.Id != Job?.Id) continue;
            Job = job;
            switch (update.Partial)
            {
                case FineTuneStarted started:
                    Started = started;
                    points.Clear();
                    points.AddRange(started.EarlierEpochs.Where(e => e.ValidationTop1 is not null).Select(e => new RecoveryPoint(e.Epoch, e.ValidationTop1!.Value)));
                    break;
                case FineTuneEpochFinished { Epoch.ValidationTop1: { } top1 } epoch:
                    points.RemoveAll(p => p.Epoch == epoch.Epoch.Epoch);
                    points.Add(new RecoveryPoint(epoch.Epoch.Epoch, top1));
                    break;
            }
            if (job is { State: JobState.Succeeded, ResultJson: { } json } && Result is null)
            {
                Result = FineTuneJobResult.FromJson(json);
                // The result holds every epoch: a page that opened mid-run gets the points it missed.
                points.Clear();
                points.AddRange(Result.History.Where(e => e.ValidationTop1 is not null).Select(e => new RecoveryPoint(e.Epoch, e.ValidationTop1!.Value)));
                stored = Result.ModelId is not null;
            }
            if (job.State == JobState.Failed) error = job.Error;
        }
        if (any)
        {
            RefreshResumable(scheduler.List());
            Chart = BuildChart();
        }
        return (error, stored);
    }

    /// <summary>Dense top-1 on the subset (from the first partial, or the result).</summary>
    public double? DenseTop1 => Result?.DenseTop1 ?? Started?.DenseTop1;

    /// <summary>The plan's masks on the parent, not fine-tuned, on the same images.</summary>
    public double? PrunedTop1 => Result?.Top1Before ?? Started?.PrunedTop1;

    /// <summary>The followed run's schedule (from its parameters); null when they cannot be read.</summary>
    public FineTuneSchedule? RunSchedule { get; private set; }

    /// <summary>Epochs of the followed run (its settings, else the section's).</summary>
    public int RunEpochs => Result?.Epochs ?? Started?.Settings.Epochs ?? Epochs;

    /// <summary>
    /// Validation top-1 (%) per epoch, with the dense and the pruned-not-fine-tuned model as horizontal lines over the
    /// run's epochs. The curve starts at epoch 0 where the run starts: fixed masks from the pruned model, AGP from the dense one.
    /// </summary>
    public IReadOnlyList<LineSeries> BuildChart()
    {
        var lines = new List<LineSeries>();
        double[] span = [0, Math.Max(RunEpochs, points.Count == 0 ? 1 : points.Max(p => p.Epoch))];
        if (DenseTop1 is { } dense)
            lines.Add(new LineSeries("dense model", span, [dense * 100, dense * 100]) { Color = "#2ca02c", Dashed = true, MarkerSize = 1, HoverTemplate = "dense: %{y:.2f} %<extra></extra>" });
        if (PrunedTop1 is { } pruned)
            lines.Add(new LineSeries("pruned, not fine-tuned", span, [pruned * 100, pruned * 100]) { Color = "#d62728", Dashed = true, MarkerSize = 1, HoverTemplate = "pruned, not fine-tuned: %{y:.2f} %<extra></extra>" });
        var start = RunSchedule switch
        {
            FineTuneSchedule.Fixed => PrunedTop1,
            FineTuneSchedule.Agp => DenseTop1,
            _ => null,
        };
        var curve = start is { } top1 && points.All(p => p.Epoch > 0) ? [new RecoveryPoint(0, top1), .. points] : points.ToList();
        lines.Add(new LineSeries("fine-tuned (validation)", [.. curve.Select(p => (double)p.Epoch)], [.. curve.Select(p => p.Top1 * 100)])
        {
            Color = "#1f77b4",
            MarkerSize = 9,
            HoverTemplate = "epoch %{x}: %{y:.2f} %<extra></extra>",
        });
        return lines;
    }

    /// <summary>One line on the new model for the result panel.</summary>
    public static string Describe(FineTuneJobResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return string.Create(CultureInfo.InvariantCulture,
            $"validation top-1 {result.Top1Before * 100:0.00} % → {result.Top1After * 100:0.00} % (dense {result.DenseTop1 * 100:0.00} %), test {result.TestTop1 * 100:0.00} %");
    }

    public void Dispose() => subscription.Dispose();

    private void Follow(JobSnapshot job)
    {
        Job = job;
        RunSchedule = ScheduleOf(job);
        Started = null;
        Result = null;
        points.Clear();
        Chart = BuildChart();
    }

    private static FineTuneSchedule? ScheduleOf(JobSnapshot job)
    {
        try
        {
            return ModelJobJson.Read<FineTuneRequest>(job.ParametersJson)?.Schedule;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            return null;
        }
    }

    private void RefreshResumable(IReadOnlyList<JobSnapshot> jobs) =>
        Resumable = [.. jobs
            .Where(j => j.Kind == FineTuneJob.Kind && j.State is JobState.Interrupted or JobState.Failed)
            .Where(j => !jobs.Any(other => !other.IsFinished && other.Links.Resumes == j.Id))
            .Select(j => (Job: j, Saved: saved(j)))
            .Where(x => x.Saved is { CanResume: true })
            .OrderByDescending(x => x.Job.CreatedAt)
            .Select(x => (x.Job, x.Saved!))];
}
