using System.Collections.Concurrent;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;

namespace CompressionLab.Web.Components.Pages.Sensitivity;

/// <summary>A change the chart needs after the model changed: redraw it, or extend some of its lines.</summary>
public abstract record SensitivityChartChange;

/// <summary>Every line anew (another sweep, metric or overlay, or a cell below a level already drawn).</summary>
public sealed record RedrawChart(IReadOnlyList<LineSeries> Series, string AxisTitle) : SensitivityChartChange;

/// <summary>Points to append to existing lines (cells that arrived after every level their line had).</summary>
public sealed record ExtendChart(IReadOnlyList<LineExtension> Lines) : SensitivityChartChange;

/// <summary>The points, with their hover texts, to append to line <paramref name="Line"/>.</summary>
public sealed record LineExtension(int Line, IReadOnlyList<double> X, IReadOnlyList<double> Y, IReadOnlyList<string> Text);

/// <summary>
/// Everything the Sensitivity page shows and does, without a renderer: the sweep job it follows, the sweep shown (and
/// one laid over it), the workspace's sweep history, the metric and threshold chosen, and the chart changes still to
/// send. The page binds its markup to this and forwards clicks; tests drive it directly.
/// </summary>
/// <remarks>
/// Threading: the scheduler's updates arrive on the worker's thread and are only queued here, and the page is told
/// that some wait; everything else, <see cref="ApplyUpdates"/> included, is called by the page
/// on its renderer's dispatcher, one call at a time, so the state needs no lock.
/// </remarks>
public sealed class SensitivityPageModel : IDisposable
{
    private readonly IJobScheduler scheduler;
    private readonly SweepJobs sweeps;
    private readonly ConcurrentQueue<JobUpdate> updates = new();
    private readonly List<(int Line, double X, double Y, string Text)> pendingPoints = [];
    private readonly IDisposable subscription;
    private Guid? followedJobId;
    private Guid? followedSweepId;
    private bool chartStale = true;

    /// <summary>
    /// Subscribes to sweep jobs (before looking, so nothing published in between is lost), then follows the sweep job
    /// that runs or opens the newest sweep of the workspace.
    /// </summary>
    /// <param name="updatesWaiting">
    /// Called on the scheduler's thread when updates wait for <see cref="ApplyUpdates"/> (the page asks its throttled
    /// render for it); keep it short. Given here rather than as an event so that no update can come before it is set.
    /// </param>
    public SensitivityPageModel(IJobScheduler scheduler, SweepJobs sweeps, Action updatesWaiting)
    {
        this.scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        this.sweeps = sweeps ?? throw new ArgumentNullException(nameof(sweeps));
        ArgumentNullException.ThrowIfNull(updatesWaiting);
        subscription = scheduler.Subscribe(update =>
        {
            if (update.Job.Kind == SweepJob.Kind)
            {
                updates.Enqueue(update);
                updatesWaiting();
            }
        });
        History = sweeps.History.List();
        if (scheduler.List().Where(j => j.Kind == SweepJob.Kind && !j.IsFinished).OrderBy(j => j.CreatedAt).FirstOrDefault() is { } running)
        {
            Follow(running);
        }
        else if (History.Count > 0)
        {
            Open(History[0]);
        }
    }

    /// <summary>The sweep job followed: started here, resumed here, or found running (null before any).</summary>
    public JobSnapshot? Followed { get; private set; }

    /// <summary>A sweep job is queued or running, so no other can be started from this page.</summary>
    public bool Busy => Followed is { IsFinished: false };

    /// <summary>The sweep whose curves are shown.</summary>
    public SensitivityView? Main { get; private set; }

    /// <summary>A second sweep drawn over <see cref="Main"/> in dashed lines.</summary>
    public SensitivityView? Overlay { get; private set; }

    /// <summary>The known cells of <see cref="Main"/>, a new list whenever one arrives (the table re-sorts on a new list).</summary>
    public IReadOnlyList<SweepCell> Cells { get; private set; } = [];

    /// <summary>Every sweep of the workspace, newest first.</summary>
    public IReadOnlyList<SweepRecord> History { get; private set; }

    public SweepMetric Metric { get; private set; } = SweepMetric.Top1;

    /// <summary>The top-1 drop (points) the ranking allows.</summary>
    public double Threshold { get; set; } = 1;

    /// <summary>
    /// Applies what the scheduler published since the last call: job progress, the sweep's plan, its cells. Returns the
    /// error of the followed sweep when it has just failed (to be shown once), otherwise null.
    /// </summary>
    public string? ApplyUpdates()
    {
        var finished = false;
        while (updates.TryDequeue(out var update))
        {
            var job = update.Job;
            if (!job.IsFinished && job.Id != followedJobId && Followed is null or { IsFinished: true })
            {
                Follow(job); // started elsewhere (another tab), and nothing else is being followed
            }
            if (job.Id != followedJobId)
            {
                continue;
            }
            Followed = job;
            finished |= job.IsFinished;
            switch (update.Partial)
            {
                case SweepStarted started:
                    // The job may have found the same sweep in the history and carried on in its row instead of the planned one.
                    followedSweepId = started.Sweep.Id;
                    if (Main?.Sweep.Id != started.Sweep.Id)
                    {
                        Show(new SensitivityView(started.Sweep, started.Baseline));
                        History = sweeps.History.List();
                    }
                    break;
                case SweepCellFinished cell when cell.SweepId == Main?.Sweep.Id:
                    AddCell(cell.Cell, cell.Baseline);
                    break;
            }
        }
        if (!finished)
        {
            return null;
        }
        History = sweeps.History.List();
        return Followed is { State: JobState.Failed, Error: { } error } ? error : null;
    }

