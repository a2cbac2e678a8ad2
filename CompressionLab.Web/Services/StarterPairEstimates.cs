using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;

namespace CompressionLab.Web.Services;

/// <summary>
/// The starter pair's training-time estimate per dataset: measured by one estimate job
/// (<see cref="StarterPairEstimateJob"/>) per dataset and app run, then reused by every page that asks, so opening
/// the page again does not measure again. A job that failed, was cancelled or interrupted is forgotten, so the
/// next visit measures anew.
/// </summary>
public sealed class StarterPairEstimates(ModelJobs modelJobs, IJobScheduler scheduler)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Guid> jobs = new(StringComparer.Ordinal);

    /// <summary>The job that measures (or measured) the pair on <paramref name="dataset"/>; queues one when there is none to reuse.</summary>
    /// <exception cref="InvalidOperationException">The job could not be queued (e.g. the queue is full).</exception>
    public JobSnapshot Estimate(string dataset)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataset);
        lock (gate)
        {
            if (jobs.TryGetValue(dataset, out var id) && scheduler.Get(id) is { State: JobState.Queued or JobState.Running or JobState.Succeeded } known)
            {
                return known;
            }
            var job = modelJobs.StartStarterPairEstimate(dataset);
            jobs[dataset] = job.Id;
            return job;
        }
    }
}
