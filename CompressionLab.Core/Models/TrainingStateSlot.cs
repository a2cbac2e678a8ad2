using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>
/// Where a training run keeps its state after every finished epoch, and which saved state it continues: the one
/// resume mechanism of <see cref="TrainingJob.Run"/>, whichever front end runs it. The dashboard keeps states in the
/// workspace, one per job (<see cref="TrainingStateStore"/>); the CLI keeps it beside the checkpoint it writes
/// (<c>--out FILE</c> → <c>FILE.resume</c>), so that the same command with <c>--resume</c> finds it.
/// </summary>
public abstract class TrainingStateSlot
{
    /// <summary>
    /// The setting a refused resume names (there is no saved state to continue): not a property of the training request
    /// but how a front end runs it (the CLI's <c>--resume</c>, the dashboard's Resume button).
    /// </summary>
    public const string ResumeSetting = "Resume";

    /// <summary>The file the state is written to after every epoch.</summary>
    public abstract string Path { get; }

    /// <summary>Where the state is when this run continues a saved one (for messages); null for a new run.</summary>
    public abstract string? ResumesFrom { get; }

    /// <summary>Takes over the saved state this run continues (null for a new run); called once the data has loaded.</summary>
    /// <exception cref="InvalidRequestException">There is no saved state to continue (<see cref="ResumeSetting"/>).</exception>
    /// <exception cref="TrainingStateException">The saved state is damaged.</exception>
    public abstract TrainingState? TakeOver();

    /// <summary>Drops the saved state once the model is safe (stored or written).</summary>
    public abstract void Release();

    /// <summary>A dashboard job's slot: <c>training/&lt;job id&gt;.state</c>, taken over from <paramref name="resumesJob"/> when given.</summary>
    public static TrainingStateSlot InWorkspace(TrainingStateStore states, Guid jobId, Guid? resumesJob = null) =>
        new WorkspaceSlot(states ?? throw new ArgumentNullException(nameof(states)), jobId, resumesJob);

    /// <summary>A file of its own, continued when <paramref name="resume"/> (then it must exist).</summary>
    public static TrainingStateSlot File(string path, bool resume) =>
        new FileSlot(System.IO.Path.GetFullPath(path ?? throw new ArgumentNullException(nameof(path))), resume);

    private sealed class WorkspaceSlot(TrainingStateStore states, Guid jobId, Guid? resumesJob) : TrainingStateSlot
    {
        public override string Path => states.PathOf(jobId);

        public override string? ResumesFrom => resumesJob is { } earlier ? states.PathOf(earlier) : null;

        // The state moves to this job, so that the interrupted job no longer offers Resume.
        public override TrainingState? TakeOver() => resumesJob is { } earlier ? TrainingState.Load(states.Claim(earlier, jobId)) : null;

        public override void Release() => states.Delete(jobId);
    }

    private sealed class FileSlot(string path, bool resume) : TrainingStateSlot
    {
        public override string Path => path;

        public override string? ResumesFrom => resume ? path : null;

        public override TrainingState? TakeOver()
        {
            if (!resume) return null;
            if (!System.IO.File.Exists(path))
                throw new InvalidRequestException(ResumeSetting, $"{path} not found: there is no stopped run to continue (run without --resume to start one)");
            return TrainingState.Load(path);
        }

        public override void Release() => SignedFileFormat.Delete(path);
    }
}
