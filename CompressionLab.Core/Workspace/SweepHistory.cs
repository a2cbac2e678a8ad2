using System.Text.Json;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>One sensitivity sweep run in this workspace (finished or not).</summary>
/// <param name="JobId">The dashboard job that last ran it; null when only the CLI (which runs no job) has run it.</param>
/// <param name="ModelId">The workspace model, or null for a checkpoint file outside the store (CLI).</param>
/// <param name="ModelHash">The weights' content hash; with <see cref="Dataset"/> and <see cref="Subset"/> it keys the cells.</param>
/// <param name="Subset">Which images, e.g. <c>validation/stratified-2000/3fa2b1c09e1d</c> (see <see cref="SweepIdentity"/>).</param>
/// <param name="Criterion"><c>element</c>, <c>filter-l1</c> or <c>filter-l2</c>.</param>
/// <param name="Levels">The levels as run (sorted, distinct).</param>
/// <param name="Layers">The swept layers in table order.</param>
/// <param name="ResultJson">The finished sweep (<see cref="SensitivityExport.ToJson"/>), null while it runs or when it stopped early.</param>
/// <param name="BatchSize">Images per forward pass (part of <see cref="Identity"/>: it keys the cells).</param>
public sealed record SweepRecord(
    Guid Id,
    Guid? JobId,
    Guid? ModelId,
    string ModelHash,
    string ModelName,
    string Architecture,
    string Dataset,
    string Subset,
    int SubsetSize,
    string Criterion,
    IReadOnlyList<double> Levels,
    IReadOnlyList<SweepLayer> Layers,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    string? ResultJson,
    int BatchSize = Evaluator.DefaultBatchSize)
{
    public SweepIdentity Identity => new(ModelHash, Dataset, Subset, BatchSize);

    /// <summary>The model and images the sweep measured, as its exports state them.</summary>
    public SweepSource Source => new(ModelName, Architecture, ModelHash, Dataset, Subset, SubsetSize);

    public bool IsFinished => ResultJson is not null;

    /// <summary>Cells the sweep has when complete: layers × levels (level 0 included).</summary>
    public int CellCount => Layers.Count * Levels.Count;
}

/// <summary>The <c>sweeps</c> table: which sweeps were run, so that earlier ones can be reopened and compared.</summary>
public sealed class SweepHistory
{
    private const string Columns =
        "id, job_id, model_id, model_hash, model_name, architecture, dataset, subset, subset_size, criterion, levels_json, layers_json, created_at, finished_at, result_json, batch_size";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly WorkspaceDatabase _database;
    private readonly TimeProvider _time;

