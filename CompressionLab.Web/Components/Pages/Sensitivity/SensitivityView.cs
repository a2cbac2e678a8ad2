using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Web.Components.Pages.Sensitivity;

/// <summary>What the curves show: top-1, top-5, loss, or the top-1 drop against the dense model.</summary>
public enum SweepMetric
{
    Top1,
    Top5,
    Loss,
    Drop,
}

/// <summary>What adding a cell to a <see cref="SensitivityView"/> did.</summary>
public enum CellAddition
{
    /// <summary>New, and after every level its line already had: it extends the line.</summary>
    Appended,

    /// <summary>New, but below a level already shown: the line must be redrawn.</summary>
    Inserted,

    /// <summary>Already known (e.g. read from the workspace, then published again).</summary>
    Known,

    /// <summary>Not a layer of this sweep.</summary>
    Ignored,
}

/// <summary>
/// One sweep as the page holds it while it grows: its plan (layers, levels) and the cells known so far, per
/// layer in level order. Pure state; the page turns it into lines, rows and a ranking.
/// </summary>
public sealed class SensitivityView
{
    private readonly Dictionary<string, SortedList<double, SweepCell>> _cells;

    public SensitivityView(SweepRecord sweep, SweepMetrics? baseline = null)
    {
        Sweep = sweep ?? throw new ArgumentNullException(nameof(sweep));
        Baseline = baseline;
        _cells = sweep.Layers.ToDictionary(l => l.Name, _ => new SortedList<double, SweepCell>());
    }

    /// <summary>The sweep's record with whatever cells (and baseline) the result has.</summary>
    public static SensitivityView From(SweepRecord sweep, SensitivityResult? result)
    {
        var view = new SensitivityView(sweep, result?.Baseline);
        foreach (var cell in result?.Cells ?? []) view.Add(cell, result!.Baseline);
        return view;
    }

    public SweepRecord Sweep { get; }

    public SweepMetrics? Baseline { get; private set; }

    public IReadOnlyList<SweepLayer> Layers => Sweep.Layers;

    /// <summary>Cells known, level 0 included.</summary>
    public int CellCount => _cells.Values.Sum(c => c.Count);

    public bool IsComplete => CellCount == Sweep.CellCount;

    /// <summary>The sweep's position of <paramref name="layer"/> in its table, or -1.</summary>
    public int IndexOf(string layer)
    {
        for (var i = 0; i < Sweep.Layers.Count; i++)
            if (Sweep.Layers[i].Name == layer) return i;
        return -1;
    }

    public CellAddition Add(SweepCell cell, SweepMetrics baseline)
    {
        ArgumentNullException.ThrowIfNull(cell);
        ArgumentNullException.ThrowIfNull(baseline);
        Baseline ??= baseline;
        if (!_cells.TryGetValue(cell.Layer, out var line)) return CellAddition.Ignored;
        if (line.ContainsKey(cell.Sparsity)) return CellAddition.Known;
        var appended = line.Count == 0 || cell.Sparsity > line.Keys[^1];
        line.Add(cell.Sparsity, cell);
        return appended ? CellAddition.Appended : CellAddition.Inserted;
    }

    /// <summary>The known cells of a layer, levels ascending.</summary>
    public IReadOnlyList<SweepCell> CellsOf(string layer) =>
        _cells.TryGetValue(layer, out var line) ? [.. line.Values] : [];

    /// <summary>Every known cell, layers in table order, levels ascending.</summary>
    public IEnumerable<SweepCell> Cells => Sweep.Layers.SelectMany(l => _cells[l.Name].Values);

    /// <summary>A cell's value as the chart plots it: accuracies in percent and the drop in points (Core keeps fractions), the loss as it is.</summary>
    public static double Value(SweepCell cell, SweepMetric metric)
    {
        ArgumentNullException.ThrowIfNull(cell);
        return metric switch
        {
            SweepMetric.Top1 => cell.Top1 * 100,
            SweepMetric.Top5 => cell.Top5 * 100,
            SweepMetric.Loss => cell.Loss,
            SweepMetric.Drop => cell.Top1Drop * 100,
            _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, null),
        };
    }
}

/// <summary>The page's ranking: <see cref="SafeSparsity.Rank"/> (in Core, where the pruning plan uses it too) of the cells shown.</summary>
public static class SensitivityRanking
{
    /// <param name="thresholdPoints">The allowed top-1 drop in percentage points, as the page's field takes it.</param>
    public static IReadOnlyList<LayerSensitivity> Rank(SensitivityView view, double thresholdPoints)
    {
        ArgumentNullException.ThrowIfNull(view);
        return SafeSparsity.Rank(view.Layers, view.Sweep.Levels, view.Cells, thresholdPoints / 100);
    }
}
