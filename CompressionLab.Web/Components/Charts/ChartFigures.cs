using Plotly.Blazor;
using Plotly.Blazor.Traces;
using PlotlyLayout = Plotly.Blazor.Layout;

namespace CompressionLab.Web.Components.Charts;

/// <summary>Builds the plotly figures our chart components show (pure: data in, trace/layout objects out).</summary>
internal static class ChartFigures
{
    public static HeatMap Heatmap(
        IReadOnlyList<IReadOnlyList<double>> z,
        IReadOnlyList<string>? xLabels,
        IReadOnlyList<string>? yLabels,
        string textTemplate,
        string colorScale) => new()
        {
            Z = z.Select(row => (object)row.Cast<object>().ToList()).ToList(),
            X = xLabels?.Cast<object>().ToList(),
            Y = yLabels?.Cast<object>().ToList(),
            TextTemplate = textTemplate,
            ColorScale = colorScale,
            // plotly's sequential scales run dark to light; reversed, the largest counts are the darkest cells.
            ReverseScale = true,
            HoverTemplate = "%{y} / %{x}: %{z}<extra></extra>",
        };

    public static Scatter Line(LineSeries series) => new()
    {
        Name = series.Name,
        Mode = series.MarkersOnly
            ? Plotly.Blazor.Traces.ScatterLib.ModeFlag.Markers
            : Plotly.Blazor.Traces.ScatterLib.ModeFlag.Lines | Plotly.Blazor.Traces.ScatterLib.ModeFlag.Markers,
        // ExtendTrace appends to these lists, so they must exist even for an empty line.
        X = series.X.Cast<object>().ToList(),
        Y = series.Y.Cast<object>().ToList(),
        Line = series.Color is null && !series.Dashed
            ? null
            : new Plotly.Blazor.Traces.ScatterLib.Line { Color = series.Color, Dash = series.Dashed ? "dash" : null },
        Marker = series.Color is null && series.MarkerSize is null
            ? null
            : new Plotly.Blazor.Traces.ScatterLib.Marker { Color = series.Color, Size = series.MarkerSize ?? 5 },
        ShowLegend = series.ShowLegend,
        LegendGroup = series.Group,
        HoverTemplate = series.HoverTemplate,
        // Kept as a list even when empty, so points appended later can bring their text (LineChart.AppendAsync).
        TextArray = series.Text?.ToList(),
    };

    /// <summary>
    /// Legend behaviour of a chart whose lines a person compares: one click on an entry shows that line (its
    /// group) alone, a click on it again shows all; a double click hides or shows just that entry.
    /// </summary>
    public static Plotly.Blazor.LayoutLib.Legend IsolatingLegend() => new()
    {
        ItemClick = Plotly.Blazor.LayoutLib.LegendLib.ItemClickEnum.ToggleOthers,
        ItemDoubleClick = Plotly.Blazor.LayoutLib.LegendLib.ItemDoubleClickEnum.Toggle,
        GroupClick = Plotly.Blazor.LayoutLib.LegendLib.GroupClickEnum.ToggleGroup,
    };

    /// <summary>Sets titles and axes on the chart's own layout object (PlotlyChart keeps that instance).</summary>
    public static void ApplyLayout(PlotlyLayout layout, string? title, string? xTitle, string? yTitle, bool reverseY)
    {
        layout.Title = new Plotly.Blazor.LayoutLib.Title { Text = title };
        layout.XAxis = [new Plotly.Blazor.LayoutLib.XAxis { Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = xTitle } }];
        layout.YAxis =
        [
            new Plotly.Blazor.LayoutLib.YAxis
            {
                Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = yTitle },
                AutoRange = reverseY ? Plotly.Blazor.LayoutLib.YAxisLib.AutoRangeEnum.Reversed : Plotly.Blazor.LayoutLib.YAxisLib.AutoRangeEnum.True,
            },
        ];
        layout.Margin = new Plotly.Blazor.LayoutLib.Margin { T = title is null ? 20 : 50, B = 60, L = 80, R = 20 };
    }

    public static void ValidateMatrix(IReadOnlyList<IReadOnlyList<double>> z, IReadOnlyList<string>? xLabels, IReadOnlyList<string>? yLabels)
    {
        ArgumentNullException.ThrowIfNull(z);
        var columns = z.Count == 0 ? 0 : z[0].Count;
        for (var row = 0; row < z.Count; row++)
        {
            if (z[row].Count != columns)
            {
                throw new ArgumentException($"Heatmap row {row} has {z[row].Count} values but row 0 has {columns}; all rows must be equally long.", nameof(z));
            }
        }
        if (xLabels is not null && z.Count > 0 && xLabels.Count != columns)
        {
            throw new ArgumentException($"The heatmap has {columns} columns but {xLabels.Count} x labels.", nameof(xLabels));
        }
        if (yLabels is not null && yLabels.Count != z.Count)
        {
            throw new ArgumentException($"The heatmap has {z.Count} rows but {yLabels.Count} y labels.", nameof(yLabels));
        }
    }

    public static void ValidatePoints(int seriesIndex, int seriesCount, IReadOnlyList<double> x, IReadOnlyList<double> y, IReadOnlyList<string>? text = null)
    {
        if (text is not null && x is not null && text.Count != x.Count)
        {
            throw new ArgumentException($"Got {x.Count} points but {text.Count} texts; give one text per point or none.", nameof(text));
        }
        if (seriesIndex < 0 || seriesIndex >= seriesCount)
        {
            throw new ArgumentOutOfRangeException(nameof(seriesIndex), seriesIndex, $"The line chart has {seriesCount} lines.");
        }
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count)
        {
            throw new ArgumentException($"Got {x.Count} x values but {y.Count} y values; they must pair up.", nameof(y));
        }
    }
}
