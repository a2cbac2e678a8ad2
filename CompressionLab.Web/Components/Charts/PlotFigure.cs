using Plotly.Blazor;

namespace CompressionLab.Web.Components.Charts;

/// <summary>
/// A whole figure for <c>FigureChart</c>: its traces, and what to set on the chart's own layout object (PlotlyChart
/// keeps that instance, so a figure sets every layout property it uses rather than handing over a new layout).
/// </summary>
public sealed record PlotFigure(IReadOnlyList<ITrace> Traces, Action<Plotly.Blazor.Layout> Layout);
