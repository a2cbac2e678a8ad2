using System.Text.Json;
using CompressionLab.Core.Pruning;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>
/// Evaluated pruning plans in the workspace database (<c>plan_evaluations</c>), one row per (weights hash, dataset,
/// subset, plan hash): a repeated evaluation is read back, and the plans of a model can be listed and compared.
/// </summary>
/// <remarks>Safe to use from several threads and processes (WAL, one connection per call); the newest measurement of a key wins.</remarks>
public sealed class PlanEvaluationStore
{
    private const string Columns =
        "model_hash, dataset, subset, plan_hash, model_name, architecture, subset_size, levels_json, top1, top5, loss, sparsity, parameters, macs, seconds, job_id, created_at";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly WorkspaceDatabase _database;

    public PlanEvaluationStore(WorkspaceDatabase database) => _database = database ?? throw new ArgumentNullException(nameof(database));

    public StoredPlanEvaluation? Find(PlanEvaluationKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _database.QuerySingleOrDefault(
            $"""
            SELECT {Columns} FROM plan_evaluations
            WHERE model_hash = $hash AND dataset = $dataset AND subset = $subset AND plan_hash = $plan;
            """,
            Read,
            KeyParameters(key));
    }

    public void Save(StoredPlanEvaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        var m = evaluation.Measured;
        _database.Execute(
            $"""
            INSERT INTO plan_evaluations ({Columns})
            VALUES ($hash, $dataset, $subset, $plan, $name, $arch, $size, $levels, $top1, $top5, $loss, $sparsity, $parameters, $macs, $seconds, $job, $created)
            ON CONFLICT (model_hash, dataset, subset, plan_hash) DO UPDATE SET
                model_name = excluded.model_name, architecture = excluded.architecture, subset_size = excluded.subset_size,
                levels_json = excluded.levels_json, top1 = excluded.top1, top5 = excluded.top5, loss = excluded.loss,
                sparsity = excluded.sparsity, parameters = excluded.parameters, macs = excluded.macs, seconds = excluded.seconds,
                job_id = excluded.job_id, created_at = excluded.created_at;
            """,
            [
                .. KeyParameters(evaluation.Key),
                ("$name", evaluation.ModelName),
                ("$arch", evaluation.Architecture),
                ("$size", evaluation.SubsetSize),
                ("$levels", JsonSerializer.Serialize(evaluation.Levels, Json)),
                ("$top1", m.Top1),
                ("$top5", m.Top5),
                ("$loss", m.Loss),
                ("$sparsity", evaluation.Sparsity),
                ("$parameters", evaluation.Parameters),
                ("$macs", evaluation.MacsPerSample),
                ("$seconds", m.Seconds),
                ("$job", evaluation.JobId?.ToString()),
                ("$created", WorkspaceTime.Format(evaluation.CreatedAt)),
            ]);
    }

    /// <summary>Every evaluated plan of one model's weights, newest first (every model's when <paramref name="modelHash"/> is null).</summary>
    public IReadOnlyList<StoredPlanEvaluation> List(string? modelHash = null) =>
        _database.Query(
            $"SELECT {Columns} FROM plan_evaluations WHERE $hash IS NULL OR model_hash = $hash ORDER BY created_at DESC, plan_hash;",
            Read,
            ("$hash", modelHash));

    private static (string Name, object? Value)[] KeyParameters(PlanEvaluationKey key) =>
    [
        ("$hash", key.ModelHash),
        ("$dataset", key.Dataset),
        ("$subset", key.Subset),
        ("$plan", key.PlanHash),
    ];

    private static StoredPlanEvaluation Read(SqliteDataReader row) => new(
        new PlanEvaluationKey(row.GetString(0), row.GetString(1), row.GetString(2), row.GetString(3)),
        row.GetString(4),
        row.GetString(5),
        row.GetInt32(6),
        JsonSerializer.Deserialize<PlanLevel[]>(row.GetString(7), Json) ?? [],
        new PlanMeasurement(row.GetDouble(8), row.GetDouble(9), row.GetDouble(10), row.GetInt32(6), row.GetDouble(14)),
        row.GetDouble(11),
        row.GetInt64(12),
        row.GetInt64(13),
        row.IsDBNull(15) ? null : Guid.Parse(row.GetString(15)),
        WorkspaceTime.Parse(row.GetString(16)));
}