    /// <summary>
    /// What the chart must do to show the current state, once: a redraw when something other than new points changed,
    /// else the points that arrived since the last call, per line; null when it is up to date.
    /// </summary>
    public SensitivityChartChange? TakeChartChange()
    {
        if (Main is null)
        {
            return null;
        }
        if (chartStale)
        {
            chartStale = false;
            pendingPoints.Clear();
            return new RedrawChart(SensitivityChart.Series(Main, Overlay, Metric), SensitivityChart.AxisTitle(Metric));
        }
        if (pendingPoints.Count == 0)
        {
            return null;
        }
        var lines = pendingPoints.GroupBy(p => p.Line)
            .Select(line => new LineExtension(line.Key, [.. line.Select(p => p.X)], [.. line.Select(p => p.Y)], [.. line.Select(p => p.Text)]))
            .ToList();
        pendingPoints.Clear();
        return new ExtendChart(lines);
    }

    /// <summary>Queues a sweep and follows it; the job, or why it could not be queued.</summary>
    public (JobSnapshot? Job, string? Error) Start(SweepRequest request)
    {
        try
        {
            var job = sweeps.StartSweep(request);
            Overlay = null;
            Follow(job);
            return (job, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>Queues an unfinished sweep again (only its missing cells are measured) and follows it.</summary>
    public (JobSnapshot? Job, string? Error) Resume(SweepRecord sweep)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        try
        {
            var job = sweeps.Resume(sweep.Id);
            Overlay = null;
            Follow(job);
            return (job, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>Asks the scheduler to cancel <paramref name="job"/>; false when it had already ended.</summary>
    public bool Cancel(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return scheduler.Cancel(job.Id);
    }

    /// <summary>Shows <paramref name="record"/> with the cells the workspace holds for it.</summary>
    public void Open(SweepRecord record)
    {
        Show(SensitivityView.From(record, SavedSweep.Read(record, sweeps.Cells)));
        if (Overlay?.Sweep.Id == record.Id)
        {
            Overlay = null;
        }
    }

    /// <summary>Lays <paramref name="record"/> over the sweep shown, in dashed lines.</summary>
    public void LayOver(SweepRecord record)
    {
        Overlay = SensitivityView.From(record, SavedSweep.Read(record, sweeps.Cells));
        chartStale = true;
    }

    public void ClearOverlay()
    {
        Overlay = null;
        chartStale = true;
    }

    public void ShowMetric(SweepMetric metric)
    {
        Metric = metric;
        chartStale = true;
    }

    /// <summary>Whether <paramref name="sweep"/> is the row the followed job is filling right now.</summary>
    public bool IsRunning(SweepRecord sweep)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        return sweep.Id == followedSweepId && Followed is { IsFinished: false };
    }

    /// <summary>The history's cell column: "60 · done", "60 planned · running", "60 planned · not finished".</summary>
    public string CellsText(SweepRecord sweep)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        return sweep switch
        {
            { IsFinished: true } => $"{sweep.CellCount} · done",
            _ when IsRunning(sweep) => $"{sweep.CellCount} planned · running",
            _ => $"{sweep.CellCount} planned · not finished",
        };
    }

    public void Dispose() => subscription.Dispose();

    private void Follow(JobSnapshot job)
    {
        followedJobId = job.Id;
        Followed = job;
        // The row the job really runs: a repeated sweep reuses an earlier row, so the id planned for the job (its subject)
        // may not exist; once started, the job is recorded on the row it uses.
        var record = sweeps.History.FindByJob(job.Id) ?? (job.Links.Subject is { } planned ? sweeps.History.Get(planned) : null);
        followedSweepId = record?.Id ?? job.Links.Subject;
        // A sweep already under way: show what it has stored so far; the rest arrives cell by cell.
        if (record is not null)
        {
            Show(SensitivityView.From(record, SavedSweep.Read(record, sweeps.Cells)));
        }
    }

    private void AddCell(SweepCell cell, SweepMetrics baseline)
    {
        switch (Main!.Add(cell, baseline))
        {
            case CellAddition.Appended:
                var line = Main.IndexOf(cell.Layer);
                pendingPoints.Add((line, cell.Sparsity, SensitivityView.Value(cell, Metric), SensitivityChart.PrunedText(Main.Layers[line], cell, Main.Sweep.Criterion)));
                Cells = [.. Main.Cells];
                break;
            case CellAddition.Inserted:
                chartStale = true;
                Cells = [.. Main.Cells];
                break;
        }
    }

    private void Show(SensitivityView view)
    {
        Main = view;
        Cells = [.. view.Cells];
        chartStale = true;
    }
}
