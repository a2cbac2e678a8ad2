using CompressionLab.Core.Data;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>Evaluation inputs of a sweep: normalised images [N, 1, H, W] and int64 labels, built once.</summary>
internal sealed class SweepInputs : IDisposable
{
    public SweepInputs(LabeledImages images)
    {
        if (images.Count == 0) throw new ArgumentException($"{images.Name}: no images to evaluate on.", nameof(images));
        Count = images.Count;
        ClassCount = images.ClassCount;
        using var scope = NewDisposeScope();
        // Same arithmetic as training: (x/255 − mean)/std in float32.
        var pixels = tensor(images.Pixels, ScalarType.Byte).view(images.Count, 1, images.Height, images.Width);
        Images = pixels.to_type(ScalarType.Float32).div_(255f).sub_(ImageNormalization.Mean).div_(ImageNormalization.Std).MoveToOuterDisposeScope();
        Labels = tensor(images.Labels, ScalarType.Byte).to_type(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    public int Count { get; }
    public int ClassCount { get; }
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
    /// Top-1, top-5 and mean loss over all samples. The loss is summed per sample in double in
    /// sample order, so it depends on the batch size only through the logits' float rounding.
    /// </summary>
    public static SweepMetrics Evaluate(IPrunableForward forward, int fromBlock, Tensor blockInputs, Tensor labels, int batchSize, CancellationToken cancellationToken)
    {
        var count = (int)blockInputs.shape[0];
        long top1 = 0, top5 = 0;
        double lossSum = 0;
        for (var start = 0; start < count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var size = Math.Min(batchSize, count - start);
            var logits = forward.ForwardRange(fromBlock, forward.BlockCount, blockInputs.narrow(0, start, size));
            var target = labels.narrow(0, start, size);
            var k = (int)Math.Min(5, logits.shape[1]);
            top1 += logits.argmax(1).eq(target).sum().item<long>();
            top5 += logits.topk(k, 1).indexes.eq(target.unsqueeze(1)).any(1).sum().item<long>();
            var losses = -logits.log_softmax(1).gather(1, target.unsqueeze(1)).squeeze(1);
            foreach (var loss in losses.data<float>()) lossSum += loss;
        }
        return new SweepMetrics(100.0 * top1 / count, 100.0 * top5 / count, lossSum / count);
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
