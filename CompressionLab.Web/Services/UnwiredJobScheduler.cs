using CompressionLab.Core.Jobs;

namespace CompressionLab.Web.Services;

/// <summary>
/// Stands in for the job scheduler until the real one is registered before <c>AddCompressionLabWeb</c>:
/// the dashboard shell runs and shows an empty job list, and starting work fails with a clear message.
/// </summary>
public sealed class UnwiredJobScheduler : IJobScheduler
{
    public JobSnapshot Enqueue(string kind, string title, string parametersJson, JobWork work) =>
        throw new InvalidOperationException($"Cannot start '{title}': no job scheduler is registered in this build of the dashboard.");

    public bool Cancel(Guid id) => false;

    public JobSnapshot? Get(Guid id) => null;

    public IReadOnlyList<JobSnapshot> List() => [];

    public IDisposable Subscribe(Action<JobUpdate> onUpdate) => NoSubscription.Instance;

    private sealed class NoSubscription : IDisposable
    {
        public static readonly NoSubscription Instance = new();

        public void Dispose()
        {
        }
    }
}
