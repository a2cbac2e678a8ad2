using System.Globalization;

namespace CompressionLab.Core.Quantization;

/// <summary>Where one calibration method clips one tensor, and what that costs.</summary>
/// <param name="Method">The method's name, e.g. <c>percentile:99.99</c> (see <see cref="ClippingMethod.Name"/>).</param>
/// <param name="Min">Lower end of the clip range in x (−amax symmetric, 0 unsigned).</param>
/// <param name="Max">Upper end of the clip range in x.</param>
/// <param name="Amax">max(|Min|, |Max|).</param>
/// <param name="ClippedFraction">Fraction of the tensor's values outside the grid's range (0..1).</param>
/// <param name="Mse">Estimated quantize–dequantize mean squared error per value.</param>
/// <param name="SqnrDb">10·log10(E[x²] / MSE); +∞ when quantization is exact.</param>
public sealed record ClippingResult(
    string Method,
    QuantizationMode Mode,
    double Min,
    double Max,
    double Amax,
    double Scale,
    int ZeroPoint,
    double ClippedFraction,
    double Mse,
    double SqnrDb)
{
    public QuantizationGrid Grid => QuantizationGrid.For(Mode, Min, Max);
}

public enum ClippingKind { Max, Average, Percentile, MeanStd, AciqLaplace, AciqGauss, Mse, Entropy }

/// <summary>A calibration method with its parameter: <c>max</c>, <c>avg</c>, <c>percentile:99.99</c>, <c>nstd:3</c>, <c>aciq-laplace</c>, <c>aciq-gauss</c>, <c>mse</c>, <c>entropy</c>.</summary>
public sealed record ClippingMethod(ClippingKind Kind, double Parameter = 0)
{
    public static ClippingMethod Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Trim().ToLowerInvariant().Split(':', 2);
        double Number(double fallback, double low, double high)
        {
            if (parts.Length == 1) return fallback;
            if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > low && value <= high))
                throw new FormatException($"'{text}': the number after ':' must be in ({low}, {high}].");
            return value;
        }
        return parts[0] switch
        {
            "max" => new(ClippingKind.Max),
            "avg" => new(ClippingKind.Average),
            "percentile" => new(ClippingKind.Percentile, Number(99.99, 0, 100)),
            "nstd" => new(ClippingKind.MeanStd, Number(3, 0, 1000)),
            "aciq-laplace" => new(ClippingKind.AciqLaplace),
            "aciq-gauss" => new(ClippingKind.AciqGauss),
            "mse" => new(ClippingKind.Mse),
            "entropy" => new(ClippingKind.Entropy),
            _ => throw new FormatException($"Unknown calibration method '{text}'; use max, avg, percentile:P, nstd:N, aciq-laplace, aciq-gauss, mse or entropy."),
        };
    }

    public string Name => Kind switch
    {
        ClippingKind.Max => "max",
        ClippingKind.Average => "avg",
        ClippingKind.Percentile => "percentile:" + Parameter.ToString(CultureInfo.InvariantCulture),
        ClippingKind.MeanStd => "nstd:" + Parameter.ToString(CultureInfo.InvariantCulture),
        ClippingKind.AciqLaplace => "aciq-laplace",
        ClippingKind.AciqGauss => "aciq-gauss",
        ClippingKind.Mse => "mse",
        ClippingKind.Entropy => "entropy",
        _ => throw new ArgumentOutOfRangeException(nameof(Kind)),
    };

    public override string ToString() => Name;
}

/// <summary>
/// The clipping methods, as pure functions of a tensor's histogram (and its Distiller statistics where the method
/// needs them). Every clip range is kept inside the observed values — no method gains from range beyond the data —
/// and the cost of each is estimated on the histogram by <see cref="HistogramError"/>.
/// </summary>
public static class ClippingMethods
{
    public static ClippingResult Calibrate(ClippingMethod method, ActivationHistogram histogram, TensorStatistics? statistics, QuantizationMode mode)
    {
        ArgumentNullException.ThrowIfNull(method);
        TensorStatistics Stats() => statistics ?? throw new ArgumentException($"The {method.Name} method needs the tensor's statistics.", nameof(statistics));
        return method.Kind switch
        {
            ClippingKind.Max => Max(histogram, mode),
            ClippingKind.Average => Average(histogram, Stats(), mode),
            ClippingKind.Percentile => Percentile(histogram, mode, method.Parameter),
            ClippingKind.MeanStd => MeanStd(histogram, Stats(), mode, method.Parameter),
            ClippingKind.AciqLaplace => AciqClip(histogram, Stats(), mode, Aciq.Law.Laplace),
            ClippingKind.AciqGauss => AciqClip(histogram, Stats(), mode, Aciq.Law.Gauss),
            ClippingKind.Mse => Mse(histogram, mode),
            ClippingKind.Entropy => Entropy(histogram, mode),
            _ => throw new ArgumentOutOfRangeException(nameof(method)),
        };
    }

