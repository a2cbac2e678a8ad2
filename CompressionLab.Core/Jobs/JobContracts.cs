namespace CompressionLab.Core.Jobs;

public enum JobState { Queued, Running, Succeeded, Failed, Cancelled, Interrupted }

/// <summary>What a job looks like to a page or the CLI at one moment (immutable).</summary>
/// <param name="Kind">Machine name of the work, e.g. <c>train</c>, <c>evaluate</c>, <c>sweep</c>.</param>
/// <param name="Title">What a person reads in the job list.</param>
/// <param name="ParametersJson">The settings the job was started with (shown and persisted).</param>
/// <param name="Fraction">0..1 done.</param>
/// <param name="Eta">Estimated time left, when known.</param>
/// <param name="Error">A message in words when the job failed.</param>
/// <param name="ResultJson">The job's result document once it succeeded.</param>
public sealed record JobSnapshot(
    Guid Id,
    string Kind,
    string Title,
    string ParametersJson,
    JobState State,
    double Fraction,
    TimeSpan? Eta,
    string Message,
    string? Error,
    string? ResultJson,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt)
{
    public bool IsFinished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled or JobState.Interrupted;

    /// <summary>What the job works on and continues, as typed ids (persisted with the job, never parsed from its parameters).</summary>
    public JobLinks Links { get; init; } = JobLinks.None;
}

/// <summary>
/// The ids a job is tied to, known when it is queued, so that a page or a later job finds them without reading the
/// job's parameters.
/// </summary>
/// <param name="Subject">
/// The workspace record the job fills, e.g. a sweep job's row in the sweep history (a repeated sweep may carry on in
/// an earlier row instead; the row records the job that really ran it).
/// </param>
/// <param name="Resumes">An earlier job whose saved work this one takes over and continues (a resumed training).</param>
public sealed record JobLinks(Guid? Subject = null, Guid? Resumes = null)
{
    public static JobLinks None { get; } = new();
}

/// <summary>
/// A piece of a running job's result, published as it arrives (e.g. one sweep cell, one finished epoch). Each job kind
/// derives its own records, so subscribers match on types instead of guessing at objects.
/// </summary>
public abstract record JobPartial;

/// <summary>A change to a job; <paramref name="Partial"/> carries a piece of result as it arrives (e.g. one sweep cell, one epoch).</summary>
public sealed record JobUpdate(JobSnapshot Job, JobPartial? Partial);

/// <summary>Handed to running work to report how far it is.</summary>
public interface IJobProgress
{
    /// <summary>Reports the fraction done (0..1) and a message; the scheduler derives the ETA.</summary>
    void Report(double fraction, string message);

    /// <summary>Publishes a partial result to subscribers (not persisted by the scheduler; the work persists its own results).</summary>
    void Publish(JobPartial partial);
}

/// <summary>What running work is told about itself: its own id (to name what it saves) and where to report progress.</summary>
/// <param name="Id">
/// The scheduler's id of the job. A front end that runs a job body without a scheduler (the CLI) has no job and makes
/// up no id: it calls the body with what the body needs instead (e.g. <c>SweepJob.Run</c> with a null job id).
/// </param>
public sealed record JobContext(Guid Id, IJobProgress Progress);

/// <summary>The work of a job: reports progress, honours cancellation, returns a JSON result (or null).</summary>
public delegate Task<string?> JobWork(JobContext job, CancellationToken cancellationToken);

/// <summary>Runs long work one job at a time (TorchSharp saturates the cores), persists job state.</summary>
public interface IJobScheduler
{
    /// <param name="links">The ids the job is tied to (stored on its snapshot); null: none.</param>
    JobSnapshot Enqueue(string kind, string title, string parametersJson, JobWork work, JobLinks? links = null);
    bool Cancel(Guid id);
    JobSnapshot? Get(Guid id);
    IReadOnlyList<JobSnapshot> List();

    /// <summary>
    /// Subscribes to every job change; dispose the result to stop. Callbacks come from the thread that made the
    /// change (the worker's, or the caller's of Enqueue/Cancel), one job's changes in order; keep them short.
    /// </summary>
    IDisposable Subscribe(Action<JobUpdate> onUpdate);

    /// <summary>
    /// Completes with the job's final snapshot once it has succeeded, failed, been cancelled or interrupted
    /// (at once when it already has). Throws <see cref="KeyNotFoundException"/> for an unknown id.
    /// </summary>
    /// <remarks>Built on <see cref="Subscribe"/> and <see cref="Get"/> so that any implementation (a test fake too) has it.</remarks>
    async Task<JobSnapshot> WaitAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var finished = new TaskCompletionSource<JobSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = Subscribe(update =>
        {
            if (update.Job.Id == id && update.Job.IsFinished)
            {
                finished.TrySetResult(update.Job);
            }
        });
        // Read after subscribing, so an end between the two is not missed.
        var now = Get(id) ?? throw new KeyNotFoundException($"There is no job with id {id}.");
        if (now.IsFinished)
        {
            return now;
        }

        return await finished.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
