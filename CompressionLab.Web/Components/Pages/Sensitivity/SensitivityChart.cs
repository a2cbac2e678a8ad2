using System.Globalization;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;

namespace CompressionLab.Web.Components.Pages.Sensitivity;

/// <summary>
/// The lines of the sensitivity chart (pure): one per layer of the main sweep, coloured by stage (one hue per
/// stage, a shade per layer within it), then one dashed line per layer of a sweep laid over it, in the same
/// colour as that layer's main line and in its legend group, so isolating a layer shows both.
/// </summary>
public static class SensitivityChart
{
    /// <summary>d3's category10: distinct hues that stay readable as lighter and darker shades.</summary>
    private static readonly string[] StageHues =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    public static string AxisTitle(SweepMetric metric) => metric switch
    {
        SweepMetric.Top1 => "Top-1 accuracy (%)",
        SweepMetric.Top5 => "Top-5 accuracy (%)",
        SweepMetric.Loss => "Loss (cross-entropy)",
        SweepMetric.Drop => "Top-1 drop (points)",
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, null),
    };

    public static string MetricName(SweepMetric metric) => metric switch
    {
        SweepMetric.Top1 => "top-1",
        SweepMetric.Top5 => "top-5",
        SweepMetric.Loss => "loss",
        SweepMetric.Drop => "drop",
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, null),
    };

    /// <summary>The main sweep's layer <c>i</c> is line <c>i</c>; the overlay's layer <c>j</c> is line <c>main.Layers.Count + j</c>.</summary>
    public static IReadOnlyList<LineSeries> Series(SensitivityView main, SensitivityView? overlay, SweepMetric metric)
    {
        ArgumentNullException.ThrowIfNull(main);
        var colours = Colours(main.Layers);
        var lines = main.Layers.Select(layer => Line(main, layer, metric, colours[layer.Name], dashed: false, overlay is null ? null : main.Sweep.Criterion)).ToList();
        if (overlay is not null)
        {
            var overlayColours = Colours(overlay.Layers);
            lines.AddRange(overlay.Layers.Select(layer =>
                Line(overlay, layer, metric, colours.GetValueOrDefault(layer.Name, overlayColours[layer.Name]), dashed: true, overlay.Sweep.Criterion)));
        }
        return lines;
    }

    /// <summary>Each layer's colour: its stage's hue, darker for the stage's first layers and lighter for its last.</summary>
    public static IReadOnlyDictionary<string, string> Colours(IReadOnlyList<SweepLayer> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var stages = layers.Select(l => l.Stage).Distinct().ToList();
        var colours = new Dictionary<string, string>();
        foreach (var (stage, stageIndex) in stages.Select((s, i) => (s, i)))
        {
            var members = layers.Where(l => l.Stage == stage).ToArray();
            for (var k = 0; k < members.Length; k++)
            {
                // −0.25 (darker) .. +0.35 (lighter) across the stage; a single layer keeps the hue itself.
                var shade = members.Length == 1 ? 0 : -0.25 + (0.6 * k / (members.Length - 1));
                colours[members[k].Name] = Shade(StageHues[stageIndex % StageHues.Length], shade);
            }
        }
        return colours;
    }

    /// <summary>
    /// Hover text: layer and stage, the level and what it really pruned (the point's text, <see cref="PrunedText"/>),
    /// the metric's value, parameter count, and the criterion.
    /// </summary>
    public static string HoverTemplate(SweepLayer layer, SweepMetric metric, string criterion)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var value = metric switch
        {
            SweepMetric.Loss => "%{y:.4f}",
            SweepMetric.Drop => "%{y:.2f} points",
            _ => "%{y:.2f}%",
        };
        return string.Create(CultureInfo.InvariantCulture,
            $"<b>{layer.Name}</b> ({layer.Stage})<br>sparsity %{{x:.2~%}} · %{{text}}<br>{MetricName(metric)} {value}<br>{layer.Parameters:N0} parameters<extra>{criterion}</extra>");
    }

    /// <summary>
    /// What a level really pruned of a layer: "3 of 7 filters pruned" (counts from the layer's unit count, the same
    /// rounding as the engine), or the cell's actual sparsity where the sweep record has no unit counts.
    /// </summary>
    public static string PrunedText(SweepLayer layer, SweepCell cell, string criterion)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(cell);
        var (kind, _) = SavedSweep.ParseCriterion(criterion);
        var noun = kind == PruningCriterion.Filter ? (layer.Kind == "conv" ? "filters" : "neurons") : "weights";
        return layer.PrunedUnits(cell.Sparsity, kind) is { } pruned
            ? string.Create(CultureInfo.InvariantCulture, $"{pruned:N0} of {layer.Units(kind):N0} {noun} pruned")
            : string.Create(CultureInfo.InvariantCulture, $"{SweepLevels.FormatPercent(cell.ActualSparsity)}% of the {noun} pruned");
    }

    private static LineSeries Line(SensitivityView view, SweepLayer layer, SweepMetric metric, string colour, bool dashed, string? criterion)
    {
        var cells = view.CellsOf(layer.Name);
        return new LineSeries(criterion is null ? layer.Name : $"{layer.Name} · {criterion}",
            cells.Select(c => c.Sparsity).ToArray(), cells.Select(c => SensitivityView.Value(c, metric)).ToArray())
        {
            Color = colour,
            Dashed = dashed,
            Group = layer.Name,
            HoverTemplate = HoverTemplate(layer, metric, view.Sweep.Criterion),
            Text = cells.Select(c => PrunedText(layer, c, view.Sweep.Criterion)).ToArray(),
        };
    }

    /// <summary>Mixes a #rrggbb colour towards white (amount &gt; 0) or black (amount &lt; 0).</summary>
    public static string Shade(string hex, double amount)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(hex);
        var rgb = Convert.FromHexString(hex.TrimStart('#'));
        var target = amount > 0 ? 255.0 : 0.0;
        var t = Math.Abs(amount);
        return "#" + Convert.ToHexStringLower(rgb.Select(c => (byte)Math.Round(c + ((target - c) * t))).ToArray());
    }
}

