using System.Globalization;
using System.Net;
using System.Text;

namespace CompressionLab.Core.Reports;

/// <summary>A line of a chart: its points in data units, drawn as one polyline with a marker per point.</summary>
/// <param name="PointTitles">Hover text per point (an SVG &lt;title&gt;); null: the point's coordinates.</param>
public sealed record ChartSeries(string Name, string Colour, IReadOnlyList<(double X, double Y)> Points, bool Dashed = false,
    IReadOnlyList<string>? PointTitles = null);

/// <summary>
/// The frame every x–y chart of the report is drawn in: a fixed <see cref="Width"/> × <see cref="Height"/> box, the plot
/// area inside the margins (legend on the right), and the data ranges mapped linearly (y optionally log10). A value v
/// lands at x = <see cref="Left"/> + (v − xMin)/(xMax − xMin)·<see cref="PlotWidth"/> and
/// y = <see cref="Top"/> + (1 − (v − yMin)/(yMax − yMin))·<see cref="PlotHeight"/> (log10 of each for a log axis),
/// written with one decimal: enough for a pixel, and what the tests recompute by hand.
/// </summary>
public sealed class SvgPlot
{
    public const double Width = 600;
    public const double Height = 300;
    public const double Left = 60;
    public const double Right = 160;
    public const double Top = 20;
    public const double Bottom = 40;
    public const double PlotWidth = Width - Left - Right;
    public const double PlotHeight = Height - Top - Bottom;

    /// <summary>The report's palette (Tableau 10, what Plotly's and matplotlib's defaults are), in series order.</summary>
    public static IReadOnlyList<string> Palette { get; } =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    public SvgPlot(double xMin, double xMax, double yMin, double yMax, bool logY = false)
    {
        if (!(xMax > xMin) || !(yMax > yMin)) throw new ArgumentException($"An axis needs max above min (x [{xMin}, {xMax}], y [{yMin}, {yMax}]).");
        if (logY && !(yMin > 0)) throw new ArgumentException($"A log axis needs a minimum above 0 (got {yMin}).");
        (XMin, XMax, YMin, YMax, LogY) = (xMin, xMax, yMin, yMax, logY);
    }

    public double XMin { get; }
    public double XMax { get; }
    public double YMin { get; }
    public double YMax { get; }
    public bool LogY { get; }

    public double X(double value) => Left + ((value - XMin) / (XMax - XMin) * PlotWidth);

    public double Y(double value)
    {
        var (v, low, high) = LogY ? (Math.Log10(value), Math.Log10(YMin), Math.Log10(YMax)) : (value, YMin, YMax);
        return Top + ((1 - ((v - low) / (high - low))) * PlotHeight);
    }

    /// <summary>A coordinate as written: one decimal, invariant culture, no trailing zero.</summary>
    public static string Coordinate(double value) => Math.Round(value, 1).ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary>The polyline's <c>points</c> attribute of a series (data units in, pixels out).</summary>
    public string Points(IEnumerable<(double X, double Y)> points) =>
        string.Join(' ', points.Select(p => $"{Coordinate(X(p.X))},{Coordinate(Y(p.Y))}"));

    /// <summary>About <paramref name="count"/> round ticks (1, 2 or 5 × 10^k apart) within [min, max].</summary>
    public static IReadOnlyList<double> NiceTicks(double min, double max, int count = 5)
    {
        if (!(max > min)) return [min];
        var rough = (max - min) / Math.Max(1, count);
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        var step = new[] { 1, 2, 5, 10 }.Select(m => m * magnitude).First(s => s >= rough);
        var ticks = new List<double>();
        for (var t = Math.Ceiling((min / step) - 1e-9) * step; t <= max + (step * 1e-9); t += step)
        {
            var tick = Math.Round(t / step) * step;
            ticks.Add(tick == 0 ? 0 : tick); // never −0, which prints as "-0"
        }
        return ticks;
    }

