using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using static TorchSharp.torch;

namespace CompressionLab.Core.Distillation;

/// <summary>Whose logits, on which images: a catalog dataset's validation subset (<see cref="AnalysisSubset"/>).</summary>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="SubsetSize">Validation images; teacher and student must use the same number to be compared.</param>
public sealed record LogitsRequest(ModelSource Model, string? Dataset = null, int SubsetSize = AnalysisSubset.DefaultSize)
{
    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model whose logits to compute.");
        Model.Validate();
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset.");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The subset needs at least one image (got {SubsetSize}).");
    }
}

/// <summary>
/// A model's logits on a validation subset, computed once (eval mode, BatchNorm folded like every evaluation) and kept in
/// the workspace keyed by weights hash, dataset and subset; a second request for the same key reads them back.
/// </summary>
public static class LogitsJob
{
    public const string Kind = "logits";

    public static string Title(ResolvedModel model, LogitsRequest request) =>
        string.Create(CultureInfo.InvariantCulture, $"Logits of {model.DisplayName} on {request.Dataset ?? model.Dataset} ({request.SubsetSize:N0} validation images)");

    /// <param name="store">The workspace's models; null for a checkpoint file outside a workspace.</param>
    /// <param name="cache">Where logits are kept; null computes without keeping them.</param>
    /// <returns>The logits and whether they were read back from <paramref name="cache"/>.</returns>
    public static (ModelLogits Logits, bool FromCache) Run(
        LogitsRequest request,
        DatasetCatalog catalog,
        ModelStore? store,
        LogitsStore? cache,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();

        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, request.SubsetSize, nameof(LogitsRequest.SubsetSize));
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.05, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = model.Load(subset.Images, dataset.Name, "run");
        var hash = checkpoint.Metadata.ContentHash;
        if (cache?.Find(hash, dataset.Name, subset.Key) is { } cached)
        {
            progress.Report(1, $"Logits of {model.DisplayName} read back from the workspace");
            return (cached with { Model = model.DisplayName }, true);
        }

        var logits = Compute(checkpoint.Model, subset.Images, (done, total) =>
            progress.Report(0.1 + (0.9 * done / total), string.Create(CultureInfo.InvariantCulture, $"Logits of {model.DisplayName}: {done:N0} of {total:N0} images")),
            cancellationToken);
        var result = new ModelLogits(model.DisplayName, hash, subset.Key, subset.Count, subset.Images.ClassCount, logits,
            [.. subset.Images.Labels.Select(label => (int)label)]);
        cache?.Save(result, dataset.Name);
        progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"Logits of {model.DisplayName} on {subset.Count:N0} images"));
        return (result, false);
    }

    /// <summary>Row-major [images × classes] logits, in the images' order, through the same folded forward as every evaluation.</summary>
    public static float[] Compute(ClassifierNetwork network, LabeledImages images, Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(images);
        network.CheckAccepts(images);
        var wasTraining = network.training;
        network.eval();
        try
        {
            using var noGrad = no_grad();
            using var folded = new FoldedForward(network);
            var values = new float[images.Count * network.ClassCount];
            for (var start = 0; start < images.Count; start += Evaluator.DefaultBatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var size = Math.Min(Evaluator.DefaultBatchSize, images.Count - start);
                var logits = folded.ForwardRange(0, folded.BlockCount, ImageTensors.Inputs(images, start, size)).contiguous();
                Array.Copy(logits.data<float>().ToArray(), 0, values, start * network.ClassCount, size * network.ClassCount);
                progress?.Invoke(start + size, images.Count);
            }
            return values;
        }
        finally
        {
            if (wasTraining) network.train();
        }
    }
}
