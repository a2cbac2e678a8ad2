using CompressionLab.Core.Jobs;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Cli;

/// <summary>
/// What the commands check before a job body runs, each error naming the option: the workspace, the dataset (loaded
/// into the catalog the job then reads it from), level lists.
/// </summary>
internal static class CommandInputs
{
    /// <summary>Sparsity levels as typed (<c>0,0.1,0.5</c>); a bad one is the request's <c>Levels</c> at fault.</summary>
    public static IReadOnlyList<double>? Levels(string? text)
    {
        if (text is null) return null;
        try
        {
            return SweepLevels.Parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw InvalidRequestException.For(nameof(SweepRequest.Levels), e);
        }
    }

    /// <summary>A comma-separated list, or null when the option was not given.</summary>
    public static IReadOnlyList<string>? List(string? text) =>
        text?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The dataset named on the command line, loaded now so that a bad one is reported against <c>--dataset</c>.</summary>
    public static void LoadDataset(CliContext context, string name) => DatasetSource.Load(context, name);

    /// <summary>
    /// The workspace <paramref name="given"/> names (a relative path from the current folder, like every path option), else the dashboard's (<c>Workspace:Folder</c> of the settings), opened and
    /// migrated now: an unwritable folder is a usage error, a corrupt or too new database a failure, each naming where
    /// the folder came from, before any data is loaded.
    /// </summary>
    public static WorkspaceDatabase OpenWorkspace(string? given, CliContext context)
    {
        var source = given is null ? $"{WorkspaceOptions.SectionName}:{nameof(WorkspaceOptions.Folder)}" : "--workspace";
        WorkspaceDatabase database;
        try
        {
            // Made absolute here: a relative Workspace:Folder of the settings is taken under the per-user data folder, a
            // relative --workspace from where the command runs, as --out, --csv and --model are.
            database = new WorkspaceDatabase(given is null ? context.Settings.Workspace : new WorkspaceOptions { Folder = Path.GetFullPath(given) });
        }
        catch (InvalidOperationException e)
        {
            throw new UsageException(source, e.Message); // no folder given and no per-user data folder to default to
        }
        WritableOutput.Folder(source, database.Folder);
        try
        {
            database.EnsureMigrated();
            return database;
        }
        catch (Exception e) when (e is InvalidOperationException or SqliteException or IOException or UnauthorizedAccessException)
        {
            database.Dispose();
            throw new InputFileException(source, CliApp.OneLine(e.Message), e);
        }
    }
}