    public SweepHistory(WorkspaceDatabase database, TimeProvider? time = null)
    {
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Records a sweep that is starting (under <paramref name="id"/>, or a new one; creation time is filled here),
    /// or, when the same sweep was recorded before (same weights, dataset, subset, batch size, criterion with its norm,
    /// levels and layers), returns that row instead of adding another: a rerun, from the CLI or the dashboard, of a sweep
    /// whose cells are already stored, or the resumption of one that was interrupted. The reused row keeps its id
    /// and creation time; it takes the new job and model when given, and stays finished if it was.
    /// </summary>
    public SweepRecord Begin(
        Guid? jobId,
        Guid? modelId,
        string modelName,
        string architecture,
        SweepIdentity identity,
        int subsetSize,
        string criterion,
        IReadOnlyList<double> levels,
        IReadOnlyList<SweepLayer> layers,
        Guid? id = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelName);
        ArgumentException.ThrowIfNullOrWhiteSpace(architecture);
        ArgumentException.ThrowIfNullOrWhiteSpace(criterion);
        ArgumentNullException.ThrowIfNull(levels);
        ArgumentNullException.ThrowIfNull(layers);
        var record = new SweepRecord(id ?? Guid.CreateVersion7(), jobId, modelId, identity.ModelHash, modelName.Trim(), architecture, identity.Dataset,
            identity.Subset, subsetSize, criterion, levels.ToArray(), layers.ToArray(), _time.GetUtcNow(), null, null, identity.BatchSize);

        return _database.InTransaction(transaction =>
        {
            if (FindSame(transaction, record, id) is { } same)
            {
                // The layer list is written again: rows from before the unit counts were kept gain them.
                transaction.Execute(
                    """
                    UPDATE sweeps SET job_id = coalesce($job, job_id), model_id = coalesce($model, model_id),
                        model_name = CASE WHEN $model IS NULL THEN model_name ELSE $name END, layers_json = $layers
                    WHERE id = $id;
                    """,
                    ("$job", jobId?.ToString()),
                    ("$model", modelId?.ToString()),
                    ("$name", record.ModelName),
                    ("$layers", JsonSerializer.Serialize(record.Layers, Json)),
                    ("$id", same.Id.ToString()));
                return transaction.QuerySingleOrDefault($"SELECT {Columns} FROM sweeps WHERE id = $id;", ReadRecord, ("$id", same.Id.ToString()))!;
            }
            if (transaction.QuerySingleOrDefault("SELECT 1 FROM sweeps WHERE id = $id;", row => true, ("$id", record.Id.ToString())))
            {
                // The id asked for belongs to another sweep (say, one resumed after its model's weights changed): this one is new.
                record = record with { Id = Guid.CreateVersion7() };
            }
            transaction.Execute(
                $"""
                INSERT INTO sweeps ({Columns})
                VALUES ($id, $job, $model, $hash, $name, $arch, $dataset, $subset, $size, $criterion, $levels, $layers, $created, NULL, NULL, $batch);
                """,
                ("$id", record.Id.ToString()),
                ("$job", jobId?.ToString()),
                ("$model", modelId?.ToString()),
                ("$hash", record.ModelHash),
                ("$name", record.ModelName),
                ("$arch", record.Architecture),
                ("$dataset", record.Dataset),
                ("$subset", record.Subset),
                ("$size", record.SubsetSize),
                ("$criterion", record.Criterion),
                ("$levels", JsonSerializer.Serialize(record.Levels, Json)),
                ("$layers", JsonSerializer.Serialize(record.Layers, Json)),
                ("$created", WorkspaceTime.Format(record.CreatedAt)),
                ("$batch", record.BatchSize));
            return record;
        });
    }

    /// <summary>
    /// The recorded sweep with the identity of <paramref name="sweep"/> (levels compared exactly, layers by name in order):
    /// the one asked for by <paramref name="preferred"/> when it matches (a workspace from before rows were reused can
    /// hold several, and resuming an older one must finish that one), else the newest.
    /// </summary>
    private static SweepRecord? FindSame(WorkspaceTransaction transaction, SweepRecord sweep, Guid? preferred)
    {
        var same = transaction.Query(
            $"""
            SELECT {Columns} FROM sweeps
            WHERE model_hash = $hash AND dataset = $dataset AND subset = $subset AND batch_size = $batch AND criterion = $criterion
            ORDER BY created_at DESC, rowid DESC;
            """,
            ReadRecord,
            ("$hash", sweep.ModelHash),
            ("$dataset", sweep.Dataset),
            ("$subset", sweep.Subset),
            ("$batch", sweep.BatchSize),
            ("$criterion", sweep.Criterion))
        .Where(r => r.Levels.SequenceEqual(sweep.Levels) && r.Layers.Select(l => l.Name).SequenceEqual(sweep.Layers.Select(l => l.Name)))
        .ToList();
        return same.FirstOrDefault(r => r.Id == preferred) ?? same.FirstOrDefault();
    }

