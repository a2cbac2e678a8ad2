namespace CompressionLab.Core.Jobs;

/// <summary>How the job worker runs; bound from the <c>Jobs</c> section of appsettings.json.</summary>
public sealed class JobOptions
{
    public const string SectionName = "Jobs";

    /// <summary>Jobs that may wait for the worker at once; one more is refused with <see cref="JobQueueFullException"/>.</summary>
    public int QueueCapacity { get; set; } = 64;

    /// <summary>Jobs running at once. One: a TorchSharp job already keeps both cores of the reference machine busy.</summary>
    public int MaxConcurrency { get; set; } = 1;

    /// <summary>Progress is written to the database at most this often per job; subscribers see every change.</summary>
    public TimeSpan ProgressPersistInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How many jobs <see cref="IJobScheduler.List"/> returns, newest first.</summary>
    public int HistoryLimit { get; set; } = 200;

    internal void Validate()
    {
        if (QueueCapacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(QueueCapacity), QueueCapacity, "Jobs:QueueCapacity must be at least 1.");
        }

        if (MaxConcurrency < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConcurrency), MaxConcurrency, "Jobs:MaxConcurrency must be at least 1.");
        }

        if (ProgressPersistInterval < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ProgressPersistInterval), ProgressPersistInterval, "Jobs:ProgressPersistInterval cannot be negative.");
        }

        if (HistoryLimit < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(HistoryLimit), HistoryLimit, "Jobs:HistoryLimit must be at least 1.");
        }
    }
}

/// <summary>Thrown by <see cref="IJobScheduler.Enqueue"/> when <see cref="JobOptions.QueueCapacity"/> jobs are already waiting.</summary>
public sealed class JobQueueFullException(int capacity)
    : InvalidOperationException($"The job queue is full: {capacity} jobs are already waiting. Wait for some to finish or cancel queued jobs, then try again.")
{
    public int Capacity { get; } = capacity;
}
