using static TorchSharp.torch;

namespace CompressionLab.Core.Quantization;

/// <summary>What a histogram counts: |x| (symmetric quantization) or x itself (asymmetric).</summary>
public enum HistogramMode
{
    /// <summary>Bins of |x| over [0, upper): TensorRT's calibration histogram.</summary>
    Symmetric,

    /// <summary>Bins of x over [lower, upper).</summary>
    Asymmetric,
}

/// <summary>
/// A fixed-size (2048-bin) histogram of one tensor's values, accumulated batch by batch; the range grows
/// when a batch falls outside it.
/// </summary>
/// <remarks>
/// <para>Bins are half-open, [lower + i·w, lower + (i+1)·w). The first batch sets lower to its smallest value (0
/// for |x|) and w = span / 2047.5, which puts the largest value in the middle of the last bin, never on an edge.</para>
/// <para>Growth: neither TensorRT's calibrator (pytorch-quantization keeps w and appends bins, so the count exceeds
/// 2048) nor PyTorch's HistogramObserver (upsamples each old bin ×128, spreads its mass uniformly and re-bins, which
/// splits bins and so only approximates) is copied. Here w doubles (×2^k, the smallest k that covers the batch), and
/// the new lower edge is an old lower edge shifted by whole new bins, so every new bin is exactly the union of
/// 2^k old bins: no bin is ever split and no mass is moved by guesswork.</para>
/// <para>The rule tests pin: the merged histogram equals one-shot histogramming of the concatenated batches over the
/// merged histogram's final range, exactly for <see cref="HistogramMode.Symmetric"/> (lower stays 0 and scaling by
/// 2^k is exact in floating point) and, for <see cref="HistogramMode.Asymmetric"/>, up to values within a double
/// rounding of a bin edge. When the first batch holds the extremes, the range never grows and the merged histogram
/// equals the fresh one-shot histogram too. The price of exactness: after growth the data may fill only a little
/// more than half the bins (the range is at most 2× the data's span).</para>
/// <para>A tensor that so far holds one value only (all zeros, say) has no span: its count waits in bin 0 with
/// <see cref="BinWidth"/> 0 until a batch brings a second value.</para>
/// </remarks>
public sealed class ActivationHistogram
{
    public const int DefaultBinCount = 2048;

    private long[] _counts;

    public ActivationHistogram(HistogramMode mode, string layer = "", string tensor = "", int binCount = DefaultBinCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(binCount, 2);
        Mode = mode;
        Layer = layer;
        Tensor = tensor;
        BinCount = binCount;
        _counts = new long[binCount];
    }

    /// <summary>An empty histogram over a chosen range (for one-shot histogramming on a known range).</summary>
    public static ActivationHistogram WithRange(HistogramMode mode, double lower, double binWidth, int binCount = DefaultBinCount)
    {
        if (!(binWidth > 0) || !double.IsFinite(lower) || (mode == HistogramMode.Symmetric && lower != 0))
            throw new ArgumentException($"A histogram range needs a positive bin width and a finite lower edge (0 for symmetric); got lower {lower}, width {binWidth}.");
        return new ActivationHistogram(mode, binCount: binCount) { Lower = lower, BinWidth = binWidth };
    }

    public HistogramMode Mode { get; }
    public string Layer { get; }
    public string Tensor { get; }
    public int BinCount { get; }

    /// <summary>Lower edge of bin 0 (0 for symmetric).</summary>
    public double Lower { get; private set; }

    /// <summary>Width of every bin; 0 while the tensor has shown a single value only (or nothing).</summary>
    public double BinWidth { get; private set; }

    public double Upper => Lower + (BinCount * BinWidth);

    public IReadOnlyList<long> Counts => _counts;

    /// <summary>Number of values counted.</summary>
    public long Total { get; private set; }

    /// <summary>Smallest and largest raw x seen (not |x|); +∞/−∞ while empty.</summary>
    public double ValueMin { get; private set; } = double.PositiveInfinity;

    public double ValueMax { get; private set; } = double.NegativeInfinity;

    /// <summary>Smallest and largest histogrammed value (|x| for symmetric, x for asymmetric).</summary>
    public double DomainMin { get; private set; } = double.PositiveInfinity;

    public double DomainMax { get; private set; } = double.NegativeInfinity;

    /// <summary>True when every value seen is the same one (no span to bin).</summary>
    public bool IsSingleValue => Total > 0 && DomainMin == DomainMax;

    public double BinLower(int bin) => Lower + (bin * BinWidth);

    public double BinUpper(int bin) => Lower + ((bin + 1) * BinWidth);

    /// <summary>Counts a batch of values (any shape, flattened).</summary>
    public void Add(Tensor values)
    {
        ArgumentNullException.ThrowIfNull(values);
        using var view = new TensorScan.DenseView(values);
        try
        {
            Add(view.Values);
        }
        catch (NonFiniteTensorException e)
        {
            // The span's position is the memory order; name the tensor's own (row-major) index.
            throw new NonFiniteTensorException(Layer, Tensor, view.LogicalIndex(e.Index), e.Value);
        }
    }

