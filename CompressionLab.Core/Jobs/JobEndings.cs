namespace CompressionLab.Core.Jobs;

/// <summary>What starters of jobs do when a job ends, however it ends.</summary>
public static class JobEndings
{
    /// <summary>
    /// Runs <paramref name="onEnd"/> once when the scheduler announces the job's end, on the thread that ended it (a job
    /// cancelled while queued, or interrupted by a stopping app, never runs its work, so the work cannot clean up itself).
    /// It gets null when the scheduler no longer knows the job.
    /// </summary>
    public static void WhenFinished(IJobScheduler scheduler, Guid id, Action<JobSnapshot?> onEnd)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(onEnd);
        var done = 0;
        void End(JobSnapshot? final)
        {
            if (Interlocked.Exchange(ref done, 1) == 0) onEnd(final);
        }

        IDisposable? subscription = null;
        subscription = scheduler.Subscribe(update =>
        {
            if (update.Job.Id == id && update.Job.IsFinished)
            {
                End(update.Job);
                subscription?.Dispose();
            }
        });

        // Read after subscribing, so an end between the two is not missed.
        var now = scheduler.Get(id);
        if (now is null or { IsFinished: true })
        {
            End(now);
            subscription.Dispose();
        }
    }
}
