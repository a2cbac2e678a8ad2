using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>
/// Starts the jobs of the Models &amp; data area (train, evaluate, download) with their parameters recorded, so
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
        var model = store.Get(request.ModelId)
            ?? throw new ArgumentException($"There is no model with id {request.ModelId} in the workspace (was it deleted?).");
        return scheduler.Enqueue(EvaluationJob.Kind, EvaluationJob.Title(model, request), ModelJobJson.Write(request),
            EvaluationJob.Create(request, catalog, store));
    }

    public JobSnapshot StartFashionMnistDownload() =>
        scheduler.Enqueue(DatasetDownloadJob.Kind, DatasetDownloadJob.Title,
            ModelJobJson.Write(new { baseUrl = catalog.Options.DownloadBaseUrl, folder = catalog.Options.FashionMnistCacheFolder() }),
            DatasetDownloadJob.Create(downloader));
}
