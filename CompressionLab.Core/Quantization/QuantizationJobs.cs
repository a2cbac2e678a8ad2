using System.Text.Json;
using System.Text.Json.Nodes;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Quantization;

/// <summary>Starts INT8 comparison and sensitivity jobs with their parameters recorded, so the dashboard and any other front end start them the same way.</summary>
public sealed class QuantizationJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, CalibrationProfileStore profiles, Int8EvaluationStore evaluations)
{
    /// <summary>The workspace's simulated INT8 measurements (what a page reads back to show a comparison at once).</summary>
    public Int8EvaluationStore Evaluations => evaluations;

    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense.</exception>
    public JobSnapshot StartComparison(Int8ComparisonRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return Enqueue(request.Model, request.Dataset, request.ImagesOrDefault, model => (Int8ComparisonJob.Kind, Int8ComparisonJob.Title(model, request),
            (object)new
            {
                methods = request.MethodsOrDefault.Select(m => m.Name),
                mode = request.Mode.ToString().ToLowerInvariant(),
                choice = request.Choice?.Key,
            }, Int8ComparisonJob.Create(request, catalog, store, profiles, evaluations)));
    }

    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense.</exception>
    public JobSnapshot StartSensitivity(QuantSensitivityRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return Enqueue(request.Model, request.Dataset, request.ImagesOrDefault, model => (QuantSensitivityJob.Kind, QuantSensitivityJob.Title(model, request),
            (object)new
            {
                methods = request.Methods.Select(m => m.Name),
                mode = request.Mode.ToString().ToLowerInvariant(),
                request.SuggestMix,
                request.Tolerance,
            }, QuantSensitivityJob.Create(request, catalog, store, profiles, evaluations)));
    }

    /// <summary>The one way both jobs are queued: the model resolved in the workspace, the parameters both record (model, dataset, images) followed by the job's own.</summary>
    private JobSnapshot Enqueue(ModelSource source, string? dataset, Int8Images images, Func<ResolvedModel, (string Kind, string Title, object Own, JobWork Work)> job)
    {
        var model = source.Resolve(store);
        var (kind, title, own, work) = job(model);
        var parameters = new JsonObject
        {
            // As the base type, so that its "source" discriminator is written.
            ["model"] = JsonSerializer.SerializeToNode<ModelSource>(source, ModelJobJson.Options),
            ["dataset"] = dataset ?? model.Dataset,
            ["calibrationSize"] = images.CalibrationSize,
            ["evaluationPart"] = AnalysisSubset.PartName(images.EvaluationPart),
            ["evaluationSize"] = images.EvaluationSize,
        };
        foreach (var (name, value) in JsonSerializer.SerializeToNode(own, ModelJobJson.Options)!.AsObject().ToList())
            parameters[name] = value?.DeepClone();
        return scheduler.Enqueue(kind, title, parameters.ToJsonString(ModelJobJson.Options), work);
    }
}
