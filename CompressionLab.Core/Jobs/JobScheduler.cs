using System.Collections.Concurrent;
using System.Reflection;
using System.Threading.Channels;
using CompressionLab.Core.Workspace;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CompressionLab.Core.Jobs;

/// <summary>
/// Queues jobs and runs them on a hosted worker, <see cref="JobOptions.MaxConcurrency"/> at a time (one by
/// default), persisting each job's state in the workspace's <c>jobs</c> table. Until the worker is started
/// (<see cref="BackgroundService.StartAsync"/>, done by the host) jobs only wait.
/// </summary>
public sealed class JobScheduler : BackgroundService, IJobScheduler
{
    private readonly JobStore _store;
    private readonly JobOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SchedulerLease _lease;

    // Unbounded on purpose: the capacity is enforced on jobs still waiting (_waiting), because a bounded
    // channel would also count cancelled jobs that sit in it until the worker reaches them.
    private readonly Channel<JobRun> _queue = Channel.CreateUnbounded<JobRun>(new UnboundedChannelOptions { SingleWriter = false });
    private readonly Lock _admission = new();
    private int _waiting;
    private bool _stopped;

    // Jobs of this scheduler that have not finished (and finished ones whose last state could not be saved).
    private readonly ConcurrentDictionary<Guid, JobRun> _active = new();

    private readonly Lock _subscriberGate = new();
    private Action<JobUpdate>[] _subscribers = [];

    public JobScheduler(WorkspaceDatabase database, JobOptions options, ILogger<JobScheduler>? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _store = new JobStore(database);

        database.EnsureMigrated();
        var locks = database.PathInside("locks");
        _lease = SchedulerLease.Acquire(locks);
        try
        {
            var interrupted = _store.InterruptAbandoned(owner => SchedulerLease.IsHeld(locks, owner), _time.GetUtcNow());
            if (interrupted > 0)
            {
                _logger.LogWarning("Marked {Count} job(s) left running or queued by a stopped app as interrupted.", interrupted);
            }

            // File times are real, not the injected clock's.
            SchedulerLease.RemoveStale(locks, DateTime.UtcNow.AddMinutes(-10));
        }
        catch
        {
            _lease.Dispose();
            throw;
        }
    }

    public JobSnapshot Enqueue(string kind, string title, string parametersJson, JobWork work, JobLinks? links = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentException.ThrowIfNullOrWhiteSpace(title);
        ArgumentNullException.ThrowIfNull(work);

        var snapshot = new JobSnapshot(
            Guid.CreateVersion7(), kind, title, string.IsNullOrWhiteSpace(parametersJson) ? "{}" : parametersJson,
            JobState.Queued, Fraction: 0, Eta: null, Message: "Waiting for the worker", Error: null, ResultJson: null,
            CreatedAt: _time.GetUtcNow(), StartedAt: null, FinishedAt: null) { Links = links ?? JobLinks.None };
        var run = new JobRun(this, snapshot, work);

        // The run's gate is held until the Queued state is saved and announced, so the worker, which takes
        // the same gate to start it, can never announce Running first.
        lock (run.Gate)
        {
            lock (_admission)
            {
                if (_stopped)
                {
                    throw new InvalidOperationException("The job scheduler has stopped; no new job can be started.");
                }

                if (_waiting >= _options.QueueCapacity)
                {
                    throw new JobQueueFullException(_options.QueueCapacity);
                }

                _waiting++;
                _active[snapshot.Id] = run;
                _queue.Writer.TryWrite(run);
            }

            Save(run, snapshot);
            Notify(new JobUpdate(snapshot, null));
        }

        return snapshot;
    }

    public bool Cancel(Guid id)
    {
        if (!_active.TryGetValue(id, out var run))
        {
            return false;
        }

        lock (run.Gate)
        {
            switch (run.Snapshot.State)
            {
                case JobState.Queued:
                    LeaveQueue();
                    Finish(run, JobState.Cancelled, message: "Cancelled before it started", error: null, result: null);
                    return true;
                case JobState.Running when !run.Cancellation.IsCancellationRequested:
                    Change(run, run.Snapshot with { Message = "Cancelling…" }, persist: true);
                    break;
                case JobState.Running:
                    return true;
                default:
                    return false;
            }
        }

        // Outside the gate: cancellation callbacks run the work's continuations on this thread.
        run.Cancellation.Cancel();
        return true;
    }

    public JobSnapshot? Get(Guid id) =>
        _active.TryGetValue(id, out var run) ? run.Snapshot : _store.Load(id);

