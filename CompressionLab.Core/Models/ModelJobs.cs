using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>
/// Starts the jobs of the Models &amp; data area (train, evaluate, download, estimate, import) with their parameters recorded, so
/// the dashboard and any other front end start them the same way. Requests are validated before anything is queued.
/// </summary>
public sealed class ModelJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, DatasetDownloader downloader)
{
    public JobSnapshot StartTraining(TrainingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return scheduler.Enqueue(TrainingJob.Kind, request.Title, ModelJobJson.Write(request), TrainingJob.Create(request, catalog, store));
    }

    /// <summary>Queues the teacher and then the student (one worker runs them one after the other).</summary>
    public IReadOnlyList<JobSnapshot> StartStarterPair(string dataset) =>
        StarterPair.Requests(dataset).Select(StartTraining).ToArray();

    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense.</exception>
    public JobSnapshot StartEvaluation(EvaluationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = store.GetRequired(request.ModelId);
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

        DeleteWhenFinished(job.Id, staged);
        return job;
    }

    public JobSnapshot StartFashionMnistDownload() =>
        scheduler.Enqueue(DatasetDownloadJob.Kind, DatasetDownloadJob.Title,
            ModelJobJson.Write(new { baseUrl = catalog.Options.DownloadBaseUrl, folder = catalog.Options.FashionMnistCacheFolder() }),
            DatasetDownloadJob.Create(downloader));

    /// <summary>
    /// The work deletes its staged file itself, but a job cancelled while queued, or interrupted by a stopping app,
    /// never runs its work: this deletes the file when the scheduler announces the end, on the thread that ended it.
    /// </summary>
    private void DeleteWhenFinished(Guid id, IDisposable staged)
    {
        IDisposable? subscription = null;
        subscription = scheduler.Subscribe(update =>
        {
            if (update.Job.Id == id && update.Job.IsFinished)
            {
                staged.Dispose();
                subscription?.Dispose();
            }
        });

        // Read after subscribing, so an end between the two is not missed.
        if (scheduler.Get(id) is null or { IsFinished: true })
        {
            staged.Dispose();
            subscription.Dispose();
        }
    }
}
