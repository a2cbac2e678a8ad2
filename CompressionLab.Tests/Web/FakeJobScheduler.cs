using CompressionLab.Core.Jobs;

namespace CompressionLab.Tests.Web;

/// <summary>
/// A scheduler that runs nothing by itself: tests add jobs, publish changes and read what pages asked for, or play
/// the worker with <see cref="RunAsync"/> to run the work a page queued.
/// </summary>
internal sealed class FakeJobScheduler : IJobScheduler
{
    private readonly object gate = new();
    private readonly Dictionary<Guid, JobSnapshot> jobs = [];
    private readonly List<Action<JobUpdate>> subscribers = [];
    private readonly List<Guid> cancelRequests = [];
    private readonly Dictionary<Guid, JobWork> works = [];

    public bool CancelSucceeds { get; set; } = true;

    /// <summary>Runs inside <see cref="List"/> after the list was read, to simulate a change racing a page's first look.</summary>
    public Action? WhileListing { get; set; }

    public IReadOnlyList<Guid> CancelRequests
    {
        get { lock (gate) { return [.. cancelRequests]; } }
    }

    public int SubscriberCount
    {
        get { lock (gate) { return subscribers.Count; } }
    }

    public static JobSnapshot Job(
        string title,
        JobState state = JobState.Queued,
        double fraction = 0,
        string message = "",
        string? error = null,
        TimeSpan? eta = null,
        string kind = "train",
        DateTimeOffset? createdAt = null)
    {
        var created = createdAt ?? new DateTimeOffset(2025, 1, 2, 10, 0, 0, TimeSpan.Zero);
        var finished = state is JobState.Succeeded or JobState.Failed or JobState.Cancelled or JobState.Interrupted
            ? created.AddMinutes(5)
            : (DateTimeOffset?)null;
        return new JobSnapshot(Guid.NewGuid(), kind, title, "{}", state, fraction, eta, message, error, null,
            created, state == JobState.Queued ? null : created.AddSeconds(1), finished);
    }

    /// <summary>Makes a job known without telling subscribers (as if it existed before the page opened).</summary>
    public JobSnapshot Add(JobSnapshot job)
    {
        lock (gate)
        {
            jobs[job.Id] = job;
        }
        return job;
    }

    /// <summary>Records a change and tells every subscriber, on the calling thread (as the worker does).</summary>
    public void Publish(JobSnapshot job) => Publish(job, null);

    /// <summary>As <see cref="Publish(JobSnapshot)"/>, with a partial result (e.g. one sweep cell) as the worker publishes it.</summary>
    public void Publish(JobSnapshot job, JobPartial? partial)
    {
        Action<JobUpdate>[] targets;
        lock (gate)
        {
            jobs[job.Id] = job;
            targets = [.. subscribers];
        }
        foreach (var target in targets)
        {
            target(new JobUpdate(job, partial));
        }
    }

    public JobSnapshot Enqueue(string kind, string title, string parametersJson, JobWork work, JobLinks? links = null)
    {
        var job = Job(title, kind: kind) with { ParametersJson = parametersJson, Links = links ?? JobLinks.None };
        lock (gate)
        {
            works[job.Id] = work;
        }
        Publish(job);
        return job;
    }

    /// <summary>
    /// Plays the worker for a queued job: publishes Running, runs its work on the calling thread (reports are
    /// published as progress), then publishes how it ended, as the real scheduler words it.
    /// </summary>
    public async Task<JobSnapshot> RunAsync(Guid id, CancellationToken cancellationToken = default)
    {
        JobWork work;
        JobSnapshot job;
        lock (gate)
        {
            work = works[id];
            job = jobs[id];
        }
        var running = job with { State = JobState.Running, StartedAt = job.CreatedAt.AddSeconds(1), Message = "Started" };
        Publish(running);
        var progress = new Progress(this, id);
        JobSnapshot final;
        try
        {
            var result = await work(new JobContext(id, progress), cancellationToken);
            final = Get(id)! with { State = JobState.Succeeded, Fraction = 1, ResultJson = result };
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            final = Get(id)! with { State = JobState.Cancelled, Message = "Cancelled" };
        }
        catch (Exception e)
        {
            final = Get(id)! with { State = JobState.Failed, Error = e.Message };
        }
        final = final with { FinishedAt = final.CreatedAt.AddMinutes(1) };
        Publish(final);
        return final;
    }

    public bool Cancel(Guid id)
    {
        lock (gate)
        {
            cancelRequests.Add(id);
        }
        return CancelSucceeds;
    }

    public JobSnapshot? Get(Guid id)
    {
        lock (gate)
        {
            return jobs.GetValueOrDefault(id);
        }
    }

    public IReadOnlyList<JobSnapshot> List()
    {
        JobSnapshot[] listed;
        lock (gate)
        {
            listed = [.. jobs.Values];
        }
        WhileListing?.Invoke();
        return listed;
    }

    public IDisposable Subscribe(Action<JobUpdate> onUpdate)
    {
        lock (gate)
        {
            subscribers.Add(onUpdate);
        }
        return new Subscription(this, onUpdate);
    }

    private sealed class Subscription(FakeJobScheduler owner, Action<JobUpdate> onUpdate) : IDisposable
    {
        public void Dispose()
        {
            lock (owner.gate)
            {
                owner.subscribers.Remove(onUpdate);
            }
        }
    }

    private sealed class Progress(FakeJobScheduler owner, Guid id) : IJobProgress
    {
        public void Report(double fraction, string message) =>
            owner.Publish(owner.Get(id)! with { Fraction = fraction, Message = message });

        public void Publish(JobPartial partial) => owner.Publish(owner.Get(id)!, partial);
    }
}