    /// <summary>Counts a batch of values; NaN or ±Inf anywhere throws <see cref="NonFiniteTensorException"/> before anything changes.</summary>
    public void Add(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        var summary = TensorScan.Summarise(values, out var nonFinite);
        if (nonFinite >= 0) throw new NonFiniteTensorException(Layer, Tensor, nonFinite, values[(int)nonFinite]);
        if (!BeginBatch(summary, values.Length)) return;
        TensorScan.Bin(values, Mode == HistogramMode.Symmetric, Lower, BinWidth, _counts);
        Total += values.Length;
    }

    /// <summary>
    /// The range part of adding a batch of <paramref name="count"/> finite values with these extremes: updates the
    /// extremes and grows (or first sets) the range. False when the batch was counted already (every value so far is
    /// one and the same); true when the caller must bin the batch over the new range (<see cref="CountBinned"/>).
    /// </summary>
    internal bool BeginBatch(RunSummary batch, long count)
    {
        var symmetric = Mode == HistogramMode.Symmetric;
        var low = symmetric ? batch.MinAbs : batch.Min;
        var high = symmetric ? Math.Max(Math.Abs(batch.Min), Math.Abs(batch.Max)) : batch.Max;

        var wasSingle = BinWidth == 0 && Total > 0;
        var single = DomainMin;
        ValueMin = Math.Min(ValueMin, batch.Min);
        ValueMax = Math.Max(ValueMax, batch.Max);
        DomainMin = Math.Min(DomainMin, low);
        DomainMax = Math.Max(DomainMax, high);

        if (BinWidth == 0)
        {
            if (DomainMin == DomainMax)
            {
                // Still one value: no span to bin over yet.
                Lower = symmetric ? 0 : DomainMin;
                _counts[0] += count;
                Total += count;
                return false;
            }
            var pending = wasSingle ? _counts[0] : 0;
            _counts[0] = 0;
            Lower = symmetric ? 0 : DomainMin;
            // The largest value lands mid-bin in the last bin, never on an edge.
            BinWidth = (DomainMax - Lower) / (BinCount - 0.5);
            if (pending > 0) _counts[BinOf(single)] += pending;
        }
        else
        {
            Cover(low, high);
        }
        return true;
    }

    /// <summary>The counts array a caller of <see cref="BeginBatch"/> bins into, then reports with <see cref="CountBinned"/>.</summary>
    internal Span<long> BinCounts => _counts;

    internal void CountBinned(long count) => Total += count;

    /// <summary>A histogram as stored (the workspace cache); the counts are copied.</summary>
    public static ActivationHistogram Restore(HistogramMode mode, string layer, string tensor, double lower, double binWidth, IReadOnlyList<long> counts,
        double valueMin, double valueMax, double domainMin, double domainMax)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var histogram = new ActivationHistogram(mode, layer, tensor, counts.Count)
        {
            Lower = lower,
            BinWidth = binWidth,
            ValueMin = valueMin,
            ValueMax = valueMax,
            DomainMin = domainMin,
            DomainMax = domainMax,
        };
        for (var i = 0; i < counts.Count; i++) histogram._counts[i] = counts[i];
        histogram.Total = counts.Sum();
        return histogram;
    }

    private int BinOf(double d)
    {
        var index = Math.Floor((d - Lower) / BinWidth);
        return index < 0 ? 0 : index >= BinCount ? BinCount - 1 : (int)index;
    }

    /// <summary>Widens the range by doubling the bin width until [low, high] fits; see the remarks on why doubling.</summary>
    private void Cover(double low, double high)
    {
        if (low >= Lower && high < Upper) return;
        for (var k = 1; k < 2100; k++)
        {
            var width = Math.ScaleB(BinWidth, k);
            long shift = 0;
            if (low < Lower)
            {
                shift = (long)Math.Ceiling((Lower - low) / width);
                if (Lower - (shift * width) > low) shift++;
            }
            // The old bins, grouped 2^k to a new bin, must still fit after the shift.
            var oldSpan = k >= 62 ? 1 : ((BinCount - 1L) >> k) + 1;
            if (shift + oldSpan > BinCount) continue;
            var lower = Lower - (shift * width);
            if (high >= lower + (BinCount * width)) continue;

            var counts = new long[BinCount];
            for (var j = 0; j < BinCount; j++)
                counts[shift + (k >= 62 ? 0 : (long)j >> k)] += _counts[j];
            _counts = counts;
            Lower = lower;
            BinWidth = width;
            return;
        }
        throw new InvalidOperationException($"Layer {Layer}, {Tensor}: the histogram range cannot grow to [{low}, {high}].");
    }

    /// <summary>A copy that can be grown independently.</summary>
    public ActivationHistogram Clone()
    {
        var copy = new ActivationHistogram(Mode, Layer, Tensor, BinCount)
        {
            Lower = Lower,
            BinWidth = BinWidth,
            Total = Total,
            ValueMin = ValueMin,
            ValueMax = ValueMax,
            DomainMin = DomainMin,
            DomainMax = DomainMax,
        };
        Array.Copy(_counts, copy._counts, BinCount);
        return copy;
    }
}
