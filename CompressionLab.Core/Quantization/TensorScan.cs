using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CompressionLab.Core.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Core.Quantization;

/// <summary>Extremes and sum of a run of values (one sample, or a whole batch); all finite.</summary>
internal readonly record struct RunSummary(double Min, double Max, double MinAbs, double Sum);

/// <summary>
/// The tight loops behind calibration collection: one vectorised pass for extremes, sums and the finiteness check, one
/// for histogram bins and the second moment. Collection histograms ~10^8 values for vgg-small on 512 images and must cost
/// at most half an evaluation on top of it, so nothing here allocates per element, converts the tensor to double, or
/// copies it when its memory is already dense (contiguous or channels-last).
/// </summary>
/// <remarks>
/// Bins are <c>floor((d − lower) / width)</c> clamped to [0, bins − 1] in double, the very operations
/// <see cref="ActivationHistogram"/>'s scalar rule uses (IEEE division and floor are exact-rounded in vectors too), so
/// the vector path gives bit-identical counts and the merge rule the histogram tests pin still holds.
/// </remarks>
internal static class TensorScan
{
    /// <summary>
    /// The values of a CPU float tensor as one dense run in memory, without a copy when possible, and a map from a
    /// memory position to the row-major (logical) flat index, for error messages. Dimension 0 stays outermost in memory
    /// in both layouts, so each sample is a contiguous run either way.
    /// </summary>
    public sealed class DenseView : IDisposable
    {
        private readonly Tensor _view;
        private readonly long[]? _nchw;

        public DenseView(Tensor x)
        {
            using var scope = NewDisposeScope();
            var t = x.detach();
            if (t.device_type != TorchSharp.DeviceType.CPU) t = t.cpu();
            if (t.dtype != ScalarType.Float32) t = t.to_type(ScalarType.Float32);
            if (t.is_contiguous())
            {
                _view = t.alias();
            }
            else if (ChannelsLast.Is(t))
            {
                _view = t.permute(0, 2, 3, 1); // a contiguous NHWC view of the same memory
                _nchw = t.shape;
            }
            else
            {
                _view = t.contiguous();
            }
            _view = _view.MoveToOuterDisposeScope();
            Samples = t.dim() == 0 ? 1 : t.shape[0];
            Count = t.numel();
        }

        public long Samples { get; }
        public long Count { get; }

        public ReadOnlySpan<float> Values => Count == 0 ? [] : MemoryMarshal.Cast<byte, float>(_view.bytes);

        /// <summary>The row-major index of the element at memory position <paramref name="position"/>.</summary>
        public long LogicalIndex(long position)
        {
            if (_nchw is null) return position;
            var (c, h, w) = (_nchw[1], _nchw[2], _nchw[3]);
            var n = position / (h * w * c);
            var rest = position % (h * w * c);
            var (y, x, ch) = (rest / (w * c), rest / c % w, rest % c);
            return (((n * c) + ch) * h * w) + (y * w) + x;
        }

        public void Dispose() => _view.Dispose();
    }

