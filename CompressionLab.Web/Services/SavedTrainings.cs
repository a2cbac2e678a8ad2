using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;

namespace CompressionLab.Web.Services;

/// <summary>
/// What each interrupted or failed training saved (its state file's header), read once per job change and kept for
/// every page and render after that. Pages ask on every refresh, which comes up to four times a second while any job
/// runs; the files only change when a training job changes state, so that is when an answer is read again.
/// </summary>
/// <remarks>
/// A training's state file changes in three ways, each seen here: the job ends (its state changes, and the answer is
/// keyed by the state it was read in), a job resuming it takes the file over when it starts (every update of the
/// resuming job drops the answer for the job it resumes until that answer is "nothing saved", which cannot change
/// any more), or a resume that fails before taking the file over ends (the same).
/// </remarks>
public sealed class SavedTrainings : IDisposable
{
    private readonly Lock gate = new();
    private readonly Func<JobSnapshot, SavedTraining?> read;
    private readonly Dictionary<Guid, (JobState State, SavedTraining? Saved)> known = [];
    private readonly IDisposable subscription;
    private long generation;

    /// <param name="read">Reads what a job saved from the workspace (<see cref="ModelJobs.SavedTraining"/>).</param>
    public SavedTrainings(IJobScheduler scheduler, Func<JobSnapshot, SavedTraining?> read)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        this.read = read ?? throw new ArgumentNullException(nameof(read));
        subscription = scheduler.Subscribe(Forget);
    }

    /// <summary>What <paramref name="job"/> saved, or null when it is no interrupted or failed training that saved an epoch.</summary>
    public SavedTraining? Of(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        long readAt;
        lock (gate)
        {
            if (known.TryGetValue(job.Id, out var entry) && entry.State == job.State)
            {
                return entry.Saved;
            }
            readAt = generation;
        }
        var saved = read(job);
        lock (gate)
        {
            // An update that arrived while reading may have made this answer stale: keep it only if none did.
            if (generation == readAt)
            {
                known[job.Id] = (job.State, saved);
            }
        }
        return saved;
    }

    /// <summary>What each of <paramref name="jobs"/> saved; jobs that saved nothing are left out.</summary>
    public IReadOnlyDictionary<Guid, SavedTraining> Of(IEnumerable<JobSnapshot> jobs)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        var saved = new Dictionary<Guid, SavedTraining>();
        foreach (var job in jobs)
        {
            if (Of(job) is { } kept)
            {
                saved[job.Id] = kept;
            }
        }
        return saved;
    }

    public void Dispose() => subscription.Dispose();

    private void Forget(JobUpdate update)
    {
        var job = update.Job;
        if (job.Kind != TrainingJob.Kind)
        {
            return;
        }
        lock (gate)
        {
            if (known.TryGetValue(job.Id, out var own) && own.State != job.State)
            {
                known.Remove(job.Id);
                generation++;
            }
            if (job.Links.Resumes is { } other && known.TryGetValue(other, out var entry) && entry.Saved is not null)
            {
                known.Remove(other);
                generation++;
            }
        }
    }
}
