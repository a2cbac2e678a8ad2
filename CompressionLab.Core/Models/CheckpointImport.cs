using System.Security.Cryptography;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <param name="AlreadyPresent">The workspace held these exact bytes already; <see cref="Model"/> is that earlier record.</param>
public sealed record CheckpointImportResult(ModelRecord Model, bool AlreadyPresent);

/// <summary>
/// Brings a checkpoint file from outside (an upload, a path) into the workspace, but only once it has been
/// read in full: signature, metadata, weights hash, architecture, and every tensor's name and shape. A file
/// that fails any check throws a <see cref="CheckpointException"/> and leaves the workspace unchanged.
/// </summary>
public static class CheckpointImport
{
    /// <summary>Validates <paramref name="file"/> and stores a copy of it.</summary>
    /// <param name="displayName">Null: the file's name without its extension.</param>
    public static CheckpointImportResult Import(ModelStore store, string file, string? displayName = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(file);

        CheckpointMetadata metadata;
        using (var checkpoint = Checkpoint.Load(file)) metadata = checkpoint.Metadata;

        string hash;
        using (var stream = File.OpenRead(file)) hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (store.FindByHash(hash) is { } existing) return new CheckpointImportResult(existing, AlreadyPresent: true);

        var name = string.IsNullOrWhiteSpace(displayName) ? Path.GetFileNameWithoutExtension(file) : displayName.Trim();
        if (string.IsNullOrWhiteSpace(name)) name = metadata.Architecture;
        var details = ModelJobJson.Write(new
        {
            source = "imported",
            classNames = metadata.ClassNames,
            training = metadata.Training,
            savedAt = metadata.CreatedAt,
            weightsHash = metadata.ContentHash,
        });
        var record = store.Import(file, new ModelEntry(name, metadata.Architecture, metadata.Dataset, metadata.Top1, metadata.ParameterCount, details));
        return new CheckpointImportResult(record, AlreadyPresent: false);
    }

    /// <summary>
    /// Copies <paramref name="content"/> (e.g. a browser upload) to a temporary file inside the workspace, then
    /// <see cref="Import(ModelStore, string, string?)"/>s it under <paramref name="fileName"/>'s name; the temporary file is always deleted.
    /// </summary>
    public static async Task<CheckpointImportResult> ImportAsync(ModelStore store, Stream content, string fileName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(content);
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);

        Directory.CreateDirectory(store.ModelsFolder);
        // A folder of its own under the original name, so error messages name the file the person chose.
        var folder = Path.Combine(store.ModelsFolder, $".upload-{Guid.NewGuid():N}");
        var staged = Path.Combine(folder, Path.GetFileName(fileName));
        try
        {
            Directory.CreateDirectory(folder);
            await using (var output = new FileStream(staged, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await content.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            }
            try
            {
                return Import(store, staged);
            }
            catch (CheckpointException e)
            {
                // The staged path means nothing to the person who uploaded the file.
                throw new CheckpointException(fileName, e.Problem, e);
            }
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }
}