    /// <summary>Stores the finished sweep's document; false when there is no such sweep.</summary>
    public bool Finish(Guid id, string resultJson)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(resultJson);
        return _database.Execute(
            "UPDATE sweeps SET result_json = $result, finished_at = $finished WHERE id = $id;",
            ("$result", resultJson),
            ("$finished", WorkspaceTime.Format(_time.GetUtcNow())),
            ("$id", id.ToString())) == 1;
    }

    /// <summary>All sweeps, newest first.</summary>
    public IReadOnlyList<SweepRecord> List() =>
        _database.Query($"SELECT {Columns} FROM sweeps ORDER BY created_at DESC, rowid DESC;", ReadRecord);

    public SweepRecord? Get(Guid id) =>
        _database.QuerySingleOrDefault($"SELECT {Columns} FROM sweeps WHERE id = $id;", ReadRecord, ("$id", id.ToString()));

    /// <summary>The sweep a dashboard job runs (or ran), once the job has started it.</summary>
    public SweepRecord? FindByJob(Guid jobId) =>
        _database.QuerySingleOrDefault($"SELECT {Columns} FROM sweeps WHERE job_id = $job ORDER BY created_at DESC LIMIT 1;", ReadRecord,
            ("$job", jobId.ToString()));

    private static SweepRecord ReadRecord(SqliteDataReader row) => new(
        Guid.Parse(row.GetString(0)),
        row.IsDBNull(1) ? null : Guid.Parse(row.GetString(1)),
        row.IsDBNull(2) ? null : Guid.Parse(row.GetString(2)),
        row.GetString(3),
        row.GetString(4),
        row.GetString(5),
        row.GetString(6),
        row.GetString(7),
        row.GetInt32(8),
        row.GetString(9),
        JsonSerializer.Deserialize<double[]>(row.GetString(10), Json) ?? [],
        JsonSerializer.Deserialize<SweepLayer[]>(row.GetString(11), Json) ?? [],
        WorkspaceTime.Parse(row.GetString(12)),
        row.IsDBNull(13) ? null : WorkspaceTime.Parse(row.GetString(13)),
        row.IsDBNull(14) ? null : row.GetString(14),
        row.GetInt32(15));
}

/// <summary>Reads a sweep of the history back as a result, finished or not.</summary>
public static class SavedSweep
{
    /// <summary>
    /// The finished sweep's stored document (its model and data as the record states them); for a sweep that is
    /// running or was stopped, the cells the store has so far (layers in table order, levels ascending, level 0 from the baseline), with
    /// <see cref="SensitivityResult.Seconds"/> 0. Null when not even the baseline was measured.
    /// </summary>
    public static SensitivityResult? Read(SweepRecord record, SqliteSweepCellStore cells)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(cells);
        if (record.ResultJson is { } json) return SensitivityExport.FromJson(json) with { Source = record.Source };
        if (cells.Baseline(record.Identity) is not { } baseline) return null;

        var known = cells.Cells(record.Identity, record.Criterion).ToDictionary(c => (c.Layer, c.Sparsity));
        var list = new List<SweepCell>();
        foreach (var layer in record.Layers)
        {
            foreach (var level in record.Levels)
            {
                if (level == 0) list.Add(SweepCell.From(layer.Name, 0, 0, baseline, baseline));
                else if (known.TryGetValue((layer.Name, level), out var cell)) list.Add(cell);
            }
        }
        var (criterion, norm) = ParseCriterion(record.Criterion);
        var settings = new SweepSettings { Criterion = criterion, Norm = norm, Levels = record.Levels, Layers = record.Layers.Select(l => l.Name).ToArray(), BatchSize = record.BatchSize };
        return new SensitivityResult(record.Architecture, settings, record.SubsetSize, baseline, list, 0, 0, list.Count(c => c.Sparsity > 0))
        {
            Source = record.Source,
        };
    }

    /// <summary>Reads <c>element</c>, <c>filter-l1</c>, <c>filter-l2</c> back into criterion and norm.</summary>
    public static (PruningCriterion Criterion, FilterNorm Norm) ParseCriterion(string key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        var parts = key.Split('-', 2);
        var criterion = PruningCriterionText.ParseCriterion(parts[0]);
        return (criterion, parts.Length == 2 ? PruningCriterionText.ParseNorm(parts[1]) : FilterNorm.L1);
    }
}
