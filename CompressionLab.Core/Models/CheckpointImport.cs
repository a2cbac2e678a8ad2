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
    /// <summary>What the folders of staged uploads are called, inside the models folder.</summary>
    public const string StagingPrefix = ".upload-";

    /// <summary>
    /// Deletes staged uploads left behind by a process that crashed before its import job ended (a job that
    /// ends, however it ends, deletes its own). Only folders untouched for <paramref name="olderThan"/> go, so
    /// an upload another dashboard on the same workspace is receiving right now is left alone.
    /// </summary>
    /// <returns>How many staging folders were deleted.</returns>
    public static int DeleteAbandonedStaging(ModelStore store, TimeSpan olderThan, DateTime? nowUtc = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!Directory.Exists(store.ModelsFolder)) return 0;
        var cutoff = (nowUtc ?? DateTime.UtcNow) - olderThan;
        var deleted = 0;
        foreach (var folder in Directory.EnumerateDirectories(store.ModelsFolder, StagingPrefix + "*"))
        {
            var lastWrite = Directory.EnumerateFiles(folder).Select(File.GetLastWriteTimeUtc).Append(Directory.GetLastWriteTimeUtc(folder)).Max();
            if (lastWrite > cutoff) continue;
            try
            {
                Directory.Delete(folder, recursive: true);
                deleted++;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Still in use or not ours to delete: try again at the next start.
            }
        }
        return deleted;
    }

    /// <summary>Validates <paramref name="file"/> and stores a copy of it.</summary>
    /// <param name="displayName">Null: the file's name without its extension.</param>
    /// <param name="cancellationToken">Honoured until the file is valid; from then on the copy is stored whole or not at all.</param>
    public static CheckpointImportResult Import(ModelStore store, string file, string? displayName = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(file);

        cancellationToken.ThrowIfCancellationRequested();
        CheckpointMetadata metadata;
        using (var checkpoint = Checkpoint.Load(file)) metadata = checkpoint.Metadata;

        string hash;
        using (var stream = File.OpenRead(file)) hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (store.FindByHash(hash) is { } existing) return new CheckpointImportResult(existing, AlreadyPresent: true);
        cancellationToken.ThrowIfCancellationRequested();

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

    /// <summary>Validates and stores a staged upload under its original name (errors name the file the person chose, not the staged copy).</summary>
    public static CheckpointImportResult Import(ModelStore store, StagedCheckpoint staged, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(staged);
        try
        {
            return Import(store, staged.FilePath, cancellationToken: cancellationToken);
        }
        catch (CheckpointException e)
        {
            throw new CheckpointException(staged.FileName, e.Problem, e);
        }
    }

    /// <summary>
    /// Copies <paramref name="content"/> (e.g. a browser upload) to a temporary file inside the workspace, in a
    /// folder of its own under <paramref name="fileName"/>'s name; dispose the result to delete it. Nothing is
    /// checked yet: that is <see cref="Import(ModelStore, StagedCheckpoint, CancellationToken)"/>'s work, done by
    /// an import job (<see cref="CheckpointImportJob"/>), because it loads the model with TorchSharp.
    /// </summary>
    /// <remarks>A copy that fails or is cancelled leaves nothing behind.</remarks>
    public static async Task<StagedCheckpoint> StageAsync(ModelStore store, Stream content, string fileName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(content);
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);

        var name = Path.GetFileName(fileName);
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException($"'{fileName}' does not name a file.", nameof(fileName));
        Directory.CreateDirectory(store.ModelsFolder);
        var staged = new StagedCheckpoint(Path.Combine(store.ModelsFolder, $"{StagingPrefix}{Guid.NewGuid():N}"), name);
        try
        {
            Directory.CreateDirectory(staged.Folder);
            await using (var output = new FileStream(staged.FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await content.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            }
            staged.Bytes = new FileInfo(staged.FilePath).Length;
            return staged;
        }
        catch
        {
            staged.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Stages <paramref name="content"/> and imports it at once, on the calling thread (the CLI and tests;
    /// the dashboard runs the import as a job); the temporary file is always deleted.
    /// </summary>
    public static async Task<CheckpointImportResult> ImportAsync(ModelStore store, Stream content, string fileName, CancellationToken cancellationToken = default)
    {
        using var staged = await StageAsync(store, content, fileName, cancellationToken).ConfigureAwait(false);
        return Import(store, staged, cancellationToken);
    }
}

/// <summary>
/// An uploaded checkpoint copied into a temporary folder of the workspace, not yet checked. Disposing it deletes
/// the folder; that is safe from any thread and more than once (the import job and the job's end both do it).
/// </summary>
public sealed class StagedCheckpoint : IDisposable
{
    private int _deleted;

    internal StagedCheckpoint(string folder, string fileName)
    {
        Folder = folder;
        FileName = fileName;
        FilePath = Path.Combine(folder, fileName);
    }

    /// <summary>The temporary folder, inside the workspace's models folder.</summary>
    public string Folder { get; }

    /// <summary>The name the person chose (no folder).</summary>
    public string FileName { get; }

    /// <summary>The staged copy: <see cref="FileName"/> inside <see cref="Folder"/>.</summary>
    public string FilePath { get; }

    public long Bytes { get; internal set; }

    public bool IsDeleted => Volatile.Read(ref _deleted) == 1;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _deleted, 1) == 0 && Directory.Exists(Folder))
        {
            Directory.Delete(Folder, recursive: true);
        }
    }
}
