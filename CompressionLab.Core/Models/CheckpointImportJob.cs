using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>What an import job was started with (its parameters): the uploaded file's name and size.</summary>
public sealed record CheckpointImportRequest(string FileName, long Bytes);

/// <summary>What a finished import job stored (its JSON result).</summary>
/// <param name="AlreadyPresent">The workspace held these exact bytes already; the model is that earlier one and nothing was added.</param>
public sealed record CheckpointImportReport(
    string FileName,
    Guid ModelId,
    string DisplayName,
    string Architecture,
    string Dataset,
    double? Top1,
    long ParameterCount,
    bool AlreadyPresent)
{
    public static CheckpointImportReport FromJson(string json) => ModelJobJson.Read<CheckpointImportReport>(json);
}

/// <summary>A checkpoint that was not imported; the message names the file and says why, in words.</summary>
public sealed class CheckpointImportException(string fileName, string message, Exception innerException)
    : Exception(message, innerException)
{
    public string FileName { get; } = fileName;
}

/// <summary>
/// Checks a staged upload in full (it loads the model with TorchSharp) and stores it in the workspace, as a job.
/// A refused file leaves the workspace unchanged. The staged copy is deleted when the work ends, however it
/// ends; <see cref="ModelJobs.StartImport"/> also deletes it when the job ends without having run.
/// </summary>
public static class CheckpointImportJob
{
    public const string Kind = "import";

    public static string Title(string fileName) => $"Import {fileName}";

    public static JobWork Create(StagedCheckpoint staged, ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(staged);
        ArgumentNullException.ThrowIfNull(store);
        return (job, cancellationToken) =>
        {
            try
            {
                return Task.FromResult<string?>(ModelJobJson.Write(Run(staged, store, job.Progress, cancellationToken)));
            }
            finally
            {
                staged.Dispose();
            }
        };
    }

    /// <exception cref="CheckpointImportException">The file is not a valid checkpoint, or storing it failed; the message says which file and why.</exception>
    public static CheckpointImportReport Run(StagedCheckpoint staged, ModelStore store, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(staged);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(progress);

        progress.Report(0, string.Create(CultureInfo.InvariantCulture, $"Checking {staged.FileName} ({staged.Bytes:N0} bytes)"));
        CheckpointImportResult result;
        try
        {
            result = CheckpointImport.Import(store, staged, cancellationToken);
        }
        catch (CheckpointException e)
        {
            throw new CheckpointImportException(staged.FileName, Refusal(staged.FileName, $"{e.Problem}."), e);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever else went wrong (a full disk, a vanished file), the person reads it with the file's name.
            throw new CheckpointImportException(staged.FileName, Refusal(staged.FileName, e.Message), e);
        }

        var model = result.Model;
        progress.Report(1, result.AlreadyPresent ? $"Already in the workspace as \"{model.DisplayName}\"" : $"Stored \"{model.DisplayName}\"");
        return new CheckpointImportReport(staged.FileName, model.Id, model.DisplayName, model.Architecture, model.Dataset, model.Top1,
            model.ParameterCount, result.AlreadyPresent);
    }

    /// <summary>"broken.ckpt was not imported: the weights are corrupt (…)."</summary>
    public static string Refusal(string fileName, string reason) => $"{fileName} was not imported: {reason}";
}
