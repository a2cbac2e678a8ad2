using System.Globalization;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Web.Components.Pages.Pruning;

/// <summary>How the Pruning plan page words its numbers: fractions from Core, percent and units on screen (invariant culture).</summary>
public static class PruningText
{
    public static string Percent(double fraction, int decimals = 1) =>
        (fraction * 100).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + " %";

    /// <summary>A top-1 drop in points (a fraction 0.012 is "1.20 pts").</summary>
    public static string Points(double drop) => (drop * 100).ToString("0.00", CultureInfo.InvariantCulture) + " pts";

    public static string Count(long count) => count.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>MACs per image: "16.4 M", "312 k", "624".</summary>
    public static string Macs(long macs) => macs switch
    {
        >= 1_000_000 => (macs / 1e6).ToString("0.0#", CultureInfo.InvariantCulture) + " M",
        >= 10_000 => (macs / 1e3).ToString("0", CultureInfo.InvariantCulture) + " k",
        _ => macs.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Bytes in KiB (one decimal) or bytes below 1 KiB.</summary>
    public static string Bytes(long bytes) => bytes >= 1024
        ? (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB"
        : bytes.ToString(CultureInfo.InvariantCulture) + " B";

    /// <summary>A threshold or s with four significant digits.</summary>
    public static string Number(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    public static string Method(PruningMethod method) => method.Key switch
    {
        "element" => "element",
        "filter-l1" => "filter (L1)",
        "filter-l2" => "filter (L2)",
        var key => key,
    };

    public static string Goal(AllocationGoal goal) => goal switch
    {
        AllocationGoal.Sparsity => "overall sparsity",
        AllocationGoal.Parameters => "parameter budget",
        AllocationGoal.Macs => "MAC budget",
        AllocationGoal.MaxDrop => "max predicted drop",
        _ => goal.ToString(),
    };

    /// <summary>The plan's levels in one line: "stage1.conv1 0.5, stage2.conv1 0.7".</summary>
    public static string Levels(IReadOnlyList<PlanLevel> levels) =>
        levels.Count == 0 ? "dense" : string.Join(", ", levels.Select(l => $"{l.Layer} {SweepLevels.Format(l.Level)}{(l.Method == "element" ? "" : " " + l.Method)}"));
}
