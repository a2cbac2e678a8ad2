using System.Globalization;
using static TorchSharp.torch;

namespace CompressionLab.Core.Quantization;

/// <summary>
/// Distiller's activation statistics for one tensor (QuantCalibrationStatsCollector): min, max, avg_min, avg_max,
/// mean, std and shape, accumulated batch by batch. Dimension 0 of every batch is the sample dimension.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>min / max: extremes over everything seen.</item>
/// <item>avg_min / avg_max: Distiller averages the per-sample extremes (each sample's min over its own values), over
/// all samples of all batches; when each sample is a single value it falls back to one extreme per batch. FORMATS.md's
/// shorthand ("the mean over batches of each batch's extreme") is that fallback. Distiller's running update weighs the
/// old average by the element count and the new extremes by the sample count, which drifts towards the first batch;
/// we weigh both by samples, which is the average its comment defines.</item>
/// <item>mean: over all elements (Distiller's running mean by element count).</item>
/// <item>std: population standard deviation over all elements (Distiller's second pass, divide by N), here in one pass
/// with Chan's pairwise update in double.</item>
/// <item>shape: the first batch's shape, written like Distiller's size2str: <c>(256, 32, 28, 28)</c>.</item>
/// </list>
/// </remarks>
public sealed class TensorStatistics(string layer, string tensor)
{
    private double _sumMin, _sumMax, _m2;
    private long _extremeCount;

    public string Layer { get; } = layer;
    public string Tensor { get; } = tensor;

    public double Min { get; private set; } = double.PositiveInfinity;
    public double Max { get; private set; } = double.NegativeInfinity;
    public double AvgMin => _extremeCount == 0 ? double.NaN : _sumMin / _extremeCount;
    public double AvgMax => _extremeCount == 0 ? double.NaN : _sumMax / _extremeCount;
    public double Mean { get; private set; }
    public double Std => Count == 0 ? double.NaN : Math.Sqrt(_m2 / Count);

    /// <summary>Second raw moment E[x²] (used to fit ACIQ's distributions after a ReLU).</summary>
    public double MeanSquare => Count == 0 ? double.NaN : (_m2 / Count) + (Mean * Mean);

    /// <summary>Shape of the first batch; empty before any.</summary>
    public IReadOnlyList<long> Shape { get; private set; } = [];

    public string ShapeText => "(" + string.Join(", ", Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";

    public long Count { get; private set; }
    public int Batches { get; private set; }

    /// <summary>Adds one batch; NaN or ±Inf throws <see cref="NonFiniteTensorException"/> and leaves the statistics unchanged.</summary>
    public void Add(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.numel() == 0) return;
        using var scope = NewDisposeScope();
        var x = batch.detach().cpu().to_type(ScalarType.Float64).contiguous();
        var samples = x.dim() == 0 ? 1 : x.shape[0];
        var flat = x.reshape(samples, -1);
        var finite = isfinite(flat);
        if (!finite.all().item<bool>())
        {
            var index = (~finite).reshape(-1).nonzero()[0, 0].item<long>();
            throw new NonFiniteTensorException(Layer, Tensor, index, flat.reshape(-1)[index].item<double>());
        }

        // Distiller: per-sample extremes, unless each sample is one value (then one extreme for the batch).
        var perSample = flat.shape[1] > 1;
        var mins = perSample ? flat.amin([1]) : flat.min();
        var maxs = perSample ? flat.amax([1]) : flat.max();
        var n = flat.numel();
        var batchMean = flat.mean().item<double>();
        var batchM2 = (flat - batchMean).square().sum().item<double>();

        Min = Math.Min(Min, mins.min().item<double>());
        Max = Math.Max(Max, maxs.max().item<double>());
        _sumMin += mins.sum().item<double>();
        _sumMax += maxs.sum().item<double>();
        _extremeCount += mins.numel();

        // Chan et al.: combine (count, mean, M2) of the seen data and the batch.
        var total = Count + n;
        var delta = batchMean - Mean;
        _m2 += batchM2 + (delta * delta * Count * n / total);
        Mean += delta * n / total;
        Count = total;
        if (Batches == 0) Shape = batch.shape;
        Batches++;
    }
    /// <summary>
    /// Adds a batch already summarised (the collector's one-pass scan): the same update as <see cref="Add"/>, from the
    /// batch's extremes, the sums of its per-sample extremes, its mean and its M2 = Σ(x − mean)².
    /// </summary>
    internal void AddSummary(IReadOnlyList<long> shape, long count, double min, double max, double sumMin, double sumMax, long extremes, double batchMean, double batchM2)
    {
        if (count == 0) return;
        Min = Math.Min(Min, min);
        Max = Math.Max(Max, max);
        _sumMin += sumMin;
        _sumMax += sumMax;
        _extremeCount += extremes;
        var total = Count + count;
        var delta = batchMean - Mean;
        _m2 += batchM2 + (delta * delta * Count * count / total);
        Mean += delta * count / total;
        Count = total;
        if (Batches == 0) Shape = shape;
        Batches++;
    }

    /// <summary>The accumulator's whole state, to store it (the workspace cache) and <see cref="Restore"/> it equal.</summary>
    public TensorStatisticsState State() => new(Min, Max, _sumMin, _sumMax, _extremeCount, Mean, _m2, Count, Batches, Shape);

    public static TensorStatistics Restore(string layer, string tensor, TensorStatisticsState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return new TensorStatistics(layer, tensor)
        {
            Min = state.Min,
            Max = state.Max,
            _sumMin = state.SumMin,
            _sumMax = state.SumMax,
            _extremeCount = state.ExtremeCount,
            Mean = state.Mean,
            _m2 = state.M2,
            Count = state.Count,
            Batches = state.Batches,
            Shape = state.Shape,
        };
    }
}

/// <summary>Everything a <see cref="TensorStatistics"/> accumulates (sums, not averages, so a restored one goes on accumulating).</summary>
public sealed record TensorStatisticsState(double Min, double Max, double SumMin, double SumMax, long ExtremeCount, double Mean, double M2, long Count, int Batches, IReadOnlyList<long> Shape);
