using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>What the caller knows about a checkpoint it hands to the workspace.</summary>
/// <param name="DisplayName">What a person reads in the model list.</param>
/// <param name="Architecture">Zoo name, e.g. <c>vgg-small</c>.</param>
/// <param name="Dataset">Dataset the model was trained on, e.g. <c>fashion-mnist</c>.</param>
/// <param name="Top1">Top-1 accuracy as a fraction in [0, 1], when measured.</param>
/// <param name="ParameterCount">Number of weights and biases.</param>
/// <param name="MetadataJson">Anything else worth keeping (training settings, ...), as a JSON document.</param>
public sealed record ModelEntry(
    string DisplayName,
    string Architecture,
    string Dataset,
    double? Top1,
    long ParameterCount,
    string? MetadataJson = null);

/// <summary>A checkpoint held by the workspace.</summary>
/// <param name="ContentHash">Lower-case hex SHA-256 of the whole checkpoint file (header included), which names it in the store; analysis results are keyed by the weights hash in its header instead (<see cref="CheckpointMetadata.ContentHash"/>).</param>
/// <param name="FilePath">Absolute path of the stored file, <c>&lt;workspace&gt;/models/&lt;hash&gt;.ckpt</c>.</param>
public sealed record ModelRecord(
    Guid Id,
    string DisplayName,
    string Architecture,
    string Dataset,
    double? Top1,
    long ParameterCount,
    string ContentHash,
    string FilePath,
    DateTimeOffset CreatedAt,
    string MetadataJson);

/// <summary>
/// Checkpoint files stored by content (<c>models/&lt;sha256&gt;.ckpt</c>) with one <c>models</c> row each.
/// Knows nothing of the checkpoint format: callers read the file to fill <see cref="ModelEntry"/>.
/// </summary>
public sealed class ModelStore
{
    private const string Columns =
        "id, display_name, architecture, dataset, top1, parameter_count, content_hash, file_path, created_at, metadata_json";

    private readonly WorkspaceDatabase _database;
    private readonly TimeProvider _time;

    public ModelStore(WorkspaceDatabase database, TimeProvider? time = null)
    {
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The folder the checkpoint files live in.</summary>
    public string ModelsFolder => _database.PathInside("models");

    /// <summary>
    /// Copies <paramref name="sourceFile"/> into the workspace and records it. Importing the same bytes
    /// again returns the existing record unchanged (whatever the new metadata says).
    /// </summary>
    public ModelRecord Import(string sourceFile, ModelEntry metadata)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceFile);
        CheckEntry(metadata);
        if (Directory.Exists(sourceFile))
        {
            throw new ArgumentException($"'{sourceFile}' is a folder, not a checkpoint file.", nameof(sourceFile));
        }

        if (!File.Exists(sourceFile))
        {
            throw new FileNotFoundException($"Checkpoint file '{sourceFile}' not found.", sourceFile);
        }

        using var source = new FileStream(sourceFile, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return Import(source, metadata, sourceFile);
    }

