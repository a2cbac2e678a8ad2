using CompressionLab.Core.Jobs;

namespace CompressionLab.Web.Services;

/// <summary>
/// A page's live view of all jobs: the scheduler's list, kept current by its updates.
/// Dispose it to end the subscription.
/// </summary>
public sealed class JobBoard : IDisposable
{
    private readonly object gate = new();
    private readonly Dictionary<Guid, JobSnapshot> jobs = [];
    private readonly HashSet<Guid> updatedWhileListing = [];
    private readonly Action onChanged;
    private readonly IDisposable subscription;
    private bool listing = true;

    /// <param name="onChanged">Called after every update, on the scheduler's thread.</param>
    public JobBoard(IJobScheduler scheduler, Action onChanged)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        this.onChanged = onChanged ?? throw new ArgumentNullException(nameof(onChanged));

        // Subscribe before listing so no change is lost; an update that arrives while listing is
        // at least as new as the listed snapshot of that job, so it wins.
        subscription = scheduler.Subscribe(Apply);
        var listed = scheduler.List();
        lock (gate)
        {
            foreach (var job in listed)
            {
                if (!updatedWhileListing.Contains(job.Id))
                {
                    jobs[job.Id] = job;
                }
            }
            listing = false;
            updatedWhileListing.Clear();
        }
    }

    /// <summary>All jobs, newest first.</summary>
    public IReadOnlyList<JobSnapshot> Jobs
    {
        get
        {
            lock (gate)
            {
                return [.. jobs.Values.OrderByDescending(job => job.CreatedAt).ThenBy(job => job.Title, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>
    /// The jobs the worker runs before <paramref name="job"/> while it is queued: those running, then those
    /// queued before it (the queue is first in, first out); empty once it runs or ended.
    /// </summary>
    public IReadOnlyList<JobSnapshot> Ahead(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.State != JobState.Queued)
        {
            return [];
        }
        lock (gate)
        {
            return [.. jobs.Values
                .Where(other => other.Id != job.Id && (other.State == JobState.Running || (other.State == JobState.Queued && other.CreatedAt < job.CreatedAt)))
                .OrderBy(other => other.State == JobState.Running ? 0 : 1)
                .ThenBy(other => other.CreatedAt)];
        }
    }

    public void Dispose() => subscription.Dispose();

    private void Apply(JobUpdate update)
    {
        lock (gate)
        {
            jobs[update.Job.Id] = update.Job;
            if (listing)
            {
                updatedWhileListing.Add(update.Job.Id);
            }
        }
        onChanged();
    }
}
