using System.Security.Cryptography;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Cli.Commands;

/// <summary>What the sweep, bench and eval commands read from their options, checked, with the option named in every error.</summary>
internal static class SweepInputs
{
    /// <summary>The dataset catalog the dashboard uses (same settings and search order), so a CLI sweep and a page sweep share cells.</summary>
    public static Dataset LoadDataset(ParsedOptions options, CliContext context) => DatasetSource.Load(context, options.RequiredString("dataset"));

    public static string ModelPath(ParsedOptions options)
    {
        var path = Path.GetFullPath(options.RequiredString("model"));
        return File.Exists(path) ? path : throw new UsageException("--model", $"file not found: {path}");
    }

    public static AnalysisSubset Subset(Dataset dataset, ParsedOptions options)
    {
        var size = options.Int("limit", 1, int.MaxValue) ?? AnalysisSubset.DefaultSize;
        try
        {
            return AnalysisSubset.Validation(dataset, size);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new UsageException("--limit", FirstSentence(e.Message));
        }
    }

    /// <summary>Criterion, norm, levels and layers from the options, resolved against the network's layer table.</summary>
    public static SweepSettings Settings(ParsedOptions options, ClassifierNetwork network, string? defaultCriterion = null)
    {
        var criterionText = options.Choice("criterion", "element", "filter") ?? defaultCriterion
            ?? throw new UsageException("--criterion", "is required (element or filter)");
        var norm = options.Choice("norm", "l1", "l2");
        if (norm is not null && criterionText == "element")
            throw new UsageException("--norm", "only applies to --criterion filter (element pruning ranks single weights by |w|)");
        IReadOnlyList<double> levels = SweepLevels.Default;
        if (options.String("levels") is { } text)
        {
            try
            {
                levels = SweepLevels.Parse(text);
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                throw new UsageException("--levels", FirstSentence(e.Message));
            }
        }
        var layers = options.String("layers")?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var settings = new SweepSettings
        {
            Criterion = PruningCriterionText.ParseCriterion(criterionText),
            Norm = norm is null ? FilterNorm.L1 : PruningCriterionText.ParseNorm(norm),
            Levels = levels,
            Layers = layers,
            BatchSize = options.Int("batch", 1, 65_536) ?? new SweepSettings().BatchSize,
        };
        try
        {
            return settings.Normalize(network);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--layers", e.Message.Split(" (Parameter", 2)[0]);
        }
    }

    /// <summary>The <c>--model</c> checkpoint, checked to take <paramref name="images"/>; a corrupt file names <c>--model</c>.</summary>
    public static Checkpoint LoadCheckpoint(string path, LabeledImages images)
    {
        Checkpoint checkpoint;
        try
        {
            checkpoint = Checkpoint.Load(path);
        }
        catch (CheckpointException e)
        {
            throw new InputFileException("--model", e.Message, e);
        }
        try
        {
            checkpoint.Model.CheckAccepts(images);
            return checkpoint;
        }
        catch (ArgumentException e)
        {
            checkpoint.Dispose();
            throw new UsageException("--dataset", e.Message);
        }
    }

    /// <summary>
    /// The workspace <c>--workspace</c> names, else the dashboard's (<c>Workspace:Folder</c> of the settings), opened and
    /// migrated now: an unwritable folder is a usage error, a corrupt or too new database a failure, each naming where
    /// the folder came from, before any data is loaded.
    /// </summary>
    public static WorkspaceDatabase OpenWorkspace(ParsedOptions options, CliContext context)
    {
        var given = options.String("workspace");
        var source = given is null ? $"{WorkspaceOptions.SectionName}:{nameof(WorkspaceOptions.Folder)}" : "--workspace";
        WorkspaceDatabase database;
        try
        {
            database = new WorkspaceDatabase(given is null ? context.Settings.Workspace : new WorkspaceOptions { Folder = given });
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

    /// <summary>The workspace model whose checkpoint file has these bytes, if the file was imported there.</summary>
    public static ModelRecord? FindStoredModel(ModelStore store, string path)
    {
        using var stream = File.OpenRead(path);
        return store.FindByHash(Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    /// <summary>An exception message up to " (Parameter ...)" that .NET appends to argument exceptions.</summary>
    private static string FirstSentence(string message) => message.Split(" (Parameter", 2)[0].Split(Environment.NewLine, 2)[0];
}
