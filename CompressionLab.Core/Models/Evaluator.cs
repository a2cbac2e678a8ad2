using System.Diagnostics;
using CompressionLab.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>Measures a classifier on labelled images: batched, in eval mode, without gradients.</summary>
public static class Evaluator
{
    public const int DefaultBatchSize = 500;

    /// <summary>
    /// Evaluates <paramref name="model"/> on the first <paramref name="limit"/> images (all when null).
    /// The model is switched to eval mode for the run and put back in the mode it was in.
    /// </summary>
    /// <param name="cancellationToken">Checked between batches; throws <see cref="OperationCanceledException"/>.</param>
    public static EvaluationResult Evaluate(
        nn.Module<Tensor, Tensor> model,
        LabeledImages images,
        int? limit = null,
        int batchSize = DefaultBatchSize,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (limit is < 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "The image limit cannot be negative.");
        if (model is ClassifierNetwork network) network.CheckAccepts(images);

        var count = Math.Min(limit ?? images.Count, images.Count);
        var clock = Stopwatch.StartNew();
        var tally = new ClassificationTally(images.ClassCount);
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            for (var start = 0; start < count; start += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var size = Math.Min(batchSize, count - start);
                var inputs = ImageTensors.Inputs(images, start, size);
                var labels = ImageTensors.Labels(images, start, size);
                tally.Add(model.call(inputs), labels);
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return tally.ToResult(clock.Elapsed.TotalSeconds);
    }
}
