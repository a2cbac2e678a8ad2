using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Reports;
using static CompressionLab.Tests.Reports.ReportTestData;

namespace CompressionLab.Tests.Reports;

/// <summary>The HTML report of hand-built records: structure, numbers, escaping, no external resources, chart geometry.</summary>
public sealed class ReportHtmlTests
{
    private static IDocument Parse(string html) =>
        // Strict mode throws on any parse error (an unclosed tag, a stray '<' in text, a bad attribute).
        new HtmlParser(new HtmlParserOptions { IsStrictMode = true }).ParseDocument(html);

    [Fact]
    public void FullReportParsesStrictlyWithEverySectionAndItsCharts()
    {
        var report = Full();
        var document = Parse(ReportHtml.Write(report));

        Assert.Equal(ReportSections.All, report.Sections);
        Assert.Empty(report.Gaps);
        foreach (var section in ReportSections.All) Assert.NotNull(document.GetElementById(section));
        Assert.Empty(document.QuerySelectorAll(".gap"));
        Assert.Equal(2, document.QuerySelectorAll("#sensitivity svg.chart").Length); // all of the curves, and zoomed to the top
        Assert.Equal(2, document.QuerySelectorAll("#plan svg.chart").Length);
        Assert.Equal(3, document.QuerySelectorAll("#soft-targets svg.chart").Length);
        Assert.Equal(3, document.QuerySelectorAll("#calibration svg.chart").Length); // one histogram per layer
        Assert.Equal(4, document.QuerySelectorAll("#soft-targets svg rect:not(.frame)").Length); // the heatmap: 2 × 2 classes
    }

    [Fact]
    public void EverySectionShowsItsNumbers()
    {
        var text = Parse(ReportHtml.Write(Full())).Body!.TextContent;

        // Model.
        Assert.Contains(Hash, text);
        Assert.Contains("87.65 %", text);
        Assert.Contains("12,345", text);
        // Sensitivity: baseline and the table's points; the largest level within 1 point (fc2: 25 %, the hostile layer: 0 %).
        Assert.Contains("Dense top-1 90.00 %", text);
        Assert.Contains("80.00 %", text);
        Assert.Contains("50.00 %", text);
        Assert.Contains("85.00 %", text);
        // Plan: sparsity 1 − 600/1000, parameters, MACs, predicted and measured top-1, the hostile layer's drop.
        Assert.Contains("40.00 %", text);
        Assert.Contains("610", text);
        Assert.Contains("3,000", text);
        Assert.Contains("61.25 %", text);
        Assert.Contains("93.75 %", text);
        Assert.Contains("+40.00 pt", text);
        Assert.Contains("400 / 800", text);
        // Soft targets: per-T entropies, KL, KL·T², agreement.
        Assert.Contains("0.6543", text);
        Assert.Contains("0.6321", text);
        Assert.Contains("0.01234", text);
        Assert.Contains("0.1974", text);
        Assert.Contains("75.00 %", text);
        // Calibration: INT8 and float top-1 with their difference, every layer's threshold.
        Assert.Contains("86.42 %", text);
        Assert.Contains("−1.23 pt", text);
        var calibration = Calibration();
        foreach (var layer in calibration.Layers)
            Assert.Contains(ReportHtml.Number(layer.Thresholds.Input!.Amax, "0.0000"), text);
    }

    [Fact]
    public void HostileNamesComeOutAsText()
    {
        var html = ReportHtml.Write(Full());
        var document = Parse(html);

        Assert.Empty(document.QuerySelectorAll("script"));
        Assert.Empty(document.QuerySelectorAll("img"));
        Assert.Empty(document.QuerySelectorAll("b"));
        Assert.All(document.All, e => Assert.DoesNotContain(e.Attributes, a => a.Name.StartsWith("on", StringComparison.OrdinalIgnoreCase)));
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;", html);

        // Read back as text, each name is what the file said.
        Assert.Contains(HostileModel, document.Title);
        Assert.Contains(HostileModel, document.QuerySelector("#model table")!.TextContent);
        Assert.Contains(HostileLayer, document.QuerySelector("#plan details table tbody")!.TextContent);
        Assert.Contains(document.QuerySelectorAll("#soft-targets svg text title"), t => t.TextContent == HostileClass);
        Assert.Contains(document.QuerySelectorAll("#sensitivity g.series"), g => g.GetAttribute("data-series") == HostileLayer);
    }

