using System.Diagnostics;
using CompressionLab.Core.Data;
using CompressionLab.Core.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// Measures a classifier on labelled images: batched, in eval mode, without gradients. Every evaluation in the product
/// (training's validation and test, the evaluation job, <c>eval</c>, a sweep's baseline and cells) goes through
/// <see cref="Score"/>: images normalised by <see cref="ImageTensors"/>, metrics by <see cref="ClassificationTally"/>.
/// </summary>
public static class Evaluator
{
    /// <summary>
    /// Images per forward pass unless the caller says otherwise; also a sweep's (<see cref="SweepSettings.BatchSize"/>),
    /// so an evaluation and a sweep's baseline run the same batches (see <see cref="SweepCellKey"/> on why that matters).
    /// </summary>
    public const int DefaultBatchSize = 64;

    /// <summary>
    /// Evaluates <paramref name="model"/> on every image of <paramref name="images"/>, in their order. To measure on
    /// fewer images, pass an <see cref="AnalysisSubset"/>'s images (never "the first N": that is another subset than a
    /// sweep's of the same size). The model is switched to eval mode for the run and put back in the mode it was in.
    /// </summary>
    /// <remarks>
    /// A <see cref="ClassifierNetwork"/> runs through the sweeps' inference forward (BatchNorm folded into the layer
    /// before it, channels-last activations): the same arithmetic a sweep's baseline gets, and faster than the modules.
    /// Its outputs agree with the modules' to float rounding.
    /// </remarks>
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

        var clock = Stopwatch.StartNew();
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var folded = model is ClassifierNetwork classifier ? new FoldedForward(classifier) : null;
            Func<Tensor, Tensor> forward = folded is null ? model.call : inputs => folded.ForwardRange(0, folded.BlockCount, inputs);
            var tally = Score(images.ClassCount, images.Count, batchSize,
                (start, size) => forward(ImageTensors.Inputs(images, start, size)),
                (start, size) => ImageTensors.Labels(images, start, size),
                cancellationToken);
            return tally.ToResult(clock.Elapsed.TotalSeconds);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>
    /// The batching every evaluation shares: samples [start, start + size) in order, <paramref name="batchSize"/> at a time
    /// (the last batch smaller), each batch's logits and int64 labels added to one tally inside its own dispose scope.
    /// </summary>
    internal static ClassificationTally Score(
        int classCount,
        int count,
        int batchSize,
        Func<int, int, Tensor> logits,
        Func<int, int, Tensor> labels,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var tally = new ClassificationTally(classCount);
        for (var start = 0; start < count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var size = Math.Min(batchSize, count - start);
            tally.Add(logits(start, size), labels(start, size));
        }
        return tally;
    }
}
