using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// Evaluation inputs of a sweep, built once: the images normalised by <see cref="ImageTensors"/> (the one normalisation)
/// as one tensor [N, 1, H, W], which the block-input cache starts from, and int64 labels.
/// </summary>
internal sealed class SweepInputs : IDisposable
{
    public SweepInputs(LabeledImages images)
    {
        if (images.Count == 0) throw new ArgumentException($"{images.Name}: no images to evaluate on.", nameof(images));
        Count = images.Count;
        Images = ImageTensors.Inputs(images);
        Labels = ImageTensors.Labels(images);
    }

    public int Count { get; }
    public Tensor Images { get; }
    public Tensor Labels { get; }

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>Batched evaluation of the network's output from some block's input.</summary>
internal static class SweepEvaluation
{
    /// <summary>
    /// Top-1, top-5 (fractions) and mean loss over all samples, by <see cref="Evaluator.Score"/> in its batches: the
    /// numbers <see cref="Evaluator.Evaluate"/> reports for the same images and batch size.
    /// </summary>
    public static SweepMetrics Evaluate(IPrunableForward forward, int fromBlock, Tensor blockInputs, Tensor labels, int classCount, int batchSize, CancellationToken cancellationToken)
    {
        var tally = Evaluator.Score(classCount, (int)blockInputs.shape[0], batchSize,
            (start, size) => forward.ForwardRange(fromBlock, forward.BlockCount, blockInputs.narrow(0, start, size)),
            (start, size) => labels.narrow(0, start, size),
            cancellationToken);
        var result = tally.ToResult(0);
        return new SweepMetrics(result.Top1, result.Top5, result.Loss);
    }

    /// <summary>
    /// The input of block <paramref name="to"/> for every sample, from the input of block
    /// <paramref name="from"/>, computed in the same batches as evaluation (so cached and naive
    /// sweeps see bit-identical activations) into one preallocated tensor.
    /// </summary>
    public static Tensor Advance(IPrunableForward forward, Tensor blockInputs, int from, int to, int batchSize, CancellationToken cancellationToken)
    {
        var count = (int)blockInputs.shape[0];
        Tensor? result = null;
        try
        {
            for (var start = 0; start < count; start += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var size = Math.Min(batchSize, count - start);
                var output = forward.ForwardRange(from, to, blockInputs.narrow(0, start, size));
                // Same layout as the forward pass produces, so evaluating from the cache runs the same kernels as from scratch.
                result ??= ChannelsLast.EmptyLike(output, count).MoveToOuterDisposeScope();
                result.narrow(0, start, size).copy_(output);
            }
            return result!;
        }
        catch
        {
            result?.Dispose();
            throw;
        }
    }
}
