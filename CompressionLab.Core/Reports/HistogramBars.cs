using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Reports;

/// <summary>
/// A histogram cut down for display: bar b covers [<see cref="Lower"/> + b·<see cref="Width"/>, + <see cref="Width"/>)
/// and counts <see cref="Counts"/>[b] values. Counts are summed, never resampled, so the bars hold every value counted.
/// </summary>
/// <param name="Group">Collected bins per bar (1: the bins as collected).</param>
public sealed record HistogramBars(double Lower, double Width, IReadOnlyList<long> Counts, int Group)
{
    public long Total => Counts.Sum();

    public double Upper => Lower + (Counts.Count * Width);

    public double Center(int bar) => Lower + ((bar + 0.5) * Width);

    /// <summary>
    /// The bins up to the last non-empty one (the range grows by doubling, so up to half the 2048 bins can be empty at
    /// the top), merged in groups of ⌈used / <paramref name="maxBars"/>⌉ consecutive bins: at most
    /// <paramref name="maxBars"/> bars, each exactly the union of whole collected bins. A tensor of one value is one bar
    /// at it; an empty one has no bars.
    /// </summary>
    public static HistogramBars Of(ActivationHistogram histogram, int maxBars)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBars, 1);
        var counts = histogram.Counts;
        var last = counts.Count - 1;
        while (last >= 0 && counts[last] == 0) last--;
        if (last < 0) return new HistogramBars(0, 0, [], 1);
        if (histogram.IsSingleValue)
        {
            // No span to bin over: one bar centred on the value, wide enough to see.
            var width = Math.Max(Math.Abs(histogram.DomainMin) * 0.01, 1e-6);
            return new HistogramBars(histogram.DomainMin - (width / 2), width, [histogram.Total], 1);
        }
        var used = last + 1;
        var group = (used + maxBars - 1) / maxBars;
        var bars = new long[(used + group - 1) / group];
        for (var i = 0; i < used; i++) bars[i / group] += counts[i];
        return new HistogramBars(histogram.Lower, histogram.BinWidth * group, bars, group);
    }
}
