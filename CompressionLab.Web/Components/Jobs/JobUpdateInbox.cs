using System.Collections.Concurrent;
using CompressionLab.Core.Jobs;

namespace CompressionLab.Web.Components.Jobs;

/// <summary>
/// The job updates one page model follows: queued on the scheduler's worker thread as they are published (only the
/// kinds <c>follows</c> accepts, each arrival signalled through <c>updatesWaiting</c>) and taken on the page's own
/// thread, so the model's state is only ever changed there. Also holds the followed jobs that were already running
/// when the page opened (another tab, a reload), so the page can follow them as if it had started them.
/// </summary>
public sealed class JobUpdateInbox : IDisposable
{
    private readonly ConcurrentQueue<JobUpdate> updates = new();
    private readonly IDisposable subscription;

    public JobUpdateInbox(IJobScheduler scheduler, Func<string, bool> follows, Action updatesWaiting)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(follows);
        ArgumentNullException.ThrowIfNull(updatesWaiting);
        // Subscribe before listing: a job that changes in between is then seen twice (harmless), never missed.
        subscription = scheduler.Subscribe(update =>
        {
            if (follows(update.Job.Kind))
            {
                updates.Enqueue(update);
                updatesWaiting();
            }
        });
        Unfinished = scheduler.List().Where(j => !j.IsFinished && follows(j.Kind)).OrderBy(j => j.CreatedAt).ToList();
    }

    /// <summary>Followed jobs not finished when the page opened, oldest first.</summary>
    public IReadOnlyList<JobSnapshot> Unfinished { get; }

    /// <summary>The next update published since the last call, in publication order.</summary>
    public bool TryTake(out JobUpdate update) => updates.TryDequeue(out update!);

    public void Dispose() => subscription.Dispose();
}
