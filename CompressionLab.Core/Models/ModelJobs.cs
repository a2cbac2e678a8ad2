using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>What an interrupted training job saved: how many of its epochs are done, or why its state cannot be used.</summary>
/// <param name="Problem">Set when the state file is damaged: it cannot be resumed.</param>
public sealed record SavedTraining(Guid JobId, int EpochsDone, int Epochs, string? Problem = null)
{
    public bool CanResume => Problem is null;
}

/// <summary>
/// Starts the jobs of the Models &amp; data area (train, evaluate, download, estimate, import) with their parameters recorded, so
/// the dashboard and any other front end start them the same way. Requests are validated before anything is queued.
/// </summary>
/// <param name="trainingStates">
/// Where trainings save their state after every epoch, so that one interrupted by a crash or restart can be resumed
/// (<see cref="ResumeTraining"/>); null: trainings save nothing before they end.
/// </param>
public sealed class ModelJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, DatasetDownloader downloader,
    TrainingStateStore? trainingStates = null)
{
    public JobSnapshot StartTraining(TrainingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return EnqueueTraining(request, request.Title, ModelJobJson.Write(request), resumesJob: null);
    }

    /// <summary>
    /// Queues a training job that continues <paramref name="interruptedJobId"/>'s run from its last saved epoch; the new
    /// job takes the saved state over when it starts, and its result is bit for bit that of an uninterrupted run.
    /// </summary>
    /// <exception cref="ArgumentException">No such training job, it neither was interrupted nor failed, or it saved no usable epoch.</exception>
    /// <exception cref="InvalidOperationException">Another job is already resuming it, or trainings save no state here.</exception>
    public JobSnapshot ResumeTraining(Guid interruptedJobId)
    {
        if (trainingStates is null) throw new InvalidOperationException("This workspace keeps no training states, so no training can be resumed.");
        var job = scheduler.Get(interruptedJobId) ?? throw new ArgumentException($"There is no job with id {interruptedJobId}.");
        if (job.Kind != TrainingJob.Kind) throw new ArgumentException($"\"{job.Title}\" is not a training job; only a training can be resumed.");
        if (job.State is not (JobState.Interrupted or JobState.Failed))
            throw new ArgumentException($"\"{job.Title}\" is {job.State.ToString().ToLowerInvariant()}; only an interrupted or failed training can be resumed.");
        var saved = SavedTraining(job)
            ?? throw new ArgumentException($"\"{job.Title}\" stopped before it finished an epoch, so nothing was saved to resume; start it again.");
        if (saved.Problem is { } problem) throw new ArgumentException($"\"{job.Title}\" cannot be resumed: {problem}");
        if (scheduler.List().Any(other => !other.IsFinished && other.Links.Resumes == interruptedJobId))
            throw new InvalidOperationException($"\"{job.Title}\" is already being resumed by a queued or running job.");

        var request = ModelJobJson.Read<TrainingRequest>(job.ParametersJson);
        request.Validate();
        return EnqueueTraining(request, $"{request.Title} (resumed)", ModelJobJson.Write(request), interruptedJobId);
    }

    /// <summary>
    /// The epochs an interrupted or failed training job saved (read from its state file's header), or null when the job is
    /// not such a training or saved nothing (it stopped within its first epoch, or was resumed already).
    /// </summary>
    public SavedTraining? SavedTraining(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (trainingStates is null || job.Kind != TrainingJob.Kind || job.State is not (JobState.Interrupted or JobState.Failed)) return null;
        try
        {
            return trainingStates.Find(job.Id) is { } header ? new SavedTraining(job.Id, header.EpochsDone, header.Settings.Epochs) : null;
        }
        catch (TrainingStateException e)
        {
            return new SavedTraining(job.Id, 0, 0, e.Message);
        }
    }

    private JobSnapshot EnqueueTraining(TrainingRequest request, string title, string parameters, Guid? resumesJob)
    {
        if (trainingStates is null)
        {
            return scheduler.Enqueue(TrainingJob.Kind, title, parameters, TrainingJob.Create(request, catalog, store));
        }

        var job = scheduler.Enqueue(TrainingJob.Kind, title, parameters, TrainingJob.Create(request, catalog, store, trainingStates, resumesJob),
            new JobLinks(Resumes: resumesJob));

        // A crash or a stopping app (Interrupted) and a failure keep the saved epochs: a failure can be passing (a full disk
        // when the model is stored, a dataset folder moved away), and resuming costs only the epoch in flight. A cancel is
        // the user's choice to drop the run, and a success has stored the model.
        WhenFinished(job.Id, final =>
        {
            if (final?.State is not (JobState.Interrupted or JobState.Failed)) trainingStates.Delete(job.Id);
        });
        return job;
    }

    /// <summary>Queues the teacher and then the student (one worker runs them one after the other).</summary>
    public IReadOnlyList<JobSnapshot> StartStarterPair(string dataset) =>
        StarterPair.Requests(dataset).Select(StartTraining).ToArray();

    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense.</exception>
    public JobSnapshot StartEvaluation(EvaluationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        return scheduler.Enqueue(EvaluationJob.Kind, EvaluationJob.Title(model, request), ModelJobJson.Write(request),
            EvaluationJob.Create(request, catalog, store));
    }

    /// <summary>Queues a measurement of how long the starter pair would train on <paramref name="dataset"/> (result: <see cref="StarterPairEstimate"/>).</summary>
    public JobSnapshot StartStarterPairEstimate(string dataset)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataset);
        return scheduler.Enqueue(StarterPairEstimateJob.Kind, StarterPairEstimateJob.Title(dataset), ModelJobJson.Write(new { dataset }),
            StarterPairEstimateJob.Create(dataset, catalog));
    }

    /// <summary>
    /// Queues the check and import of an upload staged with <see cref="CheckpointImport.StageAsync"/> (result:
    /// <see cref="CheckpointImportReport"/>). The job owns <paramref name="staged"/> from here on: its temporary file
    /// is deleted when the job ends, whether it succeeded, failed, was cancelled (even before it started) or
    /// interrupted, and at once when it cannot be queued.
    /// </summary>
    public JobSnapshot StartImport(StagedCheckpoint staged)
    {
        ArgumentNullException.ThrowIfNull(staged);
        JobSnapshot job;
        try
        {
            job = scheduler.Enqueue(CheckpointImportJob.Kind, CheckpointImportJob.Title(staged.FileName),
                ModelJobJson.Write(new CheckpointImportRequest(staged.FileName, staged.Bytes)), CheckpointImportJob.Create(staged, store));
        }
        catch
        {
            staged.Dispose();
            throw;
        }

        WhenFinished(job.Id, _ => staged.Dispose());
        return job;
    }

    public JobSnapshot StartFashionMnistDownload() =>
        scheduler.Enqueue(DatasetDownloadJob.Kind, DatasetDownloadJob.Title,
            ModelJobJson.Write(new { baseUrl = catalog.Options.DownloadBaseUrl, folder = catalog.Options.FashionMnistCacheFolder() }),
            DatasetDownloadJob.Create(downloader));

    private void WhenFinished(Guid id, Action<JobSnapshot?> onEnd) => JobEndings.WhenFinished(scheduler, id, onEnd);
}
