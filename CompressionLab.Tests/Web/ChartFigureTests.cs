using CompressionLab.Web.Components.Charts;
using Plotly.Blazor.Traces;

namespace CompressionLab.Tests.Web;

public class ChartFigureTests : DashboardTestContext
{
    [Fact]
    public void HeatmapRejectsRaggedRowsNamingTheRow()
    {
        IReadOnlyList<IReadOnlyList<double>> ragged = [[1, 2, 3], [4, 5]];

        var error = Assert.Throws<ArgumentException>(() => Render<HeatmapChart>(p => p.Add(c => c.Z, ragged)));

        Assert.Contains("row 1 has 2 values", error.Message);
    }

    [Fact]
    public void HeatmapRejectsLabelsThatDoNotMatchTheMatrix()
    {
        IReadOnlyList<IReadOnlyList<double>> z = [[1, 2], [3, 4]];

        var error = Assert.Throws<ArgumentException>(() => Render<HeatmapChart>(p => p
            .Add(c => c.Z, z)
            .Add(c => c.XLabels, ["a", "b", "c"])));

        Assert.Contains("2 columns but 3 x labels", error.Message);
    }

    [Fact]
    public void HeatmapTraceCarriesTheMatrixLabelsAndCellText()
    {
        var trace = ChartFigures.Heatmap([[5, 1], [2, 7]], ["cat", "dog"], ["cat", "dog"], "%{z}", "Blues");

        Assert.Equal([5.0, 1.0], ((IEnumerable<object>)trace.Z[0]).Cast<double>());
        Assert.Equal([2.0, 7.0], ((IEnumerable<object>)trace.Z[1]).Cast<double>());
        Assert.Equal(["cat", "dog"], trace.X.Cast<string>());
        Assert.Equal("%{z}", trace.TextTemplate);
    }

    [Fact]
    public void AnEmptyLineStillHasListsToExtend()
    {
        Scatter line = ChartFigures.Line(LineSeries.Empty("loss"));

        Assert.NotNull(line.X);
        Assert.NotNull(line.Y);
        Assert.Empty(line.X);
    }

    [Fact]
    public async Task AppendingPointsOfUnequalLengthIsRejected()
    {
        var chart = Render<LineChart>(p => p.Add(c => c.Series, [LineSeries.Empty("accuracy")]));

        var error = await Assert.ThrowsAsync<ArgumentException>(() => chart.InvokeAsync(() => chart.Instance.AppendAsync(0, [1, 2], [0.5])));

        Assert.Contains("2 x values but 1 y values", error.Message);
    }
}