    /// <summary>The newest <see cref="JobOptions.HistoryLimit"/> jobs, this run's and earlier ones, newest first.</summary>
    public IReadOnlyList<JobSnapshot> List()
    {
        var stored = _store.LoadRecent(_options.HistoryLimit);
        var storedIds = stored.Select(job => job.Id).ToHashSet();
        // In memory is fresher than the database, whose progress writes are throttled.
        var jobs = stored
            .Select(job => _active.TryGetValue(job.Id, out var run) ? run.Snapshot : job)
            .Concat(_active.Values.Select(run => run.Snapshot).Where(job => !storedIds.Contains(job.Id)));
        // A stable sort: jobs created at the same instant keep the database's insertion order.
        return jobs.OrderByDescending(job => job.CreatedAt).Take(_options.HistoryLimit).ToList();
    }

    public IDisposable Subscribe(Action<JobUpdate> onUpdate)
    {
        ArgumentNullException.ThrowIfNull(onUpdate);
        lock (_subscriberGate)
        {
            _subscribers = [.. _subscribers, onUpdate];
        }

        return new Subscription(this, onUpdate);
    }

    /// <summary>Completes with the job's final snapshot (at once when it has already ended).</summary>
    /// <exception cref="KeyNotFoundException">No job has this id.</exception>
    /// <exception cref="InvalidOperationException">The job is run by another process sharing the workspace.</exception>
    public Task<JobSnapshot> WaitAsync(Guid id, CancellationToken cancellationToken = default)
    {
        if (_active.TryGetValue(id, out var run))
        {
            return run.Finished.Task.WaitAsync(cancellationToken);
        }

        // Not active here: either it ended (its final state is saved before it leaves _active) or it is not ours.
        var stored = _store.Load(id);
        return stored switch
        {
            null => Task.FromException<JobSnapshot>(new KeyNotFoundException($"There is no job with id {id}.")),
            { IsFinished: true } => Task.FromResult(stored),
            _ => Task.FromException<JobSnapshot>(new InvalidOperationException(
                $"Job {id} ('{stored.Title}') is run by another process; it can only be awaited there.")),
        };
    }

