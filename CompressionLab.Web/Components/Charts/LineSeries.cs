namespace CompressionLab.Web.Components.Charts;

/// <summary>One named line of a <see cref="LineChart"/>; <see cref="X"/> and <see cref="Y"/> have equal length.</summary>
public sealed record LineSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    /// <summary>A CSS colour; null lets plotly pick one.</summary>
    public string? Color { get; init; }

    /// <summary>Drawn dashed (e.g. a second sweep laid over the first).</summary>
    public bool Dashed { get; init; }

    /// <summary>Lines with the same group are shown, hidden and isolated together from the legend.</summary>
    public string? Group { get; init; }

    /// <summary>A plotly hover template (<c>%{x}</c>, <c>%{y}</c>, <c>%{text}</c>); null shows plotly's default.</summary>
    public string? HoverTemplate { get; init; }

    /// <summary>A text per point (as many as <see cref="X"/>), shown where the hover template says <c>%{text}</c>; null: none.</summary>
    public IReadOnlyList<string>? Text { get; init; }

    /// <summary>Markers only, no line between them (e.g. chosen levels on curves, or measured plans on a scatter).</summary>
    public bool MarkersOnly { get; init; }

    /// <summary>Marker diameter in pixels; null: plotly's (or 5 for a coloured line).</summary>
    public int? MarkerSize { get; init; }

    /// <summary>Listed in the legend (true unless a line only decorates another one).</summary>
    public bool ShowLegend { get; init; } = true;

    public static LineSeries Empty(string name) => new(name, [], []);
}
