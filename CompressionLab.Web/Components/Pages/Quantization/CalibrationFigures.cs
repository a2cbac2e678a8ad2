using System.Globalization;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Reports;

namespace CompressionLab.Web.Components.Pages.Quantization;

/// <summary>A method's clip drawn on a chart: one legend entry, one or two vertical lines (asymmetric: both ends).</summary>
/// <param name="At">Where the lines stand (amax; or min and max for an asymmetric clip).</param>
/// <param name="Chosen">The layer's chosen method: drawn solid and thick, the others dashed.</param>
public sealed record ThresholdLine(string Method, string Colour, bool Chosen, IReadOnlyList<double> At, string Hover);

/// <summary>The selected layer's input histogram with every method's threshold.</summary>
/// <param name="Centers">Bin centres (display bins: up to 512, merged from the 2048 collected, trailing empty bins dropped).</param>
public sealed record HistogramFigure(string Layer, string XTitle, IReadOnlyList<double> Centers, IReadOnlyList<double> Counts, double BarWidth,
    bool LogY, IReadOnlyList<ThresholdLine> Lines)
{
    /// <summary>Where the vertical lines run: from 0 (log: just under the smallest non-zero count) to a little above the tallest bar.</summary>
    public (double Bottom, double Top) LineSpan
    {
        get
        {
            var top = Counts.Count == 0 ? 1 : Math.Max(1, Counts.Max());
            if (!LogY) return (0, top * 1.05);
            var smallest = Counts.Where(c => c > 0).DefaultIfEmpty(1).Min();
            return (smallest * 0.5, top * 2);
        }
    }
}

/// <summary>A method's point on the error curve.</summary>
public sealed record ErrorPoint(string Method, string Colour, bool Chosen, double Amax, double Mse, string Hover);

/// <summary>Estimated quantization MSE against amax (symmetric or unsigned), with each method's point.</summary>
public sealed record ErrorCurveFigure(string Layer, IReadOnlyList<double> Amax, IReadOnlyList<double> Mse, IReadOnlyList<ErrorPoint> Points);

/// <summary>
/// Each output channel's range of the folded weight, and its share of the layer's largest |w|: a channel with a small
/// share would get few of the 127 levels if the weight were quantized per tensor (the page quantizes per channel).
/// </summary>
/// <param name="Share">max(|min|, |max|) of the channel over that of the whole weight, in [0, 1].</param>
/// <param name="Crushed">Share below <see cref="CalibrationFigures.CrushedShare"/>.</param>
public sealed record ChannelRangeFigure(string Layer, IReadOnlyList<double> Min, IReadOnlyList<double> Max, IReadOnlyList<double> Share,
    IReadOnlyList<bool> Crushed)
{
    public int CrushedCount => Crushed.Count(c => c);
}

/// <summary>Builds the charts' contents from a layer's profile and the preview's clips (pure: data in, records out).</summary>
public static class CalibrationFigures
{
    /// <summary>Display bins at most: 2048 bars are more than a chart's width in pixels.</summary>
    public const int DisplayBins = 512;

    /// <summary>A channel below a tenth of the largest |w| keeps at most 12 of 127 levels under one per-tensor scale.</summary>
    public const double CrushedShare = 0.1;

    /// <summary>Points of the error curve (every n-th of the 2048 bin edges).</summary>
    public const int ErrorCurveStride = 4;

    public static HistogramFigure Histogram(CalibrationPreview preview, LayerProfile layer, bool logY)
    {
        ArgumentNullException.ThrowIfNull(preview);
        ArgumentNullException.ThrowIfNull(layer);
        var histogram = preview.HistogramOf(layer);
        var (centers, counts, width) = DisplayBinsOf(histogram);
        var chosen = preview.MethodOf(layer.Layer);
        var asymmetric = preview.ModeOf(layer) == QuantizationMode.Asymmetric;
        var lines = new List<ThresholdLine>();
        foreach (var (method, result, _) in preview.AllMethods(layer))
        {
            if (result is null) continue;
            IReadOnlyList<double> at = asymmetric ? [result.Min, result.Max] : [result.Amax];
            lines.Add(new ThresholdLine(method.Name, CalibrationPreview.Colour(method), method == chosen, at, Hover(result, asymmetric)));
        }
        var title = asymmetric ? $"x at the input of {layer.Layer}" : $"|x| at the input of {layer.Layer}";
        return new HistogramFigure(layer.Layer, title, centers, counts, width, logY, lines);
    }

    /// <summary>Null in asymmetric mode (the curve is over one amax), or when the input was a single value.</summary>
    public static ErrorCurveFigure? ErrorCurve(CalibrationPreview preview, LayerProfile layer)
    {
        ArgumentNullException.ThrowIfNull(preview);
        ArgumentNullException.ThrowIfNull(layer);
        var mode = preview.ModeOf(layer);
        if (mode == QuantizationMode.Asymmetric) return null;
        var curve = ClippingMethods.ErrorCurve(layer.Input.Magnitude, mode, ErrorCurveStride);
        if (curve.Count == 0) return null;
        var chosen = preview.MethodOf(layer.Layer);
        var points = preview.AllMethods(layer)
            .Where(m => m.Result is not null)
            .Select(m => new ErrorPoint(m.Method.Name, CalibrationPreview.Colour(m.Method), m.Method == chosen, m.Result!.Amax, m.Result.Mse, Hover(m.Result, asymmetric: false)))
            .ToList();
        return new ErrorCurveFigure(layer.Layer, [.. curve.Select(p => p.Amax)], [.. curve.Select(p => p.Mse)], points);
    }

    public static ChannelRangeFigure ChannelRanges(LayerProfile layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var magnitudes = layer.ChannelMin.Select((min, c) => Math.Max(Math.Abs(min), Math.Abs(layer.ChannelMax[c]))).ToArray();
        var largest = magnitudes.DefaultIfEmpty(0).Max();
        var share = magnitudes.Select(m => largest > 0 ? m / largest : 1).ToArray();
        return new ChannelRangeFigure(layer.Layer, layer.ChannelMin, layer.ChannelMax, share, [.. share.Select(s => s < CrushedShare)]);
    }

    /// <summary>
    /// Bins up to the last non-empty one, merged in groups so that at most <see cref="DisplayBins"/> remain: the rule the
    /// HTML report uses too (<see cref="HistogramBars.Of"/>), as bar centres for Plotly.
    /// </summary>
    public static (double[] Centers, double[] Counts, double Width) DisplayBinsOf(ActivationHistogram histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        var bars = HistogramBars.Of(histogram, DisplayBins);
        // One value, no span: a single bar at it (exactly at the value, not at a centre computed back from an edge).
        if (histogram.IsSingleValue) return ([histogram.DomainMin], [histogram.Total], bars.Width);
        return ([.. Enumerable.Range(0, bars.Counts.Count).Select(bars.Center)], [.. bars.Counts.Select(c => (double)c)], bars.Width);
    }

    private static string Hover(ClippingResult result, bool asymmetric)
    {
        var range = asymmetric
            ? string.Create(CultureInfo.InvariantCulture, $"[{result.Min:G4}, {result.Max:G4}]")
            : string.Create(CultureInfo.InvariantCulture, $"amax {result.Amax:G4}");
        return $"{result.Method}: {range} · clipped {QuantizationText.Percent(result.ClippedFraction)} · SQNR {QuantizationText.Sqnr(result.SqnrDb)}";
    }
}
