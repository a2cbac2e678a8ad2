using CompressionLab.Core.Models;

namespace CompressionLab.Core.Workspace;

/// <summary>
/// The training states of dashboard jobs, one file per job: <c>&lt;workspace&gt;/training/&lt;job id&gt;.state</c>, rewritten
/// after every finished epoch and deleted when the job ends any way but interrupted. A state belongs to one job at a
/// time: resuming moves it to the job that continues the run.
/// </summary>
public sealed class TrainingStateStore(WorkspaceDatabase database)
{
    private readonly WorkspaceDatabase _database = database ?? throw new ArgumentNullException(nameof(database));

    public string Folder => _database.PathInside("training");

    public string PathOf(Guid jobId) => Path.Combine(Folder, $"{jobId}.state");

    /// <summary>The header of the job's saved state; null when it saved none (or it was resumed or deleted).</summary>
    /// <exception cref="TrainingStateException">The file is there but damaged.</exception>
    public TrainingStateHeader? Find(Guid jobId)
    {
        var path = PathOf(jobId);
        try
        {
            return File.Exists(path) ? TrainingState.ReadHeader(path) : null;
        }
        catch (TrainingStateException) when (!File.Exists(path))
        {
            return null; // moved to the job resuming it while it was being read
        }
    }

    /// <summary>Moves the state of <paramref name="fromJob"/> to <paramref name="toJob"/> and returns its new path.</summary>
    /// <exception cref="InvalidOperationException">The first job has no saved state (any more).</exception>
    public string Claim(Guid fromJob, Guid toJob)
    {
        var source = PathOf(fromJob);
        var target = PathOf(toJob);
        try
        {
            File.Move(source, target, overwrite: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InvalidOperationException(
                $"Training job {fromJob} has no saved state any more (was it resumed already?); start the training again.", e);
        }
        return target;
    }

    /// <summary>Deletes the job's state and any temporary file a crash left while writing it; false when there was no state.</summary>
    public bool Delete(Guid jobId) => SignedFileFormat.Delete(PathOf(jobId));
}
