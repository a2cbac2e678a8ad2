using System.Runtime.InteropServices;
using CompressionLab.Cli.Commands;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli;

/// <summary>What a command gets to work with: where to print, and a token that Ctrl+C cancels.</summary>
/// <param name="Out">Results; with <c>--json</c> the last line written here is the JSON object.</param>
/// <param name="Err">Progress and errors.</param>
public sealed record CliContext(TextWriter Out, TextWriter Err, CancellationToken CancellationToken)
{
    /// <summary>The dashboard's dataset and workspace settings, from <c>--config</c> and the environment.</summary>
    public CliSettings Settings { get; init; } = new(new(), new());
}

/// <summary>A headless command: declares its options and runs with them parsed.</summary>
public interface ICliCommand
{
    string Name { get; }
    string Summary { get; }
    IReadOnlyList<OptionSpec> Options { get; }

    /// <summary>Runs the command; returns the exit code. Throws <see cref="UsageException"/> for bad arguments.</summary>
    int Run(ParsedOptions options, CliContext context);
}

/// <summary>The CLI's entry point, callable in-process (tests) as well as from <c>Program</c>.</summary>
public static class CliApp
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int BadArguments = 2;
    public const int Cancelled = 130; // as a shell reports a process ended by SIGINT
    public const int InternalError = 70; // EX_SOFTWARE of sysexits.h: a bug, reported with its stack trace

    public static IReadOnlyList<ICliCommand> Commands { get; } = [new DatasetsCommand(), new TrainCommand(), new EvalCommand(), new SweepCommand(), new BenchSweepCommand(), new BenchTrainCommand()];

    /// <summary>Whether <paramref name="args"/> start a command that computes with TorchSharp (not help, datasets or a typo).</summary>
    public static bool IsComputeCommand(string[] args) =>
        args is [("train" or "eval" or "sweep"), ..] or ["bench", ("sweep" or "train"), ..];

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        if (args.Length == 0)
        {
            error.WriteLine("error: no command given. " + CommandList());
            return BadArguments;
        }
        if (args[0] is "help" or "--help" or "-h")
        {
            WriteHelp(output);
            return Success;
        }
        // A command's name may be two words ("bench sweep"); the longest name that starts the arguments wins.
        var command = Commands
            .Where(c => c.Name.Split(' ') is var words && words.Length <= args.Length && words.SequenceEqual(args[..words.Length]))
            .MaxBy(c => c.Name.Length);
        if (command is null)
        {
            var group = Commands.Where(c => c.Name.StartsWith(args[0] + " ", StringComparison.Ordinal)).Select(c => $"'{c.Name}'").ToArray();
            error.WriteLine(group.Length > 0
                ? $"error: {string.Join(' ', args.Take(2))}: unknown command; use {string.Join(" or ", group)}."
                : $"error: {args[0]}: unknown command. {CommandList()}");
            return BadArguments;
        }
        try
        {
            var options = ParsedOptions.Parse(command.Name, args[command.Name.Split(' ').Length..], [.. command.Options, CliSettings.ConfigOption]);
            var settings = CliSettings.Load(options.String(CliSettings.ConfigOption.Name));
            return command.Run(options, new CliContext(output, error, cancellationToken) { Settings = settings });
        }
        catch (UsageException e)
        {
            error.WriteLine($"error: {e.Message}");
            return BadArguments;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled");
            return Cancelled;
        }
        catch (Exception e) when (IsBadInput(e))
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return Failure;
        }
        catch (Exception e)
        {
            // A bug, not bad input: still one error line first and an exit code for scripts, never an abort with a
            // core dump; the stack trace follows for the report.
            error.WriteLine($"error: internal error ({e.GetType().Name}): {OneLine(e.Message)}");
            error.WriteLine(e.ToString());
            return InternalError;
        }
    }

    /// <summary>
    /// What bad files and a bad machine state raise in the engine (corrupt or truncated datasets, checkpoints and
    /// workspace databases, unreadable or unwritable paths, native TorchSharp and SQLite errors); each message names
    /// the file and the problem. <see cref="InputFileException"/> also names the argument that led to the file.
    /// </summary>
    private static bool IsBadInput(Exception e) =>
        e is InputFileException or IdxFormatException or CheckpointException or TrainingStateException or DatasetDownloadException
            or IOException or InvalidDataException or UnauthorizedAccessException
            or ArgumentException or ExternalException; // ExternalException: TorchSharp's native errors and SqliteException (a DbException)

    private static string CommandList() => $"Commands: {string.Join(", ", Commands.Select(c => c.Name))} (see 'help').";

    private static void WriteHelp(TextWriter output)
    {
        output.WriteLine("compressionlab <command> [options]");
        foreach (var command in Commands)
        {
            output.WriteLine();
            output.WriteLine($"  {command.Name}: {command.Summary}");
            foreach (var option in command.Options)
                output.WriteLine($"    {option.Usage,-22} {option.Help}{(option.Required ? " (required)" : "")}");
        }
        output.WriteLine();
        output.WriteLine("  every command also takes:");
        output.WriteLine($"    {CliSettings.ConfigOption.Usage,-22} {CliSettings.ConfigOption.Help}");
        output.WriteLine();
        output.WriteLine("  Dataset folders and the workspace come from the same settings as the dashboard's: the --config file, then");
        output.WriteLine("  environment variables such as Datasets__Folders__0=/data/fashion-mnist or Workspace__Folder=/srv/clab, which");
        output.WriteLine("  override it. Without them the defaults apply (see the README).");
    }

    internal static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
