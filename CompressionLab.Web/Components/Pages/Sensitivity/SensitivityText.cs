using System.Globalization;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Web.Components.Pages.Sensitivity;

/// <summary>How the Sensitivity page words a sweep (kept apart from markup so tests can pin it).</summary>
public static class SensitivityText
{
    /// <summary>"baseline top-1 84.30 % · 2,000 validation images · 57 of 60 cells".</summary>
    public static string Detail(SensitivityView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        var baseline = view.Baseline is { } b ? string.Create(CultureInfo.InvariantCulture, $"baseline top-1 {b.Top1 * 100:0.00}\u00a0% · ") : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{baseline}{view.Sweep.SubsetSize:N0} validation images · {view.CellCount} of {view.Sweep.CellCount} cells");
    }

    /// <summary>Why a filter sweep has no line for the output layer (null for other criteria, which sweep every layer).</summary>
    public static string? LeftOutNote(string criterion) =>
        criterion.StartsWith("filter", StringComparison.Ordinal)
            ? "The output layer is left out of filter sweeps: its neurons are the class scores, so removing one removes a class " +
              "(its zeroed score still competes), which measures dropping classes, not compressing the network. Element sweeps include it."
            : null;

    /// <summary>What a finished sweep job says in place of its last progress message.</summary>
    public static string Outcome(SweepJobResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return string.Create(CultureInfo.InvariantCulture,
            $"{result.Cells} cells in {result.Seconds:0.0} s · {result.CellsComputed} computed, {result.CellsFromStore} read from the workspace · baseline top-1 {result.Baseline.Top1 * 100:0.00}\u00a0%");
    }
}