/// <summary>Reads the levels a person types: a list (<c>0, 0.1, 0.5</c>) or a range (<c>0:0.95:0.05</c>, both ends included).</summary>
public static class LevelsText
{
    public const string Default = "0:0.95:0.05";

    /// <summary>The levels (sorted, distinct, each in [0, 1)), or an error in words naming the bad part.</summary>
    public static (IReadOnlyList<double>? Levels, string? Error) Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return (null, "Enter sparsity levels, e.g. 0, 0.25, 0.5 or 0:0.95:0.05.");
        try
        {
            var trimmed = text.Trim();
            if (!trimmed.Contains(':', StringComparison.Ordinal)) return (SweepLevels.Parse(trimmed), null);
            var parts = trimmed.Split(':', StringSplitOptions.TrimEntries);
            if (parts.Length != 3) return (null, $"A range is from:to:step, e.g. 0:0.95:0.05 (got '{trimmed}').");
            var (from, to, step) = (Number(parts[0]), Number(parts[1]), Number(parts[2]));
            if (!(step > 0)) return (null, $"The step of a range must be positive (got {parts[2]}).");
            if (to < from) return (null, $"A range must not run backwards ({parts[0]} to {parts[1]}).");
            var count = (int)Math.Floor(((to - from) / step) + 1e-9) + 1;
            if (count > 1000) return (null, $"That range has {count} levels; 1,000 at most.");
            // Rounded to the decimal typed, so 0:0.95:0.05 gives the same doubles as "0.15" typed on its own (and as the CLI).
            var decimals = Math.Min(12, new[] { parts[0], parts[2] }.Max(Decimals));
            return (SweepLevels.Normalize(Enumerable.Range(0, count).Select(i => Math.Round(from + (i * step), decimals))), null);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return (null, e.Message.Split(" (Parameter", 2)[0]);
        }
    }

    /// <summary>"20 levels: 0, 0.05, 0.1 … 0.95".</summary>
    public static string Describe(IReadOnlyList<double> levels)
    {
        ArgumentNullException.ThrowIfNull(levels);
        static string F(double v) => SweepLevels.Format(v);
        var shown = levels.Count <= 6 ? string.Join(", ", levels.Select(F)) : $"{string.Join(", ", levels.Take(3).Select(F))} … {F(levels[^1])}";
        return $"{levels.Count} level{(levels.Count == 1 ? "" : "s")}: {shown}";
    }

    private static double Number(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"Sparsity level '{text}' is not a number.");

    private static int Decimals(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? 0 : text.Length - dot - 1;
    }
}
