using System.Buffers.Binary;
using CompressionLab.Core.Distillation;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>
/// Models' logits on analysis subsets in the workspace database (<c>model_logits</c>), one row per (weights hash, dataset,
/// subset): the distillation comparison computes a model's logits once and reads them back after that.
/// </summary>
/// <remarks>Safe to use from several threads and processes (WAL, one connection per call); the newest write of a key wins.</remarks>
public sealed class LogitsStore
{
    private readonly WorkspaceDatabase _database;

    public LogitsStore(WorkspaceDatabase database) => _database = database ?? throw new ArgumentNullException(nameof(database));

    public ModelLogits? Find(string weightsHash, string dataset, string subsetKey) =>
        _database.QuerySingleOrDefault(
            """
            SELECT model_hash, dataset, subset, model_name, rows, classes, logits, labels FROM model_logits
            WHERE model_hash = $hash AND dataset = $dataset AND subset = $subset;
            """,
            Read,
            ("$hash", weightsHash), ("$dataset", dataset), ("$subset", subsetKey));

    public void Save(ModelLogits logits, string dataset)
    {
        ArgumentNullException.ThrowIfNull(logits);
        logits.Validate();
        var values = new byte[logits.Values.Length * sizeof(float)];
        for (var i = 0; i < logits.Values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(values.AsSpan(i * 4), logits.Values[i]);
        var labels = new byte[logits.Labels.Length * sizeof(int)];
        for (var i = 0; i < logits.Labels.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(labels.AsSpan(i * 4), logits.Labels[i]);
        _database.Execute(
            """
            INSERT INTO model_logits (model_hash, dataset, subset, model_name, rows, classes, logits, labels, created_at)
            VALUES ($hash, $dataset, $subset, $name, $rows, $classes, $logits, $labels, $created)
            ON CONFLICT (model_hash, dataset, subset) DO UPDATE SET
                model_name = excluded.model_name, rows = excluded.rows, classes = excluded.classes,
                logits = excluded.logits, labels = excluded.labels, created_at = excluded.created_at;
            """,
            ("$hash", logits.WeightsHash), ("$dataset", dataset), ("$subset", logits.SubsetKey), ("$name", logits.Model),
            ("$rows", logits.Rows), ("$classes", logits.Classes), ("$logits", values), ("$labels", labels),
            ("$created", WorkspaceTime.Format(DateTimeOffset.UtcNow)));
    }

    private static ModelLogits Read(SqliteDataReader row)
    {
        var (rows, classes) = (row.GetInt32(4), row.GetInt32(5));
        var bytes = (byte[])row.GetValue(6);
        var labelBytes = (byte[])row.GetValue(7);
        if (bytes.Length != (long)rows * classes * sizeof(float) || labelBytes.Length != rows * sizeof(int))
            throw new InvalidDataException($"The workspace's logits of {row.GetString(3)} on {row.GetString(2)} are damaged: {bytes.Length} bytes of logits and {labelBytes.Length} of labels for {rows} images × {classes} classes.");
        var values = new float[rows * classes];
        for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        var labels = new int[rows];
        for (var i = 0; i < rows; i++) labels[i] = BinaryPrimitives.ReadInt32LittleEndian(labelBytes.AsSpan(i * 4));
        return new ModelLogits(row.GetString(3), row.GetString(0), row.GetString(2), rows, classes, values, labels);
    }
}
