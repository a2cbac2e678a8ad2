using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>Which model (of the workspace, or a checkpoint file) to measure, on what.</summary>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="Split">Test (the official test images) or Validation (the hold-out of <see cref="TrainingJob.Split"/>).</param>
/// <param name="Limit">
/// Null: every image of the split. N: the <see cref="AnalysisSubset"/> of N images of it, the same images a sweep of N
/// validation images measures on, so the two agree.
/// </param>
public sealed record EvaluationRequest(ModelSource Model, string? Dataset = null, SplitPart Split = SplitPart.Test, int? Limit = null)
{
    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to evaluate.");
        Model.Validate();
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to evaluate on.");
        if (Split is not (SplitPart.Test or SplitPart.Validation))
            throw new InvalidRequestException(nameof(Split), $"A model is evaluated on the test or the validation split, not on {Split}.");
        if (Limit is < 1) throw new InvalidRequestException(nameof(Limit), $"Evaluate at least one image (got {Limit}).");
    }
}

/// <summary>An evaluation job's result: <see cref="EvaluationResult"/> with what was evaluated and the class names.</summary>
/// <param name="StoredAccuracyUpdated">The model's recorded test top-1 was replaced by <see cref="Top1"/> (test split of its own dataset).</param>
/// <param name="ModelId">Null: a checkpoint file the workspace does not hold.</param>
/// <param name="Subset">The images' <see cref="AnalysisSubset.Key"/> (null in reports written before it was recorded).</param>
public sealed record EvaluationReport(
    Guid? ModelId,
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
/// The plan of an evaluation job, published once the images are chosen and the checkpoint is loaded and checked to take
/// them, before the first batch (so a front end can say what is being measured while it runs).
/// </summary>
/// <param name="Images">How many images are evaluated.</param>
public sealed record EvaluationStarted(string ModelName, string Architecture, string Dataset, SplitPart Split, int Images) : JobPartial;

/// <summary>
/// Evaluates a model (of the workspace, or a checkpoint file) as a job. On the whole test split of the dataset a
/// workspace model was trained on, the measured top-1 becomes the model's recorded accuracy.
/// </summary>
public static class EvaluationJob
{
    public const string Kind = "evaluate";

    public static string Title(ResolvedModel model, EvaluationRequest request)
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
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, job.Progress, cancellationToken)));
    }

    /// <param name="store">The workspace's models; null when the front end has none (the model is then a checkpoint file).</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset (the limit, the image size).</exception>
    public static EvaluationReport Run(
        EvaluationRequest request,
        DatasetCatalog catalog,
        ModelStore? store,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();

        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var subset = Subset(dataset, request.Split, request.Limit);
        var images = subset.Images;
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.05, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = model.Load(images, dataset.Name, "evaluated");
        progress.Publish(new EvaluationStarted(model.DisplayName, model.Architecture, dataset.Name, request.Split, images.Count));

        progress.Report(0.1, string.Create(CultureInfo.InvariantCulture, $"Evaluating on {images.Count:N0} {Describe(request.Split)} images"));
        var result = Evaluator.Evaluate(checkpoint.Model, images, cancellationToken: cancellationToken);

        // Only the whole test split of its own dataset is the model's recorded accuracy.
        var update = store is not null && model.ModelId is not null && request.Split == SplitPart.Test && request.Limit is null
            && string.Equals(dataset.Name, model.Dataset, StringComparison.OrdinalIgnoreCase);
        if (update) store!.UpdateAccuracy(model.ModelId!.Value, result.Top1);
        progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"Top-1 {result.Top1 * 100:0.00}% on {result.Samples:N0} images"));
        return new EvaluationReport(model.ModelId, model.DisplayName, model.Architecture, dataset.Name, request.Split,
            result.Top1, result.Top5, result.Loss, result.PerClassAccuracy, result.ConfusionMatrix, images.ClassNames,
            result.Samples, result.Seconds, update, subset.Key);
    }

    /// <summary>
    /// The images an evaluation measures: the whole split, or with a limit of N the <see cref="AnalysisSubset"/> every
    /// analysis means by "N images" of it, so that <c>eval --split val --limit N</c> measures exactly the images of a
    /// sweep's <c>--limit N</c>.
    /// </summary>
    /// <exception cref="InvalidRequestException">The split has fewer than N images (names <see cref="EvaluationRequest.Limit"/>).</exception>
    public static AnalysisSubset Subset(Dataset dataset, SplitPart split, int? limit) =>
        AnalysisSubset.ForRequest(dataset, split, limit, nameof(EvaluationRequest.Limit));

    private static string Describe(SplitPart split) => split == SplitPart.Test ? "test" : "validation";
}
