using CompressionLab.Core.Quantization;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>
/// Simulated INT8 measurements in the workspace database (<c>int8_evaluations</c>), one row per (weights hash, dataset,
/// calibration subset, evaluated subset, configuration): a comparison or sensitivity run repeated on the same weights
/// and images reads its rows back instead of evaluating again, so reopening the page is instant.
/// </summary>
/// <remarks>Safe to use from several threads and processes (WAL, one connection per call); the newest measurement of a key wins.</remarks>
public sealed class Int8EvaluationStore
{
    private const string Columns =
        "model_hash, dataset, calibration_subset, evaluation_subset, configuration, architecture, top1, top5, loss, samples, seconds, job_id, created_at";

    private readonly WorkspaceDatabase _database;

    public Int8EvaluationStore(WorkspaceDatabase database) => _database = database ?? throw new ArgumentNullException(nameof(database));

    public StoredInt8Evaluation? Find(Int8EvaluationKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _database.QuerySingleOrDefault(
            $"""
            SELECT {Columns} FROM int8_evaluations
            WHERE model_hash = $hash AND dataset = $dataset AND calibration_subset = $calibration
              AND evaluation_subset = $evaluation AND configuration = $configuration;
            """,
            Read,
            KeyParameters(key));
    }

    public void Save(StoredInt8Evaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        var m = evaluation.Measured;
        _database.Execute(
            $"""
            INSERT INTO int8_evaluations ({Columns})
            VALUES ($hash, $dataset, $calibration, $evaluation, $configuration, $arch, $top1, $top5, $loss, $samples, $seconds, $job, $created)
            ON CONFLICT (model_hash, dataset, calibration_subset, evaluation_subset, configuration) DO UPDATE SET
                architecture = excluded.architecture, top1 = excluded.top1, top5 = excluded.top5, loss = excluded.loss,
                samples = excluded.samples, seconds = excluded.seconds, job_id = excluded.job_id, created_at = excluded.created_at;
            """,
            [
                .. KeyParameters(evaluation.Key),
                ("$arch", evaluation.Architecture),
                ("$top1", m.Top1),
                ("$top5", m.Top5),
                ("$loss", m.Loss),
                ("$samples", m.Samples),
                ("$seconds", m.Seconds),
                ("$job", evaluation.JobId?.ToString()),
                ("$created", WorkspaceTime.Format(evaluation.CreatedAt)),
            ]);
    }

    /// <summary>Every measurement of one model's weights, newest first (every model's when <paramref name="modelHash"/> is null).</summary>
    public IReadOnlyList<StoredInt8Evaluation> List(string? modelHash = null) =>
        _database.Query(
            $"SELECT {Columns} FROM int8_evaluations WHERE $hash IS NULL OR model_hash = $hash ORDER BY created_at DESC, configuration;",
            Read,
            ("$hash", modelHash));

    private static (string Name, object? Value)[] KeyParameters(Int8EvaluationKey key) =>
    [
        ("$hash", key.ModelHash),
        ("$dataset", key.Dataset),
        ("$calibration", key.CalibrationSubset),
        ("$evaluation", key.EvaluationSubset),
        ("$configuration", key.Configuration),
    ];

    private static StoredInt8Evaluation Read(SqliteDataReader row) => new(
        new Int8EvaluationKey(row.GetString(0), row.GetString(1), row.GetString(2), row.GetString(3), row.GetString(4)),
        row.GetString(5),
        new Int8Measurement(row.GetDouble(6), row.GetDouble(7), row.GetDouble(8), row.GetInt32(9), row.GetDouble(10)),
        row.IsDBNull(11) ? null : Guid.Parse(row.GetString(11)),
        WorkspaceTime.Parse(row.GetString(12)));
}