    [Fact]
    public void NothingIsFetched()
    {
        var html = ReportHtml.Write(Full());
        var document = Parse(html);

        Assert.DoesNotContain("http://", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https://", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
        foreach (var element in document.All)
        {
            Assert.Null(element.GetAttribute("src"));
            if (element.GetAttribute("href") is { } href) Assert.StartsWith("#", href);
        }
        Assert.Empty(document.QuerySelectorAll("link, iframe, object, embed, script"));
        var policy = document.QuerySelector("meta[http-equiv='Content-Security-Policy']")!.GetAttribute("content");
        Assert.StartsWith("default-src 'none'", policy);
    }

    [Fact]
    public void SensitivityPolylineIsTheCurveInPixels()
    {
        var document = Parse(ReportHtml.Write(Full()));

        // Top-1 spans [0.5, 0.9], so y runs over exactly that range; x over levels [0, 1]. Plot area: x 60..440, y 20..260.
        // (0, 0.9) → (60, 20); (0.25, 0.8) → (60 + 95, 20 + 240·(1 − 0.3/0.4)) = (155, 80); (0.5, 0.5) → (250, 260).
        var charts = document.QuerySelectorAll("#sensitivity svg.chart");
        var hostile = charts[0].QuerySelectorAll("g.series").Single(g => g.GetAttribute("data-series") == HostileLayer);
        Assert.Equal("60,20 155,80 250,260", hostile.QuerySelector("polyline")!.GetAttribute("points"));
        // fc2: (0, 0.9), (0.25, 0.9) → (155, 20), (0.5, 0.85) → (250, 20 + 240·(1 − 0.35/0.4)) = (250, 50).
        var flat = charts[0].QuerySelectorAll("g.series").Single(g => g.GetAttribute("data-series") == "fc2");
        Assert.Equal("60,20 155,20 250,50", flat.QuerySelector("polyline")!.GetAttribute("points"));
        Assert.Equal(3, flat.QuerySelectorAll("circle").Length);

        // The plan prunes the hostile layer to 50 %: a diamond on its curve at (250, 260); fc2 is excluded, so none.
        var mark = Assert.Single(charts[0].QuerySelectorAll("path.plan-mark"));
        Assert.Equal(HostileLayer, mark.GetAttribute("data-series"));
        Assert.Equal("translate(250 260)", mark.GetAttribute("transform"));

        // Zoomed: y from 0.85 (dense 0.9 less 5 points) to 0.91 (the best point 0.9, rounded up past it).
        // fc2: 0.9 → 20 + 240·(1 − 0.05/0.06) = 60; 0.85 → 260.
        var zoomed = charts[1].QuerySelectorAll("g.series").Single(g => g.GetAttribute("data-series") == "fc2");
        Assert.Equal("60,60 155,60 250,260", zoomed.QuerySelector("polyline")!.GetAttribute("points"));
        // Lines and marks are inside the nested viewport that clips them to the plot area.
        Assert.All(charts[1].QuerySelectorAll("g.series, path.plan-mark"), e => Assert.Equal("plot", e.ParentElement!.GetAttribute("class")));
    }

    [Fact]
    public void ALegendWithMoreLayersThanRowsSaysHowManyItLeftOut()
    {
        var curves = Enumerable.Range(0, 20)
            .Select(i => Core.Pruning.SensitivityCurve.Create($"layer{i}", Core.Pruning.PruningMethod.Element, 0.9, [new(0.5, 0.8)]))
            .ToList();
        var document = Parse("<!DOCTYPE html><html><head><title>t</title></head><body>" + ReportHtml.SensitivityChart(curves, Core.Pruning.PruningMethod.Element) + "</body></html>");

        // 17 rows from y 26 to 282 of the 300-high box: 16 layers and the note about the 4 others.
        Assert.Equal(16, document.QuerySelectorAll("g.legend line").Length);
        Assert.Equal("… 4 more (see the table)", document.QuerySelectorAll("g.legend text").Last().TextContent);
        Assert.Equal(20, document.QuerySelectorAll("g.series").Length);
    }

    [Fact]
    public void TemperaturePolylinesAreThePointsInPixels()
    {
        var document = Parse(ReportHtml.Write(Full()));

        // KL chart: x ticks 0..4 (step 1), y from 0 to 1.08 × the largest value (KL·T² 0.19744 → 0.2132352).
        var kl = document.QuerySelectorAll("#soft-targets g.series").First(g => g.GetAttribute("data-series") == "KL");
        var top = 0.19744 * 1.08;
        string Y(double v) => SvgPlot.Coordinate(20 + ((1 - (v / top)) * 240));
        Assert.Equal($"155,{Y(0.05432)} 440,{Y(0.01234)}", kl.QuerySelector("polyline")!.GetAttribute("points"));
    }

    [Fact]
    public void MissingSectionsAreGapsWithWhatToDo()
    {
        var report = new CompressionReport(Model, Created, "1.2.3")
        {
            Plan = Plan(),
            GapReasons = new Dictionary<string, string> { [ReportSections.Sensitivity] = "No sweep of <these> weights." },
        };
        var document = Parse(ReportHtml.Write(report));

        Assert.Equal([ReportSections.Model, ReportSections.Plan], report.Sections);
        Assert.Equal([ReportSections.Sensitivity, ReportSections.SoftTargets, ReportSections.Calibration], report.Gaps.Select(g => g.Section));
        Assert.Equal("No sweep of <these> weights.", document.QuerySelector("#sensitivity .gap")!.TextContent);
        Assert.StartsWith("No calibration yet", document.QuerySelector("#calibration .gap")!.TextContent);
        Assert.Equal("compressionlab calibrate", document.QuerySelector("#calibration .gap code")!.TextContent);
        Assert.StartsWith("No soft-target comparison yet", document.QuerySelector("#soft-targets .gap")!.TextContent);
        Assert.Empty(document.QuerySelectorAll("#calibration svg, #sensitivity svg, #soft-targets svg"));
        Assert.Null(document.QuerySelector("#plan .gap"));
    }

    [Fact]
    public void HistogramsAreCutToDisplayBarsAndTheReportStaysSmall()
    {
        var section = Calibration();
        var profile = Web.SeededCalibration.Profile(Hash);
        for (var i = 0; i < section.Layers.Count; i++)
        {
            Assert.InRange(section.Layers[i].Bars.Counts.Count, 1, CalibrationSection.DisplayBars);
            // Summed, not resampled: every value counted is in a bar (|x| histograms: no layer here is asymmetric).
            Assert.False(section.Layers[i].Signed);
            Assert.Equal(profile.Layers[i].Input.Magnitude.Total, section.Layers[i].Bars.Total);
        }
        Assert.Equal(20_004, section.Layers[1].Bars.Total);
        var bytes = Encoding.UTF8.GetByteCount(ReportHtml.Write(Full()));
        Assert.InRange(bytes, 10_000, 150_000);
    }

    [Fact]
    public void HistogramBarsSumWholeGroupsOfBinsUpToTheLastNonEmptyOne()
    {
        // 2048 bins of width 0.5 from 0, values in the first five: used 5, two bars at most → groups of 3: [1+2+3, 4+5].
        var counts = new long[2048];
        (counts[0], counts[1], counts[2], counts[3], counts[4]) = (1, 2, 3, 4, 5);
        var histogram = ActivationHistogram.Restore(HistogramMode.Symmetric, "l", "input", 0, 0.5, counts, 0, 2.4, 0, 2.4);

        var bars = HistogramBars.Of(histogram, 2);

        Assert.Equal([6L, 9L], bars.Counts);
        Assert.Equal(3, bars.Group);
        Assert.Equal(1.5, bars.Width);
        Assert.Equal(3.0, bars.Upper);
        Assert.Equal(0.75, bars.Center(0));
    }

    [Fact]
    public void ThresholdLinesStandWhereTheMethodsClip()
    {
        var section = Calibration();
        var layer = section.Layers[1]; // after a ReLU: unsigned, one amax per method
        var chosen = Assert.Single(layer.Marks, m => m.Chosen);
        Assert.Equal("percentile:99.9", chosen.Method);
        Assert.Equal(layer.Thresholds.Input!.Amax, Assert.Single(chosen.At));
        var max = layer.Marks.Single(m => m.Method == "max");
        Assert.Equal(50, Assert.Single(max.At), 3); // the seeded outlier

        var svg = Parse("<!DOCTYPE html><html><head><title>t</title></head><body>" + ReportHtml.HistogramChart(layer, [.. layer.Marks.Select(m => m.Method)]) + "</body></html>");
        var lines = svg.QuerySelectorAll("line.threshold");
        Assert.Equal(layer.Marks.Count, lines.Length);
        Assert.Single(lines, l => l.GetAttribute("stroke-dasharray") is null);
    }
}
