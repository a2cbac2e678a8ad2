using CompressionLab.Core.Models;

namespace CompressionLab.Cli;

/// <summary>
/// What <c>train</c> and <c>finetune</c> share around a resumable run: the state file <c>FILE.resume</c> next to
/// <c>--out</c>, the lines about it when the run starts, and the line a stop prints when epochs are saved.
/// </summary>
internal abstract class ResumableRun(TrainingStateSlot slot)
{
    /// <summary>
    /// The state slot of the run that writes <paramref name="output"/>: <c>output.resume</c>. Without --resume an
    /// existing one is refused (exit 2): a fresh run would replace the saved epochs of the earlier run after its first
    /// epoch, and nothing saved may be lost to a forgotten option.
    /// </summary>
    public static TrainingStateSlot Slot(string output, bool resume)
    {
        var path = output + ".resume";
        if (!resume && File.Exists(path))
        {
            string held;
            try
            {
                var header = TrainingState.ReadHeader(path);
                held = $"holds {header.EpochsDone} saved epoch{(header.EpochsDone == 1 ? "" : "s")} of an earlier run";
            }
            catch (Exception e) when (e is TrainingStateException or InvalidDataException or IOException)
            {
                held = $"holds an earlier run that cannot be read ({CliApp.OneLine(e.Message)})";
            }
            throw new UsageException("--resume", $"{path} {held}: add --resume to continue it, or delete it to start over");
        }
        return TrainingStateSlot.File(path, resume);
    }

    public TrainingStateSlot State => slot;

    /// <summary>Epochs finished and saved in the state file so far.</summary>
    public int EpochsSaved { get; protected set; }

    /// <summary>Epochs the run is to train in all.</summary>
    public int Epochs { get; protected set; }

    /// <summary>Runs the job; a stop after saved epochs says how to continue before the cancellation goes on.</summary>
    public T Run<T>(CliContext context, Func<TrainingStateSlot, T> job)
    {
        try
        {
            return job(slot);
        }
        catch (OperationCanceledException) when (EpochsSaved > 0)
        {
            context.Err.WriteLine($"{EpochsSaved} of {Epochs} epochs are saved in {slot.Path}; run the same command with --resume to continue");
            throw;
        }
    }

    /// <summary>The lines about the state file when the run starts (after the plan lines).</summary>
    protected IEnumerable<string> StartLines(string? resumedFrom, int epochsDone, int epochs)
    {
        (EpochsSaved, Epochs) = (epochsDone, epochs);
        if (resumedFrom is { } from)
            yield return $"resuming from {from}: {epochsDone} of {epochs} epochs were done";
        yield return $"after every epoch the run is saved to {slot.Path}; should it stop, run the same command with --resume to continue";
    }
}