    /// <summary>Stores a checkpoint read from <paramref name="content"/> (e.g. a browser upload); see <see cref="Import(string, ModelEntry)"/>.</summary>
    /// <param name="sourceName">Names the source in error messages.</param>
    public ModelRecord Import(Stream content, ModelEntry metadata, string sourceName = "the uploaded checkpoint")
    {
        ArgumentNullException.ThrowIfNull(content);
        CheckEntry(metadata);

        var folder = ModelsFolder;
        Directory.CreateDirectory(folder);
        // Written beside its final place so the move below is a rename on the same file system (atomic).
        var temporary = Path.Combine(folder, $".import-{Guid.NewGuid():N}.tmp");
        try
        {
            var (hash, length) = CopyHashing(content, temporary, sourceName);
            if (length == 0)
            {
                throw new InvalidDataException($"Checkpoint '{sourceName}' is empty (0 bytes); it cannot be a model.");
            }

            var relativePath = $"models/{hash}.ckpt";
            var target = _database.PathInside(relativePath);
            if (!File.Exists(target) || new FileInfo(target).Length != length)
            {
                File.Move(temporary, target, overwrite: true);
            }

            return FindByHash(hash) ?? Insert(metadata, hash, relativePath);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    /// <summary>All models, newest first.</summary>
    public IReadOnlyList<ModelRecord> List() =>
        _database.Query($"SELECT {Columns} FROM models ORDER BY created_at DESC, rowid DESC;", ReadRecord);

    public ModelRecord? Get(Guid id) =>
        _database.QuerySingleOrDefault($"SELECT {Columns} FROM models WHERE id = $id;", ReadRecord, ("$id", id.ToString()));

    /// <summary>The model with this id; an <see cref="ArgumentException"/> saying so when the workspace has none (e.g. it was deleted).</summary>
    public ModelRecord GetRequired(Guid id) =>
        Get(id) ?? throw new ArgumentException($"There is no model with id {id} in the workspace (was it deleted?).");

    /// <summary>The model whose file has this SHA-256 (hex, any case), if the workspace holds it.</summary>
    public ModelRecord? FindByHash(string contentHash)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(contentHash);
        return _database.QuerySingleOrDefault($"SELECT {Columns} FROM models WHERE content_hash = $hash;", ReadRecord,
            ("$hash", contentHash.Trim().ToLowerInvariant()));
    }

    /// <summary>Removes the row and its checkpoint file; false when there is no such model.</summary>
    public bool Delete(Guid id) => _database.InTransaction(transaction =>
    {
        var relativePath = transaction.QuerySingleOrDefault("SELECT file_path FROM models WHERE id = $id;",
            row => row.GetString(0), ("$id", id.ToString()));
        if (relativePath is null)
        {
            return false;
        }

        transaction.Execute("DELETE FROM models WHERE id = $id;", ("$id", id.ToString()));
        // Content hashes are unique, so no other row shares this file. If deleting it fails the row stays.
        File.Delete(_database.PathInside(relativePath));
        return true;
    });

    /// <summary>Records a newly measured top-1 (fraction in [0, 1], or null to clear it); null when there is no such model.</summary>
    public ModelRecord? UpdateAccuracy(Guid id, double? top1)
    {
        CheckTop1(top1, nameof(top1));
        var updated = _database.Execute("UPDATE models SET top1 = $top1 WHERE id = $id;", ("$top1", top1), ("$id", id.ToString()));
        return updated == 0 ? null : Get(id);
    }

    private ModelRecord Insert(ModelEntry metadata, string hash, string relativePath)
    {
        var record = new ModelRecord(
            Guid.CreateVersion7(),
            metadata.DisplayName.Trim(),
            metadata.Architecture.Trim(),
            metadata.Dataset.Trim(),
            metadata.Top1,
            metadata.ParameterCount,
            hash,
            _database.PathInside(relativePath),
            _time.GetUtcNow(),
            string.IsNullOrWhiteSpace(metadata.MetadataJson) ? "{}" : metadata.MetadataJson);

        // ON CONFLICT: another process imported the same bytes a moment ago; its row wins.
        var inserted = _database.Execute(
            $"""
            INSERT INTO models ({Columns})
            VALUES ($id, $name, $arch, $dataset, $top1, $params, $hash, $path, $created, $metadata)
            ON CONFLICT (content_hash) DO NOTHING;
            """,
            ("$id", record.Id.ToString()),
            ("$name", record.DisplayName),
            ("$arch", record.Architecture),
            ("$dataset", record.Dataset),
            ("$top1", record.Top1),
            ("$params", record.ParameterCount),
            ("$hash", hash),
            ("$path", relativePath),
            ("$created", WorkspaceTime.Format(record.CreatedAt)),
            ("$metadata", record.MetadataJson));
        return inserted == 1
            ? record
            : FindByHash(hash) ?? throw new InvalidOperationException($"The model with hash {hash} vanished while it was being imported.");
    }

    private static (string Hash, long Length) CopyHashing(Stream content, string destination, string sourceName)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long length = 0;
        using (var output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1))
        {
            while (true)
            {
                int read;
                try
                {
                    read = content.Read(buffer);
                }
                catch (IOException ex)
                {
                    throw new IOException($"Could not read checkpoint '{sourceName}' after {length} bytes: {ex.Message}", ex);
                }

                if (read == 0)
                {
                    break;
                }

                sha.AppendData(buffer.AsSpan(0, read));
                output.Write(buffer.AsSpan(0, read));
                length += read;
            }

            // On disk before the rename makes it visible under its final name.
            output.Flush(flushToDisk: true);
        }

        return (Convert.ToHexStringLower(sha.GetHashAndReset()), length);
    }

    private ModelRecord ReadRecord(SqliteDataReader row) => new(
        Guid.Parse(row.GetString(0)),
        row.GetString(1),
        row.GetString(2),
        row.GetString(3),
        row.IsDBNull(4) ? null : row.GetDouble(4),
        row.GetInt64(5),
        row.GetString(6),
        _database.PathInside(row.GetString(7)),
        WorkspaceTime.Parse(row.GetString(8)),
        row.GetString(9));

    private static void CheckEntry(ModelEntry metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (string.IsNullOrWhiteSpace(metadata.DisplayName))
        {
            throw new ArgumentException("A model needs a display name.", nameof(metadata));
        }

        if (string.IsNullOrWhiteSpace(metadata.Architecture))
        {
            throw new ArgumentException($"Model '{metadata.DisplayName}' needs an architecture name.", nameof(metadata));
        }

        if (string.IsNullOrWhiteSpace(metadata.Dataset))
        {
            throw new ArgumentException($"Model '{metadata.DisplayName}' needs a dataset name.", nameof(metadata));
        }

        if (metadata.ParameterCount < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(metadata), metadata.ParameterCount,
                $"Model '{metadata.DisplayName}' has a negative parameter count.");
        }

        CheckTop1(metadata.Top1, nameof(metadata));
        if (!string.IsNullOrWhiteSpace(metadata.MetadataJson))
        {
            try
            {
                using var _ = JsonDocument.Parse(metadata.MetadataJson);
            }
            catch (JsonException ex)
            {
                throw new ArgumentException($"The metadata of model '{metadata.DisplayName}' is not valid JSON: {ex.Message}", nameof(metadata), ex);
            }
        }
    }

    private static void CheckTop1(double? top1, string parameterName)
    {
        if (top1 is { } value && !(value >= 0 && value <= 1))
        {
            throw new ArgumentOutOfRangeException(parameterName, top1,
                "Top-1 accuracy is a fraction in [0, 1] (0.93, not 93).");
        }
    }
}
