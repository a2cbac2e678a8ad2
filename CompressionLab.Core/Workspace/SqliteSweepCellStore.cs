using System.Diagnostics.CodeAnalysis;
using CompressionLab.Core.Pruning;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>
/// Sweep cells in the workspace database (<c>sweep_cells</c>), one row per <see cref="SweepCellKey"/> (model hash,
/// dataset, subset, batch size, engine version, criterion, layer, level). Each <see cref="Save"/> is its own committed transaction, so a crash or a
/// restart loses at most the cell being computed; a later sweep of the same identity reads the rest back.
/// </summary>
/// <remarks>
/// Levels are stored as REAL (the same 8-byte IEEE double), so a level parsed from the same text finds its
/// row by exact equality. Safe to use from several threads and processes (WAL, one connection per call).
/// </remarks>
public sealed class SqliteSweepCellStore : ISweepCellStore
{
    private const string CellColumns = "layer, level, actual_sparsity, top1, top5, loss, top1_drop";

    private readonly WorkspaceDatabase _database;
    private readonly TimeProvider _time;

    public SqliteSweepCellStore(WorkspaceDatabase database, TimeProvider? time = null)
    {
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _time = time ?? TimeProvider.System;
    }

    public bool TryGet(SweepCellKey key, [NotNullWhen(true)] out SweepCell? cell)
    {
        ArgumentNullException.ThrowIfNull(key);
        cell = _database.QuerySingleOrDefault(
            $"""
            SELECT {CellColumns} FROM sweep_cells
            WHERE model_hash = $hash AND dataset = $dataset AND subset = $subset AND batch_size = $batch AND engine = $engine
              AND criterion = $criterion AND layer = $layer AND level = $level;
            """,
            ReadCell,
            KeyParameters(key));
        return cell is not null;
    }

    public void Save(SweepCellKey key, SweepCell cell)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(cell);
        // A cell computed again (say, by a CLI run beside the dashboard) has the same numbers; the newest row wins.
        _database.Execute(
            """
            INSERT INTO sweep_cells (model_hash, dataset, subset, batch_size, engine, criterion, layer, level, actual_sparsity, top1, top5, loss, top1_drop, created_at)
            VALUES ($hash, $dataset, $subset, $batch, $engine, $criterion, $layer, $level, $actual, $top1, $top5, $loss, $drop, $created)
            ON CONFLICT (model_hash, dataset, subset, batch_size, engine, criterion, layer, level) DO UPDATE SET
                actual_sparsity = excluded.actual_sparsity, top1 = excluded.top1, top5 = excluded.top5,
                loss = excluded.loss, top1_drop = excluded.top1_drop, created_at = excluded.created_at;
            """,
            [
                .. KeyParameters(key),
                ("$actual", cell.ActualSparsity),
                ("$top1", cell.Top1),
                ("$top5", cell.Top5),
                ("$loss", cell.Loss),
                ("$drop", cell.Top1Drop),
                ("$created", WorkspaceTime.Format(_time.GetUtcNow())),
            ]);
    }

    /// <summary>
    /// Every stored cell of one sweep identity and criterion computed by the current engine (the dense baseline not
    /// included), layers by name and levels ascending: what an interrupted or running sweep has finished so far.
    /// </summary>
    public IReadOnlyList<SweepCell> Cells(SweepIdentity identity, string criterion)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentException.ThrowIfNullOrWhiteSpace(criterion);
        return _database.Query(
            $"""
            SELECT {CellColumns} FROM sweep_cells
            WHERE model_hash = $hash AND dataset = $dataset AND subset = $subset AND batch_size = $batch AND engine = $engine
              AND criterion = $criterion
            ORDER BY layer, level;
            """,
            ReadCell,
            KeyParameters(SweepCellKey.For(identity, criterion, "", 0)));
    }

    /// <summary>The stored dense baseline of an identity, if it was evaluated before.</summary>
    public SweepMetrics? Baseline(SweepIdentity identity) =>
        TryGet(SweepCellKey.Baseline(identity), out var cell) ? cell.Metrics : null;

    private static (string Name, object? Value)[] KeyParameters(SweepCellKey key) =>
    [
        ("$hash", key.ModelHash),
        ("$dataset", key.Dataset),
        ("$subset", key.Subset),
        ("$batch", key.BatchSize),
        ("$engine", key.Engine),
        ("$criterion", key.Criterion),
        ("$layer", key.Layer),
        ("$level", key.Level),
    ];

    private static SweepCell ReadCell(SqliteDataReader row) => new(
        row.GetString(0),
        row.GetDouble(1),
        row.GetDouble(2),
        row.GetDouble(3),
        row.GetDouble(4),
        row.GetDouble(5),
        row.GetDouble(6));
}
