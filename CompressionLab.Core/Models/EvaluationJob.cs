using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>Which stored model to measure, on what.</summary>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="Split">Test (the official test images) or Validation (the hold-out of <see cref="TrainingJob.Split"/>).</param>
/// <param name="Limit">
/// Null: every image of the split. N: the <see cref="AnalysisSubset"/> of N images of it, the same images a sweep of N
/// validation images measures on, so the two agree.
/// </param>
public sealed record EvaluationRequest(Guid ModelId, string? Dataset = null, SplitPart Split = SplitPart.Test, int? Limit = null)
{
    public void Validate()
    {
        if (ModelId == Guid.Empty) throw new ArgumentException("Choose a model to evaluate.");
        if (Split is not (SplitPart.Test or SplitPart.Validation))
            throw new ArgumentException($"A model is evaluated on the test or the validation split, not on {Split}.");
        if (Limit is < 1) throw new ArgumentException($"An evaluation needs at least one image (got a limit of {Limit}).");
    }
}

/// <summary>An evaluation job's result: <see cref="EvaluationResult"/> with what was evaluated and the class names.</summary>
/// <param name="StoredAccuracyUpdated">The model's recorded test top-1 was replaced by <see cref="Top1"/> (the whole test split of its own dataset).</param>
/// <param name="Subset">The images' <see cref="AnalysisSubset.Key"/> (null in reports written before it was recorded).</param>
public sealed record EvaluationReport(
    Guid ModelId,
    string ModelName,
    string Architecture,
    string Dataset,
    SplitPart Split,
    double Top1,
    double Top5,
    double Loss,
    IReadOnlyList<double?> PerClassAccuracy,
    IReadOnlyList<IReadOnlyList<int>> ConfusionMatrix,
    IReadOnlyList<string> ClassNames,
    int Samples,
    double Seconds,
    bool StoredAccuracyUpdated,
    string? Subset = null)
{
    public static EvaluationReport FromJson(string json) => ModelJobJson.Read<EvaluationReport>(json);
}

/// <summary>
/// Evaluates a model of the workspace as a job. On the test split of the dataset the model was trained on, the
/// measured top-1 becomes the model's recorded accuracy.
/// </summary>
public static class EvaluationJob
{
    public const string Kind = "evaluate";

    public static string Title(ModelRecord model, EvaluationRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        var split = request.Split == SplitPart.Test ? "test" : "validation";
        var images = request.Limit is { } limit ? string.Create(CultureInfo.InvariantCulture, $", {limit:N0} images") : "";
        return $"Evaluate {model.DisplayName} on {request.Dataset ?? model.Dataset} ({split}{images})";
    }

    public static JobWork Create(EvaluationRequest request, DatasetCatalog catalog, ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        request.Validate();
        return (progress, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, progress, cancellationToken)));
    }

    public static EvaluationReport Run(
        EvaluationRequest request,
        DatasetCatalog catalog,
        ModelStore store,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();

        var model = store.GetRequired(request.ModelId);
        var datasetName = request.Dataset ?? model.Dataset;
        progress.Report(0, $"Loading {datasetName}");
        var dataset = catalog.Load(datasetName);
        var subset = AnalysisSubset.Of(dataset, request.Split, request.Limit);
        var images = subset.Images;
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.05, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = Checkpoint.LoadFor(model, images, dataset.Name, "evaluated");

        progress.Report(0.1, string.Create(CultureInfo.InvariantCulture, $"Evaluating on {images.Count:N0} {Describe(request.Split)} images"));
        var result = Evaluator.Evaluate(checkpoint.Model, images, cancellationToken: cancellationToken);

        // Only the whole test split is the model's accuracy; a subset of it is a quick look.
        var update = request.Split == SplitPart.Test && request.Limit is null && string.Equals(dataset.Name, model.Dataset, StringComparison.OrdinalIgnoreCase);
        if (update) store.UpdateAccuracy(model.Id, result.Top1);
        progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"Top-1 {result.Top1 * 100:0.00}% on {result.Samples:N0} images"));
        return new EvaluationReport(model.Id, model.DisplayName, model.Architecture, dataset.Name, request.Split,
            result.Top1, result.Top5, result.Loss, result.PerClassAccuracy, result.ConfusionMatrix, images.ClassNames,
            result.Samples, result.Seconds, update, subset.Key);
    }

    private static string Describe(SplitPart split) => split == SplitPart.Test ? "test" : "validation";
}
