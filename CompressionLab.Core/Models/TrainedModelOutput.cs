using System.Diagnostics;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>
/// What the jobs that train a model (<see cref="TrainingJob"/>, <see cref="Pruning.FineTuneJob"/>) share about where the
/// model goes: the file the request names or the workspace, checked before any work, and the workspace import through
/// a temporary file that never stays behind.
/// </summary>
internal static class TrainedModelOutput
{
    /// <summary>The argument checks both Run bodies start with (the request itself is validated by the caller).</summary>
    public static void CheckArguments(object request, DatasetCatalog catalog, IJobProgress progress, string? outputFile, ModelStore? store)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        if (outputFile is null && store is null) throw new ArgumentNullException(nameof(store), "A model stored in the workspace needs its model store.");
    }

    /// <summary>
    /// Saves the model with <paramref name="save"/> to a temporary file in the workspace's models folder and imports it
    /// with the entry <paramref name="entry"/> makes of its metadata and the seconds so far; then the run's saved state is
    /// released (the model is safe). The temporary file is deleted whatever happens.
    /// </summary>
    public static (ModelRecord Record, CheckpointMetadata Metadata, double Seconds) StoreInWorkspace(
        ModelStore store, string prefix, Func<string, CheckpointMetadata> save, Func<CheckpointMetadata, double, ModelEntry> entry,
        TrainingStateSlot? slot, Stopwatch clock)
    {
        Directory.CreateDirectory(store.ModelsFolder);
        var temporary = Path.Combine(store.ModelsFolder, $".{prefix}-{Guid.NewGuid():N}.tmp");
        try
        {
            var metadata = save(temporary);
            var seconds = clock.Elapsed.TotalSeconds;
            var record = store.Import(temporary, entry(metadata, seconds));
            slot?.Release();
            return (record, metadata, seconds);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
