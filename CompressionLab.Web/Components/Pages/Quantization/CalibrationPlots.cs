using System.Globalization;
using CompressionLab.Web.Components.Charts;
using Plotly.Blazor;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib;
using LayoutLib = Plotly.Blazor.LayoutLib;

namespace CompressionLab.Web.Components.Pages.Quantization;

/// <summary>The Quantization page's figures as plotly traces and layouts (pure: records in, plotly objects out).</summary>
public static class CalibrationPlots
{
    /// <summary>
    /// Bars of the histogram, then one trace per method: a vertical line at its threshold (two for an asymmetric clip,
    /// one legend entry), the chosen method's solid and thick, the others dashed.
    /// </summary>
    public static PlotFigure Histogram(HistogramFigure figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        var traces = new List<ITrace>
        {
            new Bar
            {
                Name = "values",
                X = [.. figure.Centers.Cast<object>()],
                Y = [.. figure.Counts.Cast<object>()],
                Width = (decimal)figure.BarWidth,
                Marker = new Plotly.Blazor.Traces.BarLib.Marker { Color = "#9e9e9e" },
                ShowLegend = false,
                HoverTemplate = "%{x:.4g}: %{y:,} values<extra></extra>",
            },
        };
        var (bottom, top) = figure.LineSpan;
        foreach (var line in figure.Lines)
        {
            // One trace per method; a gap (null) separates the two ends of an asymmetric clip.
            var x = new List<object?>();
            var y = new List<object?>();
            foreach (var at in line.At)
            {
                if (x.Count > 0)
                {
                    x.Add(null);
                    y.Add(null);
                }
                x.AddRange([at, at]);
                y.AddRange([bottom, top]);
            }
            traces.Add(new Scatter
            {
                Name = line.Chosen ? $"{line.Method} (chosen)" : line.Method,
                Mode = ModeFlag.Lines,
                X = x!,
                Y = y!,
                Line = new Line { Color = line.Colour, Width = line.Chosen ? 3 : 1.5m, Dash = line.Chosen ? "solid" : "dash" },
                HoverTemplate = line.Hover + "<extra></extra>",
            });
        }
        // A little room right of the largest value, so a threshold at the data's end (max) is not drawn on the frame.
        var right = figure.Lines.SelectMany(l => l.At).Concat(figure.Centers.Select(c => c + (figure.BarWidth / 2))).DefaultIfEmpty(1).Max();
        var left = Math.Min(0, figure.Lines.SelectMany(l => l.At).Concat(figure.Centers.Select(c => c - (figure.BarWidth / 2))).DefaultIfEmpty(0).Min());
        var pad = 0.03 * (right - left);
        return new PlotFigure(traces, layout =>
        {
            Axes(layout, figure.XTitle, figure.LogY ? "values (log)" : "values", logY: figure.LogY);
            layout.XAxis[0].Range = [left - (left < 0 ? pad : 0), right + pad];
            layout.XAxis[0].AutoRange = LayoutLib.XAxisLib.AutoRangeEnum.False;
            layout.BarGap = 0;
        });
    }

    /// <summary>The curve, then one marker per method on it.</summary>
    public static PlotFigure ErrorCurve(ErrorCurveFigure figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        var traces = new List<ITrace>
        {
            new Scatter
            {
                Name = "estimated MSE",
                Mode = ModeFlag.Lines,
                X = [.. figure.Amax.Cast<object>()],
                Y = [.. figure.Mse.Cast<object>()],
                Line = new Line { Color = "#616161", Width = 1.5m },
                HoverTemplate = "amax %{x:.4g}: MSE %{y:.3e}<extra></extra>",
            },
        };
        traces.AddRange(figure.Points.Select(point => new Scatter
        {
            Name = point.Chosen ? $"{point.Method} (chosen)" : point.Method,
            Mode = ModeFlag.Markers,
            X = [point.Amax],
            Y = [point.Mse],
            Marker = new Marker { Color = point.Colour, Size = point.Chosen ? 14 : 9, Symbol = point.Chosen ? Plotly.Blazor.Traces.ScatterLib.MarkerLib.SymbolEnum.Diamond : Plotly.Blazor.Traces.ScatterLib.MarkerLib.SymbolEnum.Circle },
            HoverTemplate = point.Hover + "<extra></extra>",
        }));
        return new PlotFigure(traces, layout => Axes(layout, $"amax (clip threshold) of {figure.Layer}'s input", "estimated MSE (log)", logY: true));
    }

    /// <summary>A floating bar per output channel from its min to its max, red where per-tensor quantization would crush it.</summary>
    public static PlotFigure ChannelRanges(ChannelRangeFigure figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        var channels = Enumerable.Range(0, figure.Min.Count).Cast<object>().ToList();
        var traces = new List<ITrace>();
        foreach (var crushed in new[] { false, true })
        {
            var members = Enumerable.Range(0, figure.Min.Count).Where(c => figure.Crushed[c] == crushed).ToList();
            traces.Add(new Bar
            {
                Name = crushed
                    ? $"below {CalibrationFigures.CrushedShare:0%} of the largest |w| ({members.Count})"
                    : $"other channels ({members.Count})",
                X = [.. members.Cast<object>()],
                Y = [.. members.Select(c => (object)(figure.Max[c] - figure.Min[c]))],
                BaseArray = [.. members.Select(c => (object)figure.Min[c])],
                Marker = new Plotly.Blazor.Traces.BarLib.Marker { Color = crushed ? "#d32f2f" : "#1976d2" },
                TextArray = [.. members.Select(c => string.Create(CultureInfo.InvariantCulture, $"{figure.Share[c] * 100:0.#} % of the largest |w|"))],
                // The share is for the hover only: written inside 100 narrow bars it is unreadable.
                TextPosition = Plotly.Blazor.Traces.BarLib.TextPositionEnum.None,
                HoverTemplate = "channel %{x}: [%{base:.3g}, %{y:.3g} wide]<br>%{text}<extra></extra>",
            });
        }
        return new PlotFigure(traces, layout =>
        {
            Axes(layout, $"output channel of {figure.Layer}", "folded weight range", logY: false);
            layout.BarMode = LayoutLib.BarModeEnum.Overlay;
            layout.BarGap = 0.1m;
        });
    }

    private static void Axes(Plotly.Blazor.Layout layout, string xTitle, string yTitle, bool logY)
    {
        layout.Title = null;
        layout.XAxis = [new LayoutLib.XAxis { Title = new LayoutLib.XAxisLib.Title { Text = xTitle } }];
        layout.YAxis =
        [
            new LayoutLib.YAxis
            {
                Title = new LayoutLib.YAxisLib.Title { Text = yTitle },
                Type = logY ? LayoutLib.YAxisLib.TypeEnum.Log : LayoutLib.YAxisLib.TypeEnum.Linear,
            },
        ];
        layout.Margin = new LayoutLib.Margin { T = 20, B = 60, L = 80, R = 20 };
        layout.Legend = [ChartFigures.IsolatingLegend()];
    }
}