    /// <summary>Time left when <paramref name="fraction"/> of the work took <paramref name="elapsed"/>, assuming a steady pace.</summary>
    public static TimeSpan? EstimateRemaining(TimeSpan elapsed, double fraction)
    {
        if (fraction >= 1)
        {
            return TimeSpan.Zero;
        }

        if (!(fraction > 0) || elapsed <= TimeSpan.Zero)
        {
            return null;
        }

        var ticks = elapsed.Ticks * ((1 - fraction) / fraction);
        return ticks < TimeSpan.MaxValue.Ticks ? TimeSpan.FromTicks((long)ticks) : null;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_admission)
        {
            _stopped = true;
        }

        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);

        // The queue lives in memory only: what did not start will not run in this process.
        foreach (var run in _active.Values)
        {
            lock (run.Gate)
            {
                if (run.Snapshot.State == JobState.Queued)
                {
                    LeaveQueue();
                    Finish(run, JobState.Interrupted, run.Snapshot.Message, JobStore.StoppedBeforeStart, result: null);
                }
            }
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _lease.Dispose();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var workers = Enumerable.Range(0, _options.MaxConcurrency)
            .Select(_ => Task.Run(() => ConsumeAsync(stoppingToken), CancellationToken.None));
        return Task.WhenAll(workers);
    }

    private async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                while (!stoppingToken.IsCancellationRequested && _queue.Reader.TryRead(out var run))
                {
                    await RunAsync(run, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping; StopAsync marks what is still queued.
        }
    }

    private async Task RunAsync(JobRun run, CancellationToken stoppingToken)
    {
        lock (run.Gate)
        {
            if (run.Snapshot.State != JobState.Queued)
            {
                return; // cancelled while it waited
            }

            LeaveQueue();
            var now = _time.GetUtcNow();
            run.LastSaved = now;
            Change(run, run.Snapshot with { State = JobState.Running, StartedAt = now, Message = "Started" }, persist: true);
        }

        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(run.Cancellation.Token, stoppingToken);
        try
        {
            // Task.Run: work that computes synchronously before its first await must not hold the worker loop's thread.
            var result = await Task.Run(() => run.Work(new JobContext(run.Snapshot.Id, run), cancellation.Token), CancellationToken.None).ConfigureAwait(false);
            lock (run.Gate)
            {
                // A cancel that came too late must not leave "Cancelling…" on a job that finished.
                var message = run.Cancellation.IsCancellationRequested ? "Finished before the cancel took effect" : run.Snapshot.Message;
                Finish(run, JobState.Succeeded, message, error: null, result, fraction: 1);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            lock (run.Gate)
            {
                if (run.Cancellation.IsCancellationRequested)
                {
                    Finish(run, JobState.Cancelled, "Cancelled", error: null, result: null);
                }
                else
                {
                    Finish(run, JobState.Interrupted, run.Snapshot.Message, JobStore.StoppedWhileRunning, result: null);
                }
            }
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Job {JobId} ({Kind}: {Title}) failed.", run.Snapshot.Id, run.Snapshot.Kind, run.Snapshot.Title);
            lock (run.Gate)
            {
                Finish(run, JobState.Failed, run.Snapshot.Message, Describe(ex), result: null);
            }
        }
    }

    private void OnReport(JobRun run, double fraction, string message)
    {
        lock (run.Gate)
        {
            if (run.Snapshot.State != JobState.Running)
            {
                return; // a late report after the end must not reopen the job
            }

            var clamped = double.IsNaN(fraction) ? run.Snapshot.Fraction : Math.Clamp(fraction, 0, 1);
            var now = _time.GetUtcNow();
            var eta = EstimateRemaining(now - (run.Snapshot.StartedAt ?? now), clamped);
            var persist = now - run.LastSaved >= _options.ProgressPersistInterval;
            if (persist)
            {
                run.LastSaved = now;
            }

            Change(run, run.Snapshot with { Fraction = clamped, Eta = eta, Message = message ?? run.Snapshot.Message }, persist);
        }
    }

    private void OnPublish(JobRun run, JobPartial partial)
    {
        ArgumentNullException.ThrowIfNull(partial);
        lock (run.Gate)
        {
            if (run.Snapshot.State == JobState.Running)
            {
                Notify(new JobUpdate(run.Snapshot, partial));
            }
        }
    }

    // Callers hold run.Gate.
    private void Change(JobRun run, JobSnapshot next, bool persist)
    {
        run.Snapshot = next;
        if (persist)
        {
            Save(run, next);
        }

        Notify(new JobUpdate(next, null));
    }

    // Callers hold run.Gate.
    private void Finish(JobRun run, JobState state, string message, string? error, string? result, double? fraction = null)
    {
        var final = run.Snapshot with
        {
            State = state,
            Message = message,
            Error = error,
            ResultJson = result,
            Fraction = fraction ?? run.Snapshot.Fraction,
            Eta = state == JobState.Succeeded ? TimeSpan.Zero : null,
            FinishedAt = _time.GetUtcNow(),
        };
        run.Snapshot = final;
        if (Save(run, final))
        {
            _active.TryRemove(final.Id, out _);
        }

        Notify(new JobUpdate(final, null));
        run.Finished.TrySetResult(final);
    }

    private void LeaveQueue()
    {
        lock (_admission)
        {
            _waiting--;
        }
    }

    private bool Save(JobRun run, JobSnapshot snapshot)
    {
        try
        {
            _store.Save(snapshot, _lease.Owner);
            return true;
        }
        catch (Exception ex)
        {
            // A failing disk must not take the worker down; the job goes on in memory.
            _logger.LogError(ex, "Could not save the state of job {JobId} ({State}).", run.Snapshot.Id, snapshot.State);
            return false;
        }
    }

    private void Notify(JobUpdate update)
    {
        // Copy-on-write array: a subscriber that (un)subscribes from its callback does not disturb this loop.
        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            try
            {
                subscriber(update);
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "A job subscriber threw while handling an update of job {JobId}; other subscribers still get it.", update.Job.Id);
            }
        }
    }

    private void Unsubscribe(Action<JobUpdate> onUpdate)
    {
        lock (_subscriberGate)
        {
            var index = Array.IndexOf(_subscribers, onUpdate);
            if (index >= 0)
            {
                _subscribers = [.. _subscribers[..index], .. _subscribers[(index + 1)..]];
            }
        }
    }

    /// <summary>The words a person reads when a job failed: the innermost meaningful message, no stack trace.</summary>
    private static string Describe(Exception exception)
    {
        while (exception is AggregateException { InnerExceptions.Count: 1 } or TargetInvocationException { InnerException: not null })
        {
            exception = exception.InnerException!;
        }

        return string.IsNullOrWhiteSpace(exception.Message)
            ? $"The job failed with {exception.GetType().Name}."
            : exception.Message;
    }

    /// <summary>One job in this process: its latest snapshot, its work, and the progress handle the work reports through.</summary>
    private sealed class JobRun(JobScheduler scheduler, JobSnapshot snapshot, JobWork work) : IJobProgress
    {
        public Lock Gate { get; } = new();

        public JobWork Work { get; } = work;

        public CancellationTokenSource Cancellation { get; } = new();

        public TaskCompletionSource<JobSnapshot> Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private volatile JobSnapshot _snapshot = snapshot;

        /// <summary>Written under <see cref="Gate"/>; read by anyone (a reference read is atomic).</summary>
        public JobSnapshot Snapshot
        {
            get => _snapshot;
            set => _snapshot = value;
        }

        public DateTimeOffset LastSaved { get; set; }

        public void Report(double fraction, string message) => scheduler.OnReport(this, fraction, message);

        public void Publish(JobPartial partial) => scheduler.OnPublish(this, partial);
    }

    private sealed class Subscription(JobScheduler scheduler, Action<JobUpdate> onUpdate) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                scheduler.Unsubscribe(onUpdate);
            }
        }
    }
}