    /// <summary>Extremes and sum of <paramref name="values"/>; the memory position of the first non-finite value, or −1.</summary>
    public static RunSummary Summarise(ReadOnlySpan<float> values, out long nonFinite)
    {
        nonFinite = -1;
        var i = 0;
        double min = double.PositiveInfinity, max = double.NegativeInfinity, minAbs = double.PositiveInfinity, sum = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            ref var start = ref MemoryMarshal.GetReference(values);
            var vmin = Vector256.Create(float.PositiveInfinity);
            var vmax = Vector256.Create(float.NegativeInfinity);
            var vminAbs = Vector256.Create(float.PositiveInfinity);
            var finite = Vector256<float>.AllBitsSet;
            var sumLow = Vector256<double>.Zero;
            var sumHigh = Vector256<double>.Zero;
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref start, (nuint)i);
                // v − v is 0 for every finite v and NaN for NaN and ±Inf.
                finite &= Vector256.Equals(v - v, Vector256<float>.Zero);
                vmin = Vector256.Min(vmin, v);
                vmax = Vector256.Max(vmax, v);
                vminAbs = Vector256.Min(vminAbs, Vector256.Abs(v));
                var (low, high) = Vector256.Widen(v);
                sumLow += low;
                sumHigh += high;
            }
            // Compared as integers: the all-ones pattern is a NaN as a float, and NaN never equals itself.
            if (!Vector256.EqualsAll(finite.AsInt32(), Vector256<int>.AllBitsSet))
            {
                nonFinite = FirstNonFinite(values);
                return default;
            }
            for (var lane = 0; lane < Vector256<float>.Count; lane++)
            {
                min = Math.Min(min, vmin.GetElement(lane));
                max = Math.Max(max, vmax.GetElement(lane));
                minAbs = Math.Min(minAbs, vminAbs.GetElement(lane));
            }
            sum = Vector256.Sum(sumLow) + Vector256.Sum(sumHigh);
        }
        for (; i < values.Length; i++)
        {
            var v = values[i];
            if (!float.IsFinite(v))
            {
                nonFinite = FirstNonFinite(values);
                return default;
            }
            min = Math.Min(min, v);
            max = Math.Max(max, v);
            minAbs = Math.Min(minAbs, Math.Abs(v));
            sum += v;
        }
        return new RunSummary(min, max, minAbs, sum);
    }

    private static long FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>
    /// Adds every value's bin to <paramref name="counts"/> (exactly <see cref="ActivationHistogram"/>'s rule) over
    /// [lower, lower + bins·width), of |x| when <paramref name="magnitude"/>; values must be finite.
    /// </summary>
    public static void Bin(ReadOnlySpan<float> values, bool magnitude, double lower, double width, Span<long> counts)
    {
        var last = counts.Length - 1;
        var i = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            ref var start = ref MemoryMarshal.GetReference(values);
            var l = Vector256.Create(lower);
            var w = Vector256.Create(width);
            var inverse = Vector256.Create(1 / width);
            var top = Vector256.Create((double)last);
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var (low, high) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)i));
                if (magnitude)
                {
                    low = Vector256.Abs(low);
                    high = Vector256.Abs(high);
                }
                Count(counts, Index(low, l, w, inverse, top));
                Count(counts, Index(high, l, w, inverse, top));
            }
        }
        for (; i < values.Length; i++)
        {
            double d = magnitude ? Math.Abs((double)values[i]) : values[i];
            counts[ScalarIndex(d, lower, width, last)]++;
        }
    }

    /// <summary>
    /// One pass for the collector: bins of |x| and of x into two histograms (a width of 0 skips that histogram), and
    /// Σ(x − mean)² (the batch's M2 for Chan's update). Values must be finite and at most <paramref name="maxAbs"/> in
    /// magnitude; the counts are added to <paramref name="magnitudeCounts"/> and <paramref name="signedCounts"/>.
    /// </summary>
    /// <remarks>
    /// <para>Bin indices are computed in float32, 8 lanes at once, where the double rule would take 4: the float quotient
    /// is within <c>Tolerance</c> of the exact one (bounded from the batch's largest |x|, the lower edge and the bin
    /// count), so a vector whose every lane lies farther than that from an inner bin edge floors to the same bins as the
    /// double rule; any other vector (and a range where the bound is too loose) is binned by the double rule.</para>
    /// <para>The increments are the cost once the division is gone, and increments of one counter wait for each other
    /// (each reads the store before it). After a ReLU half the values are 0, which all land in one bin: each vector lane's
    /// zeros are counted in a spare slot of its own (8 slots past the last bin, added to 0's bin at the end), so they no
    /// longer queue on one counter. The counting goes to per-thread scratch arrays that are added to the callers' counts
    /// at the end.</para>
    /// <para>M2 is summed in exactly the order it always was (the statistics feed Distiller's file bit for bit).</para>
    /// </remarks>
    public static double BinBoth(ReadOnlySpan<float> values, double mean, double maxAbs,
        double magnitudeLower, double magnitudeWidth, Span<long> magnitudeCounts,
        double signedLower, double signedWidth, Span<long> signedCounts)
    {
        var bins = magnitudeCounts.Length;
        var last = bins - 1;
        var magnitudeOn = magnitudeWidth > 0;
        var signedOn = signedWidth > 0;
        if (signedOn && signedCounts.Length != bins) throw new ArgumentException("Both histograms must have the same bin count.", nameof(signedCounts));
        var magnitude = Scratch(ref _magnitudeScratch, bins);
        var signed = Scratch(ref _signedScratch, bins);
        var i = 0;
        double m2 = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            ref var start = ref MemoryMarshal.GetReference(values);
            ref var mc = ref MemoryMarshal.GetArrayDataReference(magnitude);
            ref var sc = ref MemoryMarshal.GetArrayDataReference(signed);
            var ml = Vector256.Create(magnitudeLower);
            var mw = Vector256.Create(magnitudeWidth);
            var sl = Vector256.Create(signedLower);
            var sw = Vector256.Create(signedWidth);
            var mi = Vector256.Create(1 / magnitudeWidth);
            var si = Vector256.Create(1 / signedWidth);
            var mu = Vector256.Create(mean);
            var top = Vector256.Create((double)last);
            var acc = Vector256<double>.Zero;
            double magnitudeTolerance = 0, signedTolerance = 0;
            var magnitudeFast = magnitudeOn && FloatExact(maxAbs, magnitudeLower, magnitudeWidth, last, out magnitudeTolerance);
            var signedFast = signedOn && FloatExact(maxAbs, signedLower, signedWidth, last, out signedTolerance);
            var mlf = Vector256.Create((float)magnitudeLower);
            var mif = Vector256.Create((float)(1 / magnitudeWidth));
            var slf = Vector256.Create((float)signedLower);
            var sif = Vector256.Create((float)(1 / signedWidth));
            var mEdge = Vector256.Create((float)(0.5 - magnitudeTolerance));
            var sEdge = Vector256.Create((float)(0.5 - signedTolerance));
            var highest = Vector256.Create(last + 0.5f);
            // Lane k's zeros go to slot bins + k.
            var slots = Vector256.Create(bins) + Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref start, (nuint)i);
                var (low, high) = Vector256.Widen(v);
                var dl = low - mu;
                var dh = high - mu;
                acc += (dl * dl) + (dh * dh);
                var zero = Vector256.Equals(v, Vector256<float>.Zero).AsInt32();
                if (magnitudeOn)
                {
                    if (magnitudeFast && TryIndex(Vector256.Abs(v), mlf, mif, mEdge, highest, out var index))
                    {
                        Count(ref mc, Vector256.ConditionalSelect(zero, slots, index));
                    }
                    else
                    {
                        Count(ref mc, Index(Vector256.Abs(low), ml, mw, mi, top));
                        Count(ref mc, Index(Vector256.Abs(high), ml, mw, mi, top));
                    }
                }
                if (signedOn)
                {
                    if (signedFast && TryIndex(v, slf, sif, sEdge, highest, out var index))
                    {
                        Count(ref sc, Vector256.ConditionalSelect(zero, slots, index));
                    }
                    else
                    {
                        Count(ref sc, Index(low, sl, sw, si, top));
                        Count(ref sc, Index(high, sl, sw, si, top));
                    }
                }
            }
            m2 = Vector256.Sum(acc);
        }
        for (; i < values.Length; i++)
        {
            double v = values[i];
            m2 += (v - mean) * (v - mean);
            if (magnitudeOn) magnitude[ScalarIndex(Math.Abs(v), magnitudeLower, magnitudeWidth, last)]++;
            if (signedOn) signed[ScalarIndex(v, signedLower, signedWidth, last)]++;
        }
        if (magnitudeOn) Flush(magnitude, magnitudeCounts, ScalarIndex(0, magnitudeLower, magnitudeWidth, last));
        if (signedOn) Flush(signed, signedCounts, ScalarIndex(0, signedLower, signedWidth, last));
        return m2;
    }

    [ThreadStatic] private static long[]? _magnitudeScratch, _signedScratch;

    /// <summary>A zeroed scratch array of the bins plus one zero slot per vector lane (kept zeroed between calls).</summary>
    private static long[] Scratch(ref long[]? scratch, int bins)
    {
        if (scratch is null || scratch.Length != bins + Vector256<float>.Count) scratch = new long[bins + Vector256<float>.Count];
        return scratch;
    }

    /// <summary>Adds the scratch counts (the lanes' zero slots into 0's bin) to <paramref name="counts"/> and zeroes the scratch.</summary>
    private static void Flush(long[] scratch, Span<long> counts, int zeroBin)
    {
        var bins = counts.Length;
        for (var lane = bins; lane < scratch.Length; lane++) scratch[zeroBin] += scratch[lane];
        for (var k = 0; k < bins; k++) counts[k] += scratch[k];
        Array.Clear(scratch);
    }

    /// <summary>
    /// Whether float32 bin indices can be used for values up to <paramref name="maxAbs"/>, and a bound (twice the worst
    /// case) on how far the float quotient can lie from the double rule's.
    /// </summary>
    /// <remarks>
    /// Each float operation rounds by at most 2⁻²⁴ relative. fl(lower) is off by |lower|·2⁻²⁴; x − fl(lower), the float
    /// 1/width (rounded from the double, 2⁻²⁴ + 2⁻⁵³) and the product each add 2⁻²⁴ relative to the quotient
    /// q ≤ (|x| + |lower|)/width; the double rule's own two roundings are 2⁻⁵² of q. So
    /// |q_float − q_double| ≤ (|lower| + 3(maxAbs + |lower|))/width·2⁻²⁴ (+ q·2⁻⁴⁶), and the tolerance is twice that.
    /// (The first version used (maxAbs + |lower|)/width + bins, times 2⁻²⁰: 3 to 5 times wider, which sent an
    /// estimated 6–9 % of the vectors to the double path.)
    /// </remarks>
    private static bool FloatExact(double maxAbs, double lower, double width, int last, out double tolerance)
    {
        tolerance = 2 * ((4 * Math.Abs(lower)) + (3 * maxAbs)) / width * Math.ScaleB(1.0, -24);
        return tolerance < 1.0 / 64 && (1 / width) < float.MaxValue && double.IsFinite(tolerance) && last < (1 << 22);
    }

    /// <summary>
    /// The 8 bins of <paramref name="d"/> from the float quotient, or false when a lane lies within the tolerance of an
    /// inner bin edge (where float and double could floor differently).
    /// </summary>
    /// <remarks>
    /// The quotient is first clamped into [0.5, last + 0.5]: below bin 0's middle and above the last bin's middle both
    /// rules give the end bin anyway (the double rule clamps), so no end lane is sent to the slow path and no clamp of
    /// the index is needed. A lane is near an edge when its fraction f is within the tolerance of 0 or 1, i.e. when
    /// |f − 0.5| ≥ <paramref name="edge"/> = 0.5 − tolerance; f − 0.5 is exact for f ≥ 0.25 and off by at most 2⁻²⁶ below,
    /// far inside the tolerance's 8× margin.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryIndex(Vector256<float> d, Vector256<float> lower, Vector256<float> inverse, Vector256<float> edge, Vector256<float> highest, out Vector256<int> index)
    {
        var half = Vector256.Create(0.5f);
        var quotient = Vector256.Min(Vector256.Max((d - lower) * inverse, half), highest);
        var floor = Vector256.Floor(quotient);
        index = Vector256.ConvertToInt32(floor);
        return Vector256.LessThanAll(Vector256.Abs(quotient - floor - half), edge);
    }

    /// <summary>Increments the 8 counters <paramref name="index"/> names (each within the array by construction: no bounds checks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Count(ref long c, Vector256<int> index)
    {
        // One store and eight loads are cheaper than extracting eight lanes from the register.
        var stored = index;
        ref var lanes = ref Unsafe.As<Vector256<int>, int>(ref stored);
        Unsafe.Add(ref c, lanes)++;
        Unsafe.Add(ref c, Unsafe.Add(ref lanes, 1))++;
        Unsafe.Add(ref c, Unsafe.Add(ref lanes, 2))++;
        Unsafe.Add(ref c, Unsafe.Add(ref lanes, 3))++;
        Unsafe.Add(ref c, Unsafe.Add(ref lanes, 4))++;
        Unsafe.Add(ref c, Unsafe.Add(ref lanes, 5))++;
        Unsafe.Add(ref c, Unsafe.Add(ref lanes, 6))++;
        Unsafe.Add(ref c, Unsafe.Add(ref lanes, 7))++;
    }

    /// <summary>Increments the 4 counters <paramref name="index"/> names (clamped to the bins by <see cref="Index"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Count(ref long c, Vector256<long> index)
    {
        Unsafe.Add(ref c, (int)index.GetElement(0))++;
        Unsafe.Add(ref c, (int)index.GetElement(1))++;
        Unsafe.Add(ref c, (int)index.GetElement(2))++;
        Unsafe.Add(ref c, (int)index.GetElement(3))++;
    }

    /// <summary>
    /// floor((d − lower) / width) clamped to [0, top], bit-identical to the division: the quotient is taken as
    /// (d − lower)·(1/width), a multiplication where a division would cost several times more, and only a lane whose
    /// product lies within 1e-9 of an integer (where the two could floor differently) is recomputed by division. An
    /// exact 0 (d = lower: every ReLU zero) is 0 either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<long> Index(Vector256<double> d, Vector256<double> lower, Vector256<double> width, Vector256<double> inverse, Vector256<double> top)
    {
        var difference = d - lower;
        var quotient = difference * inverse;
        var floor = Vector256.Floor(quotient);
        var fraction = quotient - floor;
        var near = (Vector256.LessThan(fraction, Edge) | Vector256.GreaterThan(fraction, OneMinusEdge)) & ~Vector256.Equals(difference, Vector256<double>.Zero);
        if (near != Vector256<double>.Zero)
            floor = Vector256.Floor(difference / width);
        return Vector256.ConvertToInt64(Vector256.Min(Vector256.Max(floor, Vector256<double>.Zero), top));
    }

    private static readonly Vector256<double> Edge = Vector256.Create(1e-9);
    private static readonly Vector256<double> OneMinusEdge = Vector256.Create(1 - 1e-9);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Count(Span<long> counts, Vector256<long> index)
    {
        counts[(int)index.GetElement(0)]++;
        counts[(int)index.GetElement(1)]++;
        counts[(int)index.GetElement(2)]++;
        counts[(int)index.GetElement(3)]++;
    }

    /// <summary>The scalar rule (<see cref="ActivationHistogram"/>'s BinOf).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ScalarIndex(double d, double lower, double width, int last)
    {
        var index = Math.Floor((d - lower) / width);
        return index < 0 ? 0 : index >= last ? last : (int)index;
    }
}
