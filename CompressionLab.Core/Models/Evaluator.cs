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
    /// Evaluates <paramref name="model"/> on every image of <paramref name="images"/>, in their order. To measure on
    /// fewer images, pass an <see cref="AnalysisSubset"/>'s images (never "the first N": that is another subset than a
    /// sweep's of the same size). The model is switched to eval mode for the run and put back in the mode it was in.
    /// </summary>
    /// <param name="cancellationToken">Checked between batches; throws <see cref="OperationCanceledException"/>.</param>
    public static EvaluationResult Evaluate(
        nn.Module<Tensor, Tensor> model,
        LabeledImages images,
        int batchSize = DefaultBatchSize,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (model is ClassifierNetwork network) network.CheckAccepts(images);

        var count = images.Count;
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