    /// <summary>
    /// The opening tag of a chart (fixed size, scalable), with a title for screen readers and hover. No xmlns: inline SVG in
    /// HTML is in the SVG namespace by the parser's rules, and the file then names no URL at all.
    /// </summary>
    public static void Open(StringBuilder svg, double width, double height, string title)
    {
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg class=\"chart\" viewBox=\"0 0 {Coordinate(width)} {Coordinate(height)}\" width=\"{Coordinate(width)}\" height=\"{Coordinate(height)}\" role=\"img\" aria-label=\"{Text(title)}\">");
        svg.Append("<title>").Append(Text(title)).Append("</title>");
    }

    /// <summary>Axes, gridlines, tick labels and axis titles of the plot area.</summary>
    public void Axes(StringBuilder svg, string xTitle, string yTitle, Func<double, string> xTick, Func<double, string> yTick, IReadOnlyList<double>? yTicks = null)
    {
        ArgumentNullException.ThrowIfNull(svg);
        svg.Append("<g class=\"axes\">");
        foreach (var t in NiceTicks(XMin, XMax, 6))
        {
            var x = Coordinate(X(t));
            svg.Append(CultureInfo.InvariantCulture, $"<line class=\"grid\" x1=\"{x}\" y1=\"{Coordinate(Top)}\" x2=\"{x}\" y2=\"{Coordinate(Top + PlotHeight)}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x}\" y=\"{Coordinate(Top + PlotHeight + 14)}\" text-anchor=\"middle\">{Text(xTick(t))}</text>");
        }
        foreach (var t in yTicks ?? NiceTicks(YMin, YMax, 5))
        {
            var y = Coordinate(Y(t));
            svg.Append(CultureInfo.InvariantCulture, $"<line class=\"grid\" x1=\"{Coordinate(Left)}\" y1=\"{y}\" x2=\"{Coordinate(Left + PlotWidth)}\" y2=\"{y}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Coordinate(Left - 6)}\" y=\"{y}\" dy=\"0.32em\" text-anchor=\"end\">{Text(yTick(t))}</text>");
        }
        svg.Append(CultureInfo.InvariantCulture,
            $"<rect class=\"frame\" x=\"{Coordinate(Left)}\" y=\"{Coordinate(Top)}\" width=\"{Coordinate(PlotWidth)}\" height=\"{Coordinate(PlotHeight)}\"/>");
        svg.Append(CultureInfo.InvariantCulture,
            $"<text class=\"axis-title\" x=\"{Coordinate(Left + (PlotWidth / 2))}\" y=\"{Coordinate(Height - 6)}\" text-anchor=\"middle\">{Text(xTitle)}</text>");
        svg.Append(CultureInfo.InvariantCulture,
            $"<text class=\"axis-title\" transform=\"translate(14 {Coordinate(Top + (PlotHeight / 2))}) rotate(-90)\" text-anchor=\"middle\">{Text(yTitle)}</text>");
        svg.Append("</g>");
    }

    /// <summary>Series as polylines with a marker (and hover title) per point.</summary>
    public void Lines(StringBuilder svg, IReadOnlyList<ChartSeries> series)
    {
        ArgumentNullException.ThrowIfNull(svg);
        foreach (var s in series)
        {
            svg.Append(CultureInfo.InvariantCulture,
                $"<g class=\"series\" data-series=\"{Text(s.Name)}\"><polyline fill=\"none\" stroke=\"{Text(s.Colour)}\" stroke-width=\"1.8\"{(s.Dashed ? " stroke-dasharray=\"5 3\"" : "")} points=\"{Points(s.Points)}\"/>");
            for (var i = 0; i < s.Points.Count; i++)
            {
                var (px, py) = s.Points[i];
                var title = s.PointTitles?[i] ?? $"{s.Name}: ({px.ToString("G4", CultureInfo.InvariantCulture)}, {py.ToString("G4", CultureInfo.InvariantCulture)})";
                svg.Append(CultureInfo.InvariantCulture,
                    $"<circle cx=\"{Coordinate(X(px))}\" cy=\"{Coordinate(Y(py))}\" r=\"2.4\" fill=\"{Text(s.Colour)}\"><title>{Text(title)}</title></circle>");
            }
            svg.Append("</g>");
        }
    }

    /// <summary>The legend in the right margin, one row per entry (names longer than fit are cut, the whole name in the hover title).</summary>
    public static void Legend(StringBuilder svg, IEnumerable<(string Name, string Colour, bool Dashed)> entries)
    {
        ArgumentNullException.ThrowIfNull(svg);
        var y = Top + 6;
        var list = entries.ToList();
        var rows = (int)((Height - 10 - y) / 16) + 1;
        svg.Append("<g class=\"legend\">");
        for (var i = 0; i < list.Count; i++)
        {
            var (name, colour, dashed) = list[i];
            if (i == rows - 1 && list.Count > rows)
            {
                // More entries than rows: say so rather than drop them silently (the tables list them all).
                svg.Append(CultureInfo.InvariantCulture,
                    $"<text x=\"{Coordinate(Left + PlotWidth + 12)}\" y=\"{Coordinate(y)}\" dy=\"0.32em\">{Text($"… {list.Count - i} more (see the table)")}</text>");
                break;
            }
            var x = Left + PlotWidth + 12;
            svg.Append(CultureInfo.InvariantCulture,
                $"<line x1=\"{Coordinate(x)}\" y1=\"{Coordinate(y)}\" x2=\"{Coordinate(x + 18)}\" y2=\"{Coordinate(y)}\" stroke=\"{Text(colour)}\" stroke-width=\"2.5\"{(dashed ? " stroke-dasharray=\"4 2\"" : "")}/>");
            svg.Append(CultureInfo.InvariantCulture,
                $"<text x=\"{Coordinate(x + 24)}\" y=\"{Coordinate(y)}\" dy=\"0.32em\"><title>{Text(name)}</title>{Text(Cut(name, 20))}</text>");
            y += 16;
        }
        svg.Append("</g>");
    }

    /// <summary>HTML- and XML-safe text: every name in a report comes from a file and may hold markup.</summary>
    public static string Text(string text) => WebUtility.HtmlEncode(text);

    /// <summary>At most <paramref name="length"/> characters, an ellipsis marking a cut.</summary>
    public static string Cut(string text, int length) => text.Length <= length ? text : string.Concat(text.AsSpan(0, length - 1), "…");
}
