using System.Globalization;
using System.Text;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Reports;

/// <summary>
/// Writes a <see cref="CompressionReport"/> as one self-contained HTML file: inline CSS, charts as inline SVG drawn here,
/// tables of the numbers, no script and nothing fetched (a Content-Security-Policy of <c>default-src 'none'</c> says so to
/// the browser), so it reads the same offline, attached to a pull request, years later. Every text that comes from a file
/// (model, layer, class, method names) is HTML-escaped. Sections without data say so and how to get it.
/// </summary>
/// <remarks>Accuracies are fractions in the record and percent here (two decimals); sparsity levels in percent.</remarks>
public static class ReportHtml
{
    private const string Css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;margin:0;background:#f6f7f9}
        main{max-width:1240px;margin:0 auto;padding:16px 24px 48px}
        header{border-bottom:2px solid #2a4d8f;margin-bottom:12px}
        h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;color:#2a4d8f}h3{font-size:15px;margin:16px 0 6px}
        nav a{margin-right:14px;color:#2a4d8f}
        section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:4px 16px 14px;margin-top:16px}
        table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
        th,td{border-bottom:1px solid #e5e8ee;padding:3px 10px;text-align:right;vertical-align:top}
        th:first-child,td:first-child{text-align:left}
        th{background:#f0f2f6;font-weight:600}
        td.text,th.text{text-align:left}
        .kv th{text-align:left;background:none;font-weight:600}.kv td{text-align:left}
        .gap{color:#8a5a00;background:#fff7e0;border-left:4px solid #e0a800;padding:6px 10px}
        .note{color:#555;font-size:13px}
        .cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
        .card{border:1px solid #dde1e8;border-radius:6px;padding:6px 12px;min-width:150px;background:#fafbfc}
        .card .value{display:block;font-size:20px;font-weight:700}
        .charts{display:flex;flex-wrap:wrap;gap:12px}
        .charts figure{margin:0;flex:1 1 520px;max-width:600px}
        figcaption{font-size:13px;color:#444;margin:2px 0 6px}
        svg.chart{max-width:100%;height:auto;background:#fff;font-size:11px}
        svg .grid{stroke:#e8eaef;stroke-width:1}svg .frame{fill:none;stroke:#9aa3b2}
        svg text{fill:#333}svg .axis-title{font-size:12px;fill:#222}
        code{background:#f0f2f6;padding:0 3px;border-radius:3px}
        details{margin:6px 0}summary{cursor:pointer;color:#2a4d8f}
        @media print{body{background:#fff}section{break-inside:avoid-page}details{display:block}}
        """;

    /// <summary>The report as HTML text.</summary>
    public static string Write(CompressionReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var html = new StringBuilder(64 * 1024);
        var title = $"Compression report · {report.Model.Name}";
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
        html.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        html.Append("<title>").Append(T(title)).Append("</title><style>").Append(Css).Append("</style></head><body><main>\n");
        html.Append("<header><h1>").Append(T(title)).Append("</h1><p class=\"note\">")
            .Append(T($"Made by CompressionLab {report.ToolVersion} on {report.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC. Accuracies are top-1 on the images named in each section."))
            .Append("</p><nav>");
        foreach (var section in ReportSections.All)
            html.Append("<a href=\"#").Append(section).Append("\">").Append(T(SectionTitle(section))).Append("</a>");
        html.Append("</nav></header>\n");

        WriteModel(html, report);
        Section(html, report, ReportSections.Sensitivity, () => WriteSensitivity(html, report.Sensitivity!, report.Plan));
        Section(html, report, ReportSections.Plan, () => WritePlan(html, report.Plan!));
        Section(html, report, ReportSections.SoftTargets, () => WriteSoftTargets(html, report.SoftTargets!));
        Section(html, report, ReportSections.Calibration, () => WriteCalibration(html, report.Calibration!));
        html.Append("</main></body></html>\n");
        return html.ToString();
    }

    /// <summary>Writes the report to <paramref name="path"/> (beside it first, then renamed: a reader never sees half a file).</summary>
    public static void WriteFile(string path, CompressionReport report)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        AtomicFile.WriteAllText(path, Write(report));
    }

    public static string SectionTitle(string section) => section switch
    {
        ReportSections.Model => "Model",
        ReportSections.Sensitivity => "Sensitivity",
        ReportSections.Plan => "Pruning plan",
        ReportSections.SoftTargets => "Soft targets",
        ReportSections.Calibration => "INT8 calibration",
        _ => section,
    };

    /// <summary>A fraction as percent with two decimals: 0.93456 → "93.46 %".</summary>
    public static string Percent(double fraction) =>
        double.IsFinite(fraction) ? (fraction * 100).ToString("0.00", CultureInfo.InvariantCulture) + " %" : "–";

    /// <summary>A signed difference of fractions in points: −0.0123 → "−1.23 pt".</summary>
    public static string Points(double difference) =>
        (difference * 100).ToString("+0.00;−0.00;0.00", CultureInfo.InvariantCulture) + " pt";

    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Number(double value, string format = "G4") =>
        double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : value > 0 ? "∞" : double.IsNaN(value) ? "–" : "−∞";

    private static string T(string text) => SvgPlot.Text(text);

    /// <summary>Escaped text with `command` spans set as code (after escaping, so a span cannot carry markup).</summary>
    private static string WithCode(string text) =>
        System.Text.RegularExpressions.Regex.Replace(T(text), "`([^`]+)`", "<code>$1</code>");

    private static void Section(StringBuilder html, CompressionReport report, string key, Action write)
    {
        html.Append("<section id=\"").Append(key).Append("\"><h2>").Append(T(SectionTitle(key))).Append("</h2>\n");
        if (report.Gap(key) is { } gap) html.Append("<p class=\"gap\">").Append(WithCode(gap.Message)).Append("</p>\n");
        else write();
        html.Append("</section>\n");
    }

    private static void WriteModel(StringBuilder html, CompressionReport report)
    {
        var m = report.Model;
        html.Append("<section id=\"model\"><h2>Model</h2>");
        Cards(html, report);
        html.Append("<table class=\"kv\">");
        Row(html, "Name", m.Name);
        Row(html, "Architecture", m.Architecture);
        Row(html, "Weights hash (SHA-256)", m.WeightsHash);
        Row(html, "Measured on", m.Dataset);
        if (m.TrainedOn is { } trained) Row(html, "Trained on", trained);
        if (m.RecordedTop1 is { } top1) Row(html, "Test top-1 recorded at training", Percent(top1));
        if (m.Parameters is { } parameters) Row(html, "Parameters", Count(parameters));
        if (m.Lineage is { } lineage) Row(html, "Made from", lineage);
        html.Append("</table>");
        if (report.Gaps.Count > 0)
        {
            html.Append("<p class=\"note\">Not in this report: ")
                .Append(T(string.Join(", ", report.Gaps.Select(g => SectionTitle(g.Section)))))
                .Append(" (each section says how to get it).</p>");
        }
        html.Append("</section>\n");
    }

    /// <summary>The headline numbers a reviewer looks for first.</summary>
    private static void Cards(StringBuilder html, CompressionReport report)
    {
        var cards = new List<(string Label, string Value)>();
        if (report.Sensitivity is { } s) cards.Add(("dense top-1 (sweep images)", Percent(s.Curves.BaselineTop1)));
        if (report.Plan is { } plan)
        {
            cards.Add(("plan sparsity", Percent(plan.Pruned.Sparsity)));
            if (plan.Prediction is { } prediction) cards.Add(("plan top-1 predicted", Percent(prediction.PredictedTop1)));
            if (plan.Measured is { } measured) cards.Add(("plan top-1 measured", Percent(measured.Top1)));
            cards.Add(("parameters kept", $"{Count(plan.Pruned.Network.Parameters)} of {Count(plan.Dense.Network.Parameters)}"));
        }
        if (report.SoftTargets is { } soft) cards.Add(("teacher–student agreement", Percent(soft.Points[0].Agreement)));
        if (report.Calibration is { } calibration)
            foreach (var result in calibration.Results.Take(2))
                cards.Add(($"INT8 top-1 ({result.Configuration})", Percent(result.Top1)));
        if (cards.Count == 0) return;
        html.Append("<div class=\"cards\">");
        foreach (var (label, value) in cards)
            html.Append("<div class=\"card\"><span class=\"value\">").Append(T(value)).Append("</span>").Append(T(label)).Append("</div>");
        html.Append("</div>");
    }

    private static void Row(StringBuilder html, string label, string value) =>
        html.Append("<tr><th>").Append(T(label)).Append("</th><td>").Append(T(value)).Append("</td></tr>");

    private static void Table(StringBuilder html, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, int textColumns = 1)
    {
        html.Append("<table><thead><tr>");
        for (var i = 0; i < headers.Count; i++)
            html.Append(i < textColumns ? "<th class=\"text\">" : "<th>").Append(T(headers[i])).Append("</th>");
        html.Append("</tr></thead><tbody>");
        foreach (var row in rows)
        {
            html.Append("<tr>");
            for (var i = 0; i < row.Count; i++)
                html.Append(i < textColumns ? "<td class=\"text\">" : "<td>").Append(T(row[i])).Append("</td>");
            html.Append("</tr>");
        }
        html.Append("</tbody></table>");
    }

    private static void Figure(StringBuilder html, string svg, string caption) =>
        html.Append("<figure>").Append(svg).Append("<figcaption>").Append(T(caption)).Append("</figcaption></figure>");

    // ---- Sensitivity ----

    private static void WriteSensitivity(StringBuilder html, SensitivitySection section, PlanSection? plan)
    {
        var curves = section.Curves;
        var id = curves.Identity;
        html.Append("<p>").Append(T(
            $"Each layer pruned alone, the rest dense; top-1 on {(section.SubsetSize is { } n ? Count(n) + " " : "")}images {id.Subset} of {id.Dataset} (batch {id.BatchSize}). Dense top-1 {Percent(curves.BaselineTop1)}."))
            .Append("</p><div class=\"charts\">");
        var methods = curves.Curves.Select(c => c.Method).Distinct().ToList();
        foreach (var method in methods)
        {
            var ofMethod = curves.Curves.Where(c => c.Method == method).ToList();
            var marked = plan is not null && plan.Plan.Layers.Any(l => !l.Excluded && l.Level > 0 && l.Method == method);
            Figure(html, SensitivityChart(ofMethod, method, plan?.Plan),
                $"Top-1 against sparsity, {method.Key} pruning, one line per layer.{(marked ? " Diamonds: the plan's level of each layer, on its curve (interpolated)." : "")}");
            Figure(html, SensitivityChart(ofMethod, method, plan?.Plan, zoom: true),
                $"The same, zoomed to within {(ZoomPoints * 100).ToString("0", CultureInfo.InvariantCulture)} points of the dense top-1, where a plan's levels lie.");
        }
        html.Append("</div>");
        foreach (var method in methods)
        {
            var ofMethod = curves.Curves.Where(c => c.Method == method).ToList();
            var levels = ofMethod.SelectMany(c => c.Points.Select(p => p.Level)).Distinct().Order().ToList();
            html.Append("<details><summary>").Append(T($"Table: top-1 per layer and level ({method.Key})")).Append("</summary>");
            Table(html,
                ["layer", .. levels.Select(l => SweepLevels.FormatPercent(l) + " %"), "largest level within 1 pt"],
                ofMethod.Select(c => (IReadOnlyList<string>)
                [
                    c.Layer,
                    .. levels.Select(l => c.Points.Where(p => p.Level == l).Select(p => Percent(p.Top1)).FirstOrDefault() ?? "–"),
                    SweepLevels.FormatPercent(c.LargestLevelWithin(0.01)) + " %",
                ]));
            html.Append("</details>");
        }
    }

    /// <summary>
    /// Top-1 (percent) against level (0 to 100 %), one line per layer. The y axis spans whole tens of percent around the
    /// data (floor and ceiling of min and max top-1 to 0.1), so small drops stay visible and the axis stays round.
    /// </summary>
    /// <param name="plan">When given, each layer the plan prunes by <paramref name="method"/> gets a diamond at its level on its curve.</param>
    /// <param name="zoom">
    /// Draw the top of the chart only: y from <see cref="ZoomPoints"/> below the dense top-1 (whole points) to just above the
    /// best point, where the levels a plan picks lie; lines leaving it are clipped by a nested &lt;svg&gt; viewport.
    /// </param>
    public static string SensitivityChart(IReadOnlyList<SensitivityCurve> curves, PruningMethod method, ResolvedPlan? plan = null, bool zoom = false)
    {
        ArgumentNullException.ThrowIfNull(curves);
        var plot = zoom ? ZoomedSensitivityPlot(curves) : SensitivityPlot(curves);
        var svg = new StringBuilder();
        SvgPlot.Open(svg, SvgPlot.Width, SvgPlot.Height, zoom ? $"Sensitivity ({method.Key}), within {(ZoomPoints * 100).ToString("0", CultureInfo.InvariantCulture)} points of dense" : $"Sensitivity ({method.Key})");
        var decimals = zoom ? "0.#" : "0";
        plot.Axes(svg, "sparsity of the layer", "top-1", t => (t * 100).ToString("0", CultureInfo.InvariantCulture) + "%",
            t => (t * 100).ToString(decimals, CultureInfo.InvariantCulture) + "%");
        // A nested viewport over the plot area clips what leaves it (no clipPath: it would need a url(#id) reference).
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg class=\"plot\" x=\"{SvgPlot.Coordinate(SvgPlot.Left)}\" y=\"{SvgPlot.Coordinate(SvgPlot.Top - 6)}\" width=\"{SvgPlot.Coordinate(SvgPlot.PlotWidth + 6)}\" height=\"{SvgPlot.Coordinate(SvgPlot.PlotHeight + 12)}\" viewBox=\"{SvgPlot.Coordinate(SvgPlot.Left)} {SvgPlot.Coordinate(SvgPlot.Top - 6)} {SvgPlot.Coordinate(SvgPlot.PlotWidth + 6)} {SvgPlot.Coordinate(SvgPlot.PlotHeight + 12)}\" overflow=\"hidden\">");
        var series = curves.Select((c, i) => new ChartSeries(c.Layer, SvgPlot.Palette[i % SvgPlot.Palette.Count],
            [.. c.Points.Select(p => (p.Level, p.Top1))], Dashed: i >= SvgPlot.Palette.Count,
            [.. c.Points.Select(p => $"{c.Layer} at {SweepLevels.FormatPercent(p.Level)} %: top-1 {Percent(p.Top1)}")])).ToList();
        plot.Lines(svg, series);
        for (var i = 0; i < curves.Count && plan is not null; i++)
        {
            var curve = curves[i];
            if (plan.Layers.FirstOrDefault(l => l.Layer == curve.Layer) is not { Excluded: false, Level: > 0 } planned || planned.Method != method) continue;
            var top1 = curve.BaselineTop1 - curve.DropAt(planned.Level);
            var (x, y) = (SvgPlot.Coordinate(plot.X(planned.Level)), SvgPlot.Coordinate(plot.Y(top1)));
            var note = curve.Covers(planned.Level) ? "" : " (beyond the measured levels: the highest level's top-1)";
            svg.Append(CultureInfo.InvariantCulture,
                $"<path class=\"plan-mark\" data-series=\"{T(curve.Layer)}\" transform=\"translate({x} {y})\" d=\"M0 -6L6 0L0 6L-6 0Z\" fill=\"#fff\" stroke=\"{series[i].Colour}\" stroke-width=\"2\"><title>{T($"{curve.Layer}: the plan's level {SweepLevels.FormatPercent(planned.Level)} %, top-1 {Percent(top1)} on the curve{note}")}</title></path>");
        }
        svg.Append("</svg>");
        SvgPlot.Legend(svg, series.Select(s => (s.Name, s.Colour, s.Dashed)));
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>How far below the dense top-1 the zoomed chart reaches (a fraction: 5 points).</summary>
    public const double ZoomPoints = 0.05;

    /// <summary>The zoomed frame: y from the dense top-1 less <see cref="ZoomPoints"/>, floored to a whole point, to the best point rounded up to one.</summary>
    public static SvgPlot ZoomedSensitivityPlot(IReadOnlyList<SensitivityCurve> curves)
    {
        ArgumentNullException.ThrowIfNull(curves);
        var baseline = curves.Select(c => c.BaselineTop1).DefaultIfEmpty(1).Max();
        var best = curves.SelectMany(c => c.Points.Select(p => p.Top1)).DefaultIfEmpty(baseline).Max();
        var low = Math.Max(0, Math.Floor(((baseline - ZoomPoints) * 100) + 1e-9) / 100);
        var high = Math.Min(1, Math.Ceiling((best * 100) - 1e-9) / 100);
        if (high <= best) high = Math.Min(1, high + 0.01);
        return new SvgPlot(0, 1, low, Math.Max(high, low + 0.01));
    }

    /// <summary>The frame of <see cref="SensitivityChart"/>: x over [0, 1], y over the data's tenths.</summary>
    public static SvgPlot SensitivityPlot(IReadOnlyList<SensitivityCurve> curves)
    {
        ArgumentNullException.ThrowIfNull(curves);
        var values = curves.SelectMany(c => c.Points.Select(p => p.Top1)).DefaultIfEmpty(0).ToList();
        var low = Math.Max(0, Math.Floor((values.Min() * 10) + 1e-9) / 10);
        var high = Math.Min(1, Math.Ceiling((values.Max() * 10) - 1e-9) / 10);
        if (high <= low) (low, high) = (Math.Max(0, high - 0.1), Math.Max(0.1, high));
        return new SvgPlot(0, 1, low, high);
    }

    // ---- Plan ----

    private static void WritePlan(StringBuilder html, PlanSection plan)
    {
        html.Append("<p>").Append(T($"Plan from {plan.Source}.")).Append("</p>");
        var rows = new List<IReadOnlyList<string>>
        {
            new[] { "weight sparsity (conv and linear)", Percent(plan.Dense.Sparsity), Percent(plan.Pruned.Sparsity) },
            new[] { "parameters", Count(plan.Dense.Network.Parameters), Count(plan.Pruned.Network.Parameters) },
            new[] { "MACs per image", Count(plan.Dense.Network.MacsPerSample), Count(plan.Pruned.Network.MacsPerSample) },
            new[] { "size, float32 dense", Bytes(plan.Dense.Bytes.DenseFloat32), Bytes(plan.Pruned.Bytes.DenseFloat32) },
            new[] { "size, float32 CSR", Bytes(plan.Dense.Bytes.CsrFloat32), Bytes(plan.Pruned.Bytes.CsrFloat32) },
            new[] { "size, int8 dense", Bytes(plan.Dense.Bytes.DenseInt8), Bytes(plan.Pruned.Bytes.DenseInt8) },
        };
        if (plan.Prediction is { } prediction)
        {
            rows.Add(["top-1 predicted from the curves", Percent(prediction.BaselineTop1), Percent(prediction.PredictedTop1)]);
        }
        if (plan.Measured is { } measured)
        {
            rows.Add(["top-1 measured", plan.Prediction is { } p ? Percent(p.BaselineTop1) : "", Percent(measured.Top1)]);
            rows.Add(["top-5 measured", "", Percent(measured.Top5)]);
        }
        Table(html, ["", "dense", "with the plan"], rows);
        var notes = new List<string>();
        if (plan.Measured is { } m) notes.Add($"Measured on {Count(m.Samples)} images{(plan.Subset is { } subset ? $" ({subset})" : "")}.");
        else notes.Add("Not measured: the plan was not evaluated (plan evaluate).");
        if (plan.Prediction is null) notes.Add("No prediction: no sweep of these weights on these images.");
        else if (!plan.Prediction.IsComplete)
            notes.Add($"The prediction leaves out layers without a curve for their method: {string.Join(", ", plan.Prediction.LayersWithoutCurve)}.");
        html.Append("<p class=\"note\">").Append(T(string.Join(" ", notes))).Append("</p><div class=\"charts\">");
        Figure(html, PlanLevelChart(plan), "Level per layer (filter methods remove whole filters; excluded layers stay dense).");
        Figure(html, PlanWeightsChart(plan), "Weights per layer: dense (light) and kept under the plan (dark).");
        html.Append("</div><details><summary>Table: the plan per layer</summary>");
        var weights = plan.Pruned.Layers.ToDictionary(l => l.Layer);
        var predicted = plan.Prediction?.Layers.ToDictionary(l => l.Layer);
        Table(html, ["layer", "stage", "method", "level", "source", "weights dense", "weights kept", "sparsity", "predicted drop"],
            plan.Plan.Layers.Select(l => (IReadOnlyList<string>)
            [
                l.Layer, l.Stage, l.Excluded ? "–" : l.Method.Key, SweepLevels.FormatPercent(l.Level) + " %",
                l.Excluded ? $"excluded: {l.ExclusionReason}" : l.Source.ToString().ToLowerInvariant(),
                weights.TryGetValue(l.Layer, out var w) ? Count(w.DenseWeights) : "",
                w is null ? "" : Count(w.KeptWeights),
                w is null ? "" : Percent(w.Sparsity),
                predicted?.GetValueOrDefault(l.Layer) is { } lp ? lp.PredictedDrop is { } d ? Points(d) + (lp.BeyondCurve ? " (beyond curve)" : "") : "no curve" : "",
            ]), textColumns: 3);
        html.Append("</details>");
    }

    private static string Bytes(long bytes) =>
        bytes >= 1 << 20 ? (bytes / 1048576.0).ToString("0.00", CultureInfo.InvariantCulture) + " MiB"
        : (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB";

    private const double BarLabelWidth = 150;
    private const double BarAreaWidth = 330;
    private const double BarRow = 20;
    private const double BarTop = 26;

    /// <summary>Horizontal bars, one row per layer: layer names never overlap, however many there are.</summary>
    private static string HorizontalBars(string title, IReadOnlyList<(string Label, double Back, double Front, string Value, string Colour)> rows, double max,
        Func<double, string> tick)
    {
        var height = BarTop + (rows.Count * BarRow) + 12;
        var width = BarLabelWidth + BarAreaWidth + 120;
        var svg = new StringBuilder();
        SvgPlot.Open(svg, width, height, title);
        double X(double v) => BarLabelWidth + (max > 0 ? v / max * BarAreaWidth : 0);
        var c = SvgPlot.Coordinate;
        foreach (var t in SvgPlot.NiceTicks(0, max, 5))
        {
            svg.Append(CultureInfo.InvariantCulture, $"<line class=\"grid\" x1=\"{c(X(t))}\" y1=\"{c(BarTop - 4)}\" x2=\"{c(X(t))}\" y2=\"{c(height - 10)}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{c(X(t))}\" y=\"{c(BarTop - 10)}\" text-anchor=\"middle\">{T(tick(t))}</text>");
        }
        for (var i = 0; i < rows.Count; i++)
        {
            var (label, back, front, value, colour) = rows[i];
            var y = BarTop + (i * BarRow);
            svg.Append(CultureInfo.InvariantCulture,
                $"<text x=\"{c(BarLabelWidth - 6)}\" y=\"{c(y + (BarRow / 2))}\" dy=\"0.32em\" text-anchor=\"end\"><title>{T(label)}</title>{T(SvgPlot.Cut(label, 22))}</text>");
            if (back > 0)
                svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{c(X(0))}\" y=\"{c(y + 3)}\" width=\"{c(X(back) - X(0))}\" height=\"{c(BarRow - 6)}\" fill=\"#c9d6ee\"/>");
            if (front > 0)
                svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{c(X(0))}\" y=\"{c(y + 3)}\" width=\"{c(X(front) - X(0))}\" height=\"{c(BarRow - 6)}\" fill=\"{T(colour)}\"><title>{T(label + ": " + value)}</title></rect>");
            svg.Append(CultureInfo.InvariantCulture,
                $"<text x=\"{c(X(Math.Max(back, front)) + 6)}\" y=\"{c(y + (BarRow / 2))}\" dy=\"0.32em\">{T(value)}</text>");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    public static string PlanLevelChart(PlanSection plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var rows = plan.Plan.Layers.Select(l => (l.Layer, 0.0, l.Level,
            l.Excluded ? "excluded" : $"{SweepLevels.FormatPercent(l.Level)} % {l.Method.Key}",
            l.Method.Criterion == PruningCriterion.Filter ? "#d62728" : "#1f77b4")).ToList();
        return HorizontalBars("Plan level per layer", rows, 1, t => (t * 100).ToString("0", CultureInfo.InvariantCulture) + "%");
    }

    public static string PlanWeightsChart(PlanSection plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var rows = plan.Pruned.Layers.Select(l => (l.Layer, (double)l.DenseWeights, (double)l.KeptWeights,
            $"{Count(l.KeptWeights)} / {Count(l.DenseWeights)}", "#2a4d8f")).ToList();
        var max = rows.Select(r => r.Item2).DefaultIfEmpty(1).Max();
        return HorizontalBars("Weights per layer, dense and kept", rows, max, t => t >= 1e6
            ? (t / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "M"
            : t >= 1e3 ? (t / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k" : t.ToString("0", CultureInfo.InvariantCulture));
    }

    // ---- Soft targets ----

    private static void WriteSoftTargets(StringBuilder html, SoftTargetSection section)
    {
        var teachers = string.Join(" + ", section.Teachers);
        html.Append("<p>").Append(T(
            $"Teacher {teachers}{(section.Teachers.Count > 1 ? " (ensemble: soft targets averaged)" : "")} against student {section.Student} on {Count(section.Images)} images ({section.Subset}). " +
            $"Top-1 agreement {Percent(section.Points[0].Agreement)} at T = {Number(section.Points[0].Temperature)}."))
            .Append("</p><div class=\"charts\">");
        var points = section.Points.OrderBy(p => p.Temperature).ToList();
        Figure(html, TemperatureChart("KL(teacher ‖ student) against T", "nats",
            [
                new ChartSeries("KL", SvgPlot.Palette[0], [.. points.Select(p => (p.Temperature, p.Kl))]),
                new ChartSeries("KL·T²", SvgPlot.Palette[1], [.. points.Select(p => (p.Temperature, p.KlT2))], Dashed: true),
            ]), "Mean KL divergence of the student's soft targets from the teacher's; KL·T² is the soft term of Hinton's loss on the hard term's scale.");
        Figure(html, TemperatureChart("Entropy of the soft targets against T", "nats",
            [
                new ChartSeries("teacher", SvgPlot.Palette[2], [.. points.Select(p => (p.Temperature, p.TeacherEntropy))]),
                new ChartSeries("student", SvgPlot.Palette[4], [.. points.Select(p => (p.Temperature, p.StudentEntropy))]),
            ]), $"Mean entropy (the maximum for {section.ClassNames.Count} classes is ln {section.ClassNames.Count} = {Number(Math.Log(Math.Max(1, section.ClassNames.Count)), "0.###")} nats).");
        Figure(html, SimilarityHeatmap(section), $"Class similarity at T = {Number(section.HeatmapTemperature)}: the teacher's mean soft target (column) over the images of each true class (row); darker is larger (square-root colour scale), each row sums to 1.");
        html.Append("</div><details><summary>Table: the comparison per T</summary>");
        Table(html, ["T", "teacher entropy", "student entropy", "KL", "KL·T²", "agreement"],
            points.Select(p => (IReadOnlyList<string>)
            [
                Number(p.Temperature), Number(p.TeacherEntropy, "0.0000"), Number(p.StudentEntropy, "0.0000"), Number(p.Kl, "0.00000"),
                Number(p.KlT2, "0.0000"), Percent(p.Agreement),
            ]));
        html.Append("</details>");
    }

    /// <summary>A chart over T (x from 0 to the grid's round top) of non-negative values (y from 0).</summary>
    public static string TemperatureChart(string title, string yTitle, IReadOnlyList<ChartSeries> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        var xs = series.SelectMany(s => s.Points.Select(p => p.X)).DefaultIfEmpty(1).ToList();
        var ys = series.SelectMany(s => s.Points.Select(p => p.Y)).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        var xTicks = SvgPlot.NiceTicks(0, Math.Max(1, xs.Max()), 6);
        var xMax = Math.Max(xTicks[^1], xs.Max());
        var yTop = ys.Max() > 0 ? ys.Max() * 1.08 : 1;
        var yTicks = SvgPlot.NiceTicks(0, yTop, 5);
        var plot = new SvgPlot(0, Math.Max(xMax, 1e-9), 0, Math.Max(yTop, yTicks[^1]));
        var svg = new StringBuilder();
        SvgPlot.Open(svg, SvgPlot.Width, SvgPlot.Height, title);
        plot.Axes(svg, "temperature T", yTitle, t => Number(t), t => Number(t, "0.###"));
        plot.Lines(svg, series);
        SvgPlot.Legend(svg, series.Select(s => (s.Name, s.Colour, s.Dashed)));
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>
    /// The class-similarity matrix as coloured cells: white at 0 to dark blue at 1, on a square-root scale so that the
    /// small off-diagonal similarities (the "dark knowledge") show next to a diagonal near 1. Each cell's value is its hover title.
    /// </summary>
    public static string SimilarityHeatmap(SoftTargetSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var matrix = section.HeatmapPoint.ClassSimilarity;
        var n = matrix.Length;
        var cell = Math.Clamp(360.0 / Math.Max(1, n), 6, 32);
        const double left = 110, top = 110;
        var width = left + (n * cell) + 20;
        var height = top + (n * cell) + 20;
        var names = Enumerable.Range(0, n).Select(i => i < section.ClassNames.Count ? section.ClassNames[i] : i.ToString(CultureInfo.InvariantCulture)).ToList();
        var svg = new StringBuilder();
        var c = SvgPlot.Coordinate;
        SvgPlot.Open(svg, width, height, $"Class similarity at T = {Number(section.HeatmapTemperature)}");
        // Labels of every k-th class when cells are smaller than a line of text (datasets with many classes).
        var stride = (int)Math.Ceiling(12 / cell);
        for (var i = 0; i < n; i += stride)
        {
            svg.Append(CultureInfo.InvariantCulture,
                $"<text x=\"{c(left - 6)}\" y=\"{c(top + ((i + 0.5) * cell))}\" dy=\"0.32em\" text-anchor=\"end\"><title>{T(names[i])}</title>{T(SvgPlot.Cut(names[i], 14))}</text>");
            svg.Append(CultureInfo.InvariantCulture,
                $"<text transform=\"translate({c(left + ((i + 0.5) * cell))} {c(top - 6)}) rotate(-60)\" dy=\"0.32em\"><title>{T(names[i])}</title>{T(SvgPlot.Cut(names[i], 14))}</text>");
        }
        for (var row = 0; row < n; row++)
        {
            for (var col = 0; col < n; col++)
            {
                var value = matrix[row][col];
                var shade = Math.Sqrt(Math.Clamp(value, 0, 1));
                var (r, g, b) = ((int)Math.Round(255 - (shade * (255 - 16))), (int)Math.Round(255 - (shade * (255 - 60))), (int)Math.Round(255 - (shade * (255 - 140))));
                svg.Append(CultureInfo.InvariantCulture,
                    $"<rect x=\"{c(left + (col * cell))}\" y=\"{c(top + (row * cell))}\" width=\"{c(cell)}\" height=\"{c(cell)}\" fill=\"rgb({r},{g},{b})\"><title>{T($"{names[row]} → {names[col]}: {Number(value, "0.0000")}")}</title></rect>");
                // Values written in the cells while they fit: a printed or pasted report has no hover.
                if (cell >= 24)
                    svg.Append(CultureInfo.InvariantCulture,
                        $"<text class=\"cell\" x=\"{c(left + ((col + 0.5) * cell))}\" y=\"{c(top + ((row + 0.5) * cell))}\" dy=\"0.32em\" text-anchor=\"middle\" font-size=\"9\" style=\"fill:{(shade > 0.6 ? "#fff" : "#223")}\">{T(value.ToString("0.00", CultureInfo.InvariantCulture))}</text>");
            }
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    // ---- Calibration ----

    private static void WriteCalibration(StringBuilder html, CalibrationSection section)
    {
        var choice = section.Choice;
        html.Append("<p>").Append(T(
            $"Statistics of every conv and linear layer's input on {Count(section.Images)} images ({section.Subset}) of {section.Dataset}. " +
            $"Thresholds shown for {choice.Method.Name}, {choice.Mode.ToString().ToLowerInvariant()} (a non-negative input gets the unsigned grid); weights per output channel, symmetric."))
            .Append("</p>");
        if (!section.MethodWasRun)
            html.Append("<p class=\"note\">").Append(T($"No INT8 accuracy was simulated by this report for {choice.Method.Name}: pass --calibration-method to run it.")).Append("</p>");
        if (section.Results.Count > 0)
        {
            html.Append("<h3>Simulated INT8 accuracy</h3>");
            Table(html, ["configuration", "images", "samples", "float top-1", "INT8 top-1", "difference"],
                section.Results.Select(r => (IReadOnlyList<string>)
                [
                    r.Configuration, r.Images, Count(r.Samples), r.FloatTop1 is { } f ? Percent(f) : "", Percent(r.Top1),
                    r.FloatTop1 is { } g ? Points(r.Top1 - g) : "",
                ]), textColumns: 2);
        }
        else
        {
            html.Append("<p class=\"note\">No simulated INT8 accuracy in the workspace for these weights (run calibrate or quant compare).</p>");
        }
        html.Append("<h3>Input histograms</h3><p class=\"note\">").Append(T(
            $"Counts on a log scale. Display: the 2048 collected bins up to the last non-empty one, summed in equal groups to at most {CalibrationSection.DisplayBars} bars. " +
            $"Lines: each method's clip (solid: {choice.Method.Name}, the one the thresholds use)."))
            .Append("</p><div class=\"charts\">");
        var methods = section.Layers.SelectMany(l => l.Marks.Select(m => m.Method)).Distinct().ToList();
        foreach (var layer in section.Layers)
            Figure(html, HistogramChart(layer, methods), $"{layer.Layer}: {(layer.Signed ? "x" : "|x|")} at the input{(layer.Thresholds.KeptFloat ? " (kept in float)" : "")}.");
        html.Append("</div><details><summary>Table: thresholds per layer</summary>");
        Table(html, ["layer", "method", "grid", "min", "max", "amax", "scale", "zero point", "clipped", "SQNR dB", "weight channels"],
            section.Layers.Select(l => l.Thresholds.Input is { } input
                ? (IReadOnlyList<string>)
                [
                    l.Layer, input.Method, input.Mode.ToString().ToLowerInvariant(), Number(input.Min, "0.0000"), Number(input.Max, "0.0000"),
                    Number(input.Amax, "0.0000"), Number(input.Scale, "0.000000"), input.ZeroPoint.ToString(CultureInfo.InvariantCulture),
                    Percent(input.ClippedFraction), Number(input.SqnrDb, "0.00"), l.Thresholds.WeightGrids.Count.ToString(CultureInfo.InvariantCulture),
                ]
                : [l.Layer, "float", "–", "", "", "", "", "", "", "", ""]), textColumns: 3);
        html.Append("</details>");
    }

    /// <summary>
    /// A layer's input histogram: bars on a log10 count axis from 0.5 (so a bin of one value shows) to the next power of
    /// ten above the tallest bar, drawn as one path; each method's clip a vertical line in its colour (chosen solid).
    /// </summary>
    public static string HistogramChart(LayerHistogram layer, IReadOnlyList<string> methods)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(methods);
        var bars = layer.Bars;
        var svg = new StringBuilder();
        SvgPlot.Open(svg, SvgPlot.Width, SvgPlot.Height, $"Input histogram of {layer.Layer}");
        if (bars.Counts.Count == 0)
        {
            svg.Append("<text x=\"300\" y=\"150\" text-anchor=\"middle\">no values collected</text></svg>");
            return svg.ToString();
        }
        var marks = layer.Marks.SelectMany(m => m.At).Where(double.IsFinite).ToList();
        var xMin = Math.Min(bars.Lower, marks.DefaultIfEmpty(bars.Lower).Min());
        var xMax = Math.Max(bars.Upper, marks.DefaultIfEmpty(bars.Upper).Max());
        var top = Math.Pow(10, Math.Max(1, Math.Ceiling(Math.Log10(Math.Max(1, bars.Counts.Max())) + 1e-9)));
        var plot = new SvgPlot(xMin, xMax, 0.5, top, logY: true);
        var decades = Enumerable.Range(0, (int)Math.Round(Math.Log10(top)) + 1).Select(k => Math.Pow(10, k)).ToList();
        plot.Axes(svg, layer.Signed ? "x" : "|x|", "count", t => Number(t, "G3"),
            t => t >= 1e4 ? "1e" + Math.Round(Math.Log10(t)).ToString(CultureInfo.InvariantCulture) : t.ToString("0", CultureInfo.InvariantCulture), decades);
        var c = SvgPlot.Coordinate;
        var path = new StringBuilder();
        var bottom = c(plot.Y(0.5));
        for (var b = 0; b < bars.Counts.Count; b++)
        {
            if (bars.Counts[b] == 0) continue;
            var x0 = bars.Lower + (b * bars.Width);
            path.Append(CultureInfo.InvariantCulture, $"M{c(plot.X(x0))} {bottom}V{c(plot.Y(bars.Counts[b]))}H{c(plot.X(x0 + bars.Width))}V{bottom}Z");
        }
        svg.Append("<path class=\"bars\" fill=\"#8fa8d8\" stroke=\"#6f8cc4\" stroke-width=\"0.3\" d=\"").Append(path).Append("\"/>");
        foreach (var mark in layer.Marks)
        {
            var colour = MethodColour(methods, mark.Method);
            foreach (var at in mark.At.Where(double.IsFinite))
            {
                var x = c(plot.X(at));
                svg.Append(CultureInfo.InvariantCulture,
                    $"<line class=\"threshold\" data-method=\"{T(mark.Method)}\" x1=\"{x}\" y1=\"{c(SvgPlot.Top)}\" x2=\"{x}\" y2=\"{c(SvgPlot.Top + SvgPlot.PlotHeight)}\" stroke=\"{colour}\" stroke-width=\"{(mark.Chosen ? "2.2" : "1.4")}\"{(mark.Chosen ? "" : " stroke-dasharray=\"5 3\"")}><title>{T($"{mark.Method}: {Number(at, "G4")}")}</title></line>");
            }
        }
        SvgPlot.Legend(svg, layer.Marks.Select(m => (m.Method + (m.Chosen ? " (used)" : ""), MethodColour(methods, m.Method), !m.Chosen)));
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>Threshold colours, far from the bars' blue and from each other; one per method across every histogram.</summary>
    private static readonly string[] MethodColours = ["#d62728", "#9467bd", "#2ca02c", "#e377c2", "#ff7f0e", "#17becf", "#8c564b", "#7f7f7f", "#bcbd22"];

    private static string MethodColour(IReadOnlyList<string> methods, string method) =>
        MethodColours[Math.Max(0, methods.ToList().IndexOf(method)) % MethodColours.Length];
}
