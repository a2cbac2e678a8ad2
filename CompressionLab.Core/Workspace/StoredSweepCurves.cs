using CompressionLab.Core.Pruning;

namespace CompressionLab.Core.Workspace;

/// <summary>Reads a model's sensitivity curves back from the workspace's sweep cells (<see cref="SqliteSweepCellStore"/>).</summary>
public static class StoredSweepCurves
{
    /// <summary>
    /// The curves of one identity (weights hash, dataset, subset) for each method asked for; null when the dense
    /// baseline of that identity was never measured (no sweep ran on these weights and images).
    /// </summary>
    public static SweepCurves? Read(SqliteSweepCellStore cells, SweepIdentity identity, IEnumerable<PruningMethod> methods)
    {
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(methods);
        if (cells.Baseline(identity) is not { } baseline) return null;
        var stored = methods.Distinct().SelectMany(method => cells.Cells(identity, method.Key).Select(cell => (method, cell)));
        return SweepCurves.From(identity, baseline, stored);
    }
}