    /// <summary>The observed range: max |x| (symmetric), [0, max] (unsigned), [min, max] (asymmetric).</summary>
    public static ClippingResult Max(ActivationHistogram histogram, QuantizationMode mode) =>
        Result("max", histogram, mode, histogram.ValueMin, histogram.ValueMax);

    /// <summary>Distiller's AVG: the averaged per-sample extremes (symmetric: the larger magnitude of the two).</summary>
    public static ClippingResult Average(ActivationHistogram histogram, TensorStatistics statistics, QuantizationMode mode) =>
        Result("avg", histogram, mode, statistics.AvgMin, statistics.AvgMax);

    /// <summary>
    /// The p-th percentile of |x| (symmetric, unsigned) or the (100 − p)-th and p-th percentiles of x (asymmetric),
    /// interpolated linearly inside the bin where the cumulative count crosses (values uniform within a bin).
    /// </summary>
    public static ClippingResult Percentile(ActivationHistogram histogram, QuantizationMode mode, double percentile)
    {
        if (!(percentile > 0 && percentile <= 100)) throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "A percentile is in (0, 100].");
        var name = "percentile:" + percentile.ToString(CultureInfo.InvariantCulture);
        if (histogram.Mode == HistogramMode.Asymmetric && mode != QuantizationMode.Unsigned)
        {
            var low = Quantile(histogram, 1 - (percentile / 100));
            var high = Quantile(histogram, percentile / 100);
            if (mode == QuantizationMode.Symmetric) return Result(name, histogram, mode, -Math.Max(Math.Abs(low), Math.Abs(high)), Math.Max(Math.Abs(low), Math.Abs(high)));
            return Result(name, histogram, mode, low, high);
        }
        var amax = Quantile(histogram, percentile / 100);
        return Result(name, histogram, mode, -amax, amax);
    }

    /// <summary>mean ± N·std (Distiller's N_STD), cut to the observed range.</summary>
    public static ClippingResult MeanStd(ActivationHistogram histogram, TensorStatistics statistics, QuantizationMode mode, double n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        return Result("nstd:" + n.ToString(CultureInfo.InvariantCulture), histogram, mode,
            statistics.Mean - (n * statistics.Std), statistics.Mean + (n * statistics.Std));
    }

    /// <summary>ACIQ with the Laplace law: see <see cref="AciqClip"/>.</summary>
    public static ClippingResult AciqLaplace(ActivationHistogram histogram, TensorStatistics statistics, QuantizationMode mode, int bits = 8) =>
        AciqClip(histogram, statistics, mode, Aciq.Law.Laplace, bits);

    public static ClippingResult AciqGauss(ActivationHistogram histogram, TensorStatistics statistics, QuantizationMode mode, int bits = 8) =>
        AciqClip(histogram, statistics, mode, Aciq.Law.Gauss, bits);

    /// <summary>
    /// ACIQ: range = mean ± α·spread. The Laplace scale is fitted by moments in the same single pass, b = σ/√2
    /// (Distiller takes a second pass for E|x − mean|; the two agree on Laplace data). Unsigned (after a ReLU): the
    /// one-sided α on the law of the zero-centred pre-ReLU tensor, fitted from E[x²] of the rectified one
    /// (b = √E[x²], σ = √(2·E[x²])).
    /// </summary>
    public static ClippingResult AciqClip(ActivationHistogram histogram, TensorStatistics statistics, QuantizationMode mode, Aciq.Law law, int bits = 8)
    {
        var name = law == Aciq.Law.Laplace ? "aciq-laplace" : "aciq-gauss";
        if (mode == QuantizationMode.Unsigned)
        {
            var spread = law == Aciq.Law.Laplace ? Math.Sqrt(statistics.MeanSquare) : Math.Sqrt(2 * statistics.MeanSquare);
            return Result(name, histogram, mode, 0, Aciq.Alpha(law, bits, oneSided: true) * spread);
        }
        var alpha = Aciq.Alpha(law, bits) * (law == Aciq.Law.Laplace ? statistics.Std / Math.Sqrt(2) : statistics.Std);
        if (mode == QuantizationMode.Symmetric)
        {
            var amax = Math.Abs(statistics.Mean) + alpha;
            return Result(name, histogram, mode, -amax, amax);
        }
        return Result(name, histogram, mode, statistics.Mean - alpha, statistics.Mean + alpha);
    }

    /// <summary>
    /// MSE: the range with the smallest estimated quantize–dequantize error. Symmetric and unsigned try every 8th
    /// bin's upper edge as amax (capped at the largest value), then every edge within 8 bins of the best. Asymmetric walks PyTorch HistogramObserver's path: from the
    /// full range, move in the end whose outer bin holds less mass, one bin at a time, and keep the best range on the
    /// whole path (HistogramObserver stops at the first increase), costing every 8th step, then every step within 8
    /// of the best.
    /// </summary>
    public static ClippingResult Mse(ActivationHistogram histogram, QuantizationMode mode)
    {
        if (histogram.IsSingleValue || histogram.Total == 0) return Max(histogram, mode) with { Method = "mse" };
        if (histogram.Mode == HistogramMode.Asymmetric && mode == QuantizationMode.Asymmetric)
        {
            // The path first (cheap), then costings on every 8th step and every step within 8 of the best.
            var path = new List<(double Low, double High)>();
            int start = 0, end = histogram.BinCount;
            var counts = histogram.Counts;
            while (true)
            {
                path.Add((Math.Max(histogram.BinLower(start), histogram.ValueMin), Math.Min(histogram.BinLower(end), histogram.ValueMax)));
                if (end - start <= 1) break;
                if (counts[start] <= counts[end - 1]) start++;
                else end--;
            }
            double Cost(int step) => HistogramError.Of(histogram, QuantizationGrid.For(mode, path[step].Low, path[step].High)).Mse;
            var bestStep = 0;
            var pathCost = double.PositiveInfinity;
            for (var step = 0; step < path.Count; step = step == path.Count - 1 ? path.Count : Math.Min(step + 8, path.Count - 1))
            {
                var cost = Cost(step);
                if (cost < pathCost) (pathCost, bestStep) = (cost, step);
            }
            var coarseBest = bestStep;
            for (var step = Math.Max(0, coarseBest - 8); step <= Math.Min(path.Count - 1, coarseBest + 8); step++)
            {
                var cost = Cost(step);
                if (cost < pathCost) (pathCost, bestStep) = (cost, step);
            }
            var best = path[bestStep];
            return Result("mse", histogram, mode, best.Low, best.High);
        }
        // Coarse to fine: every 8th edge, then every edge within 8 of the best (8× fewer costings than all 2048).
        var coarse = ErrorCurve(histogram, mode, stride: 8);
        var (bestAmax, bestCost) = coarse.MinBy(point => point.Mse);
        var center = (int)Math.Round(bestAmax / histogram.BinWidth - (histogram.Lower / histogram.BinWidth)) - 1;
        for (var i = Math.Max(0, center - 8); i <= Math.Min(histogram.BinCount - 1, center + 8); i++)
        {
            var amax = Math.Min(histogram.BinUpper(i), AmaxLimit(histogram));
            if (amax <= 0) continue;
            var mse = HistogramError.Of(histogram, QuantizationGrid.For(mode, -amax, amax)).Mse;
            if (mse < bestCost)
            {
                bestCost = mse;
                bestAmax = amax;
            }
        }
        return Result("mse", histogram, mode, -bestAmax, bestAmax);
    }

    /// <summary>
    /// Estimated MSE against amax for symmetric or unsigned quantization, amax at every bin's upper edge (the last
    /// capped at the largest value): the error-vs-threshold curve a preview plots, and what <see cref="Mse"/> minimises.
    /// </summary>
    /// <param name="stride">Every stride-th edge (the last edge is always included).</param>
    public static IReadOnlyList<(double Amax, double Mse)> ErrorCurve(ActivationHistogram histogram, QuantizationMode mode, int stride = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride);
        if (mode == QuantizationMode.Asymmetric) throw new ArgumentException("The error curve is over amax: symmetric or unsigned modes only.", nameof(mode));
        var curve = new List<(double, double)>(histogram.BinCount);
        if (histogram.Total == 0 || histogram.IsSingleValue) return curve;
        var limit = AmaxLimit(histogram);
        for (var i = stride - 1; ; i += stride)
        {
            i = Math.Min(i, histogram.BinCount - 1);
            var amax = Math.Min(histogram.BinUpper(i), limit);
            if (amax > 0) curve.Add((amax, HistogramError.Of(histogram, QuantizationGrid.For(mode, -amax, amax)).Mse));
            if (amax >= limit || i == histogram.BinCount - 1) break;
        }
        return curve;
    }

    /// <summary>The largest amax worth trying: the largest |x| (|x| histogram) or x (x histogram, unsigned).</summary>
    private static double AmaxLimit(ActivationHistogram histogram) =>
        histogram.Mode == HistogramMode.Symmetric ? histogram.DomainMax : histogram.ValueMax;

    /// <summary>TensorRT's entropy calibration (variant in <see cref="EntropyCalibration"/>) on a |x| histogram; symmetric or unsigned.</summary>
    public static ClippingResult Entropy(ActivationHistogram histogram, QuantizationMode mode)
    {
        if (histogram.Mode != HistogramMode.Symmetric || mode == QuantizationMode.Asymmetric)
            throw new ArgumentException($"Layer {histogram.Layer}, {histogram.Tensor}: the entropy method (TensorRT) works on a histogram of |x| for symmetric or unsigned quantization.");
        if (histogram.IsSingleValue || histogram.Total == 0) return Max(histogram, mode) with { Method = "entropy" };
        var (bins, _) = EntropyCalibration.Search(EntropyCalibration.LevelZeroBin(histogram.Counts), EntropyCalibration.QuantizedBinsFor(mode));
        var amax = Math.Min(histogram.BinLower(bins), histogram.DomainMax);
        return Result("entropy", histogram, mode, -amax, amax);
    }

    /// <summary>The value below which <paramref name="fraction"/> of the histogram's values lie (values uniform within a bin).</summary>
    public static double Quantile(ActivationHistogram histogram, double fraction)
    {
        if (histogram.Total == 0) return 0;
        if (histogram.IsSingleValue) return histogram.DomainMin;
        var target = fraction * histogram.Total;
        double cumulative = 0;
        var counts = histogram.Counts;
        for (var i = 0; i < histogram.BinCount; i++)
        {
            if (counts[i] == 0) continue;
            if (cumulative + counts[i] >= target)
            {
                var a = Math.Max(histogram.BinLower(i), histogram.DomainMin);
                var b = Math.Min(histogram.BinUpper(i), histogram.DomainMax);
                return a + ((b - a) * Math.Clamp((target - cumulative) / counts[i], 0, 1));
            }
            cumulative += counts[i];
        }
        return histogram.DomainMax;
    }

    /// <summary>Builds the result for a clip range in x: cut to the observed values, mapped to the mode's grid, costed on the histogram.</summary>
    public static ClippingResult Result(string method, ActivationHistogram histogram, QuantizationMode mode, double min, double max)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        if (histogram.Total == 0) throw new ArgumentException($"Layer {histogram.Layer}, {histogram.Tensor}: nothing was collected to calibrate.");
        double low, high;
        switch (mode)
        {
            case QuantizationMode.Symmetric:
            {
                var largest = Math.Max(Math.Abs(histogram.ValueMin), Math.Abs(histogram.ValueMax));
                high = Math.Min(Math.Max(Math.Abs(min), Math.Abs(max)), largest);
                low = -high;
                break;
            }
            case QuantizationMode.Unsigned:
                if (histogram.Mode == HistogramMode.Symmetric && histogram.ValueMin < 0)
                    throw new ArgumentException($"Layer {histogram.Layer}, {histogram.Tensor}: unsigned quantization needs non-negative values, but the tensor reaches {histogram.ValueMin}.");
                low = 0;
                high = Math.Clamp(max, 0, Math.Max(histogram.ValueMax, 0));
                break;
            case QuantizationMode.Asymmetric:
                low = Math.Clamp(min, histogram.ValueMin, histogram.ValueMax);
                high = Math.Clamp(max, low, histogram.ValueMax);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, null);
        }
        var grid = QuantizationGrid.For(mode, low, high);
        var cost = HistogramError.Of(histogram, grid);
        return new ClippingResult(method, mode, low, high, Math.Max(Math.Abs(low), Math.Abs(high)), grid.Scale, grid.ZeroPoint,
            cost.ClippedFraction, cost.Mse, cost.SqnrDb);
    }
}
