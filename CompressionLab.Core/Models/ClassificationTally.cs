using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// The one place metrics are computed: top-1, top-5, summed cross-entropy and the confusion matrix over batches of
/// logits. Every loop that produces logits (<see cref="Evaluator"/>, a sweep running only the tail of a network, what
/// comes next) feeds one of these, so all report the same numbers for the same logits. Holds no tensors.
/// </summary>
/// <remarks>
/// Top-1 is the first of one <c>topk</c> (so top-1, top-5 and the predicted class agree on ties). The loss is each
/// sample's cross-entropy in float32, summed in double in sample order: the sum does not depend on how the samples
/// were batched, only the logits themselves can.
/// </remarks>
public sealed class ClassificationTally
{
    private readonly int[,] _confusion;
    private int _top1;
    private int _top5;
    private double _lossSum;

    public ClassificationTally(int classCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        ClassCount = classCount;
        _confusion = new int[classCount, classCount];
    }

    public int ClassCount { get; }
    public int Samples { get; private set; }

    /// <summary>Adds one batch: <paramref name="logits"/> [B, classes] and int64 <paramref name="labels"/> [B].</summary>
    public void Add(Tensor logits, Tensor labels)
    {
        if (logits.ndim != 2 || logits.shape[1] != ClassCount)
            throw new ArgumentException($"Logits must be [batch, {ClassCount}], got [{string.Join(", ", logits.shape)}].", nameof(logits));
        if (labels.ndim != 1 || labels.shape[0] != logits.shape[0])
            throw new ArgumentException($"Labels must be [{logits.shape[0]}], got [{string.Join(", ", labels.shape)}].", nameof(labels));

        using var scope = NewDisposeScope();
        var batch = (int)logits.shape[0];
        var targets = labels.to_type(ScalarType.Int64);
        var truth = targets.data<long>().ToArray();
        for (var i = 0; i < batch; i++)
            if (truth[i] < 0 || truth[i] >= ClassCount)
                throw new ArgumentException($"Label {truth[i]} at batch position {i} is outside the {ClassCount} classes.", nameof(labels));

        var losses = nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.None).to_type(ScalarType.Float64);
        // One topk serves top-1, top-5 and the predicted class, so the three can never disagree on ties.
        var topk = logits.topk(Math.Min(5, ClassCount), dim: 1).indexes;
        var hits = topk.eq(targets.unsqueeze(1));
        var top1Hits = hits.select(1, 0);
        var top5Hits = hits.any(1);
        var predicted = topk.select(1, 0).contiguous().data<long>().ToArray();
        for (var i = 0; i < batch; i++) _confusion[truth[i], predicted[i]]++;

        _top1 += (int)top1Hits.sum().item<long>();
        _top5 += (int)top5Hits.sum().item<long>();
        foreach (var loss in losses.data<double>()) _lossSum += loss; // one running sum in sample order, whatever the batches
        Samples += batch;
    }

    public EvaluationResult ToResult(double seconds)
    {
        var perClass = new double?[ClassCount];
        var matrix = new IReadOnlyList<int>[ClassCount];
        for (var t = 0; t < ClassCount; t++)
        {
            var row = new int[ClassCount];
            for (var p = 0; p < ClassCount; p++) row[p] = _confusion[t, p];
            var total = row.Sum();
            perClass[t] = total == 0 ? null : (double)row[t] / total;
            matrix[t] = Array.AsReadOnly(row);
        }
        var n = Math.Max(Samples, 1);
        return new EvaluationResult(
            Samples == 0 ? 0 : (double)_top1 / n,
            Samples == 0 ? 0 : (double)_top5 / n,
            Samples == 0 ? 0 : _lossSum / n,
            Array.AsReadOnly(perClass),
            Array.AsReadOnly(matrix),
            Samples,
            seconds);
    }
}
