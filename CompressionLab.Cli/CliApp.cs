using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Data.Common;
using System.Globalization;
using System.Runtime.InteropServices;
using CompressionLab.Cli.Commands;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli;

/// <summary>
/// The CLI's entry point, callable in-process (tests) as well as from <c>Program</c>: System.CommandLine parses, shows
/// help and dispatches; this class turns what goes wrong into one line <c>error: ARGUMENT: problem</c> and an exit code.
/// </summary>
public static class CliApp
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int BadArguments = 2;
    public const int Cancelled = 130; // as a shell reports a process ended by SIGINT
    public const int InternalError = 70; // EX_SOFTWARE of sysexits.h: a bug, reported with its stack trace

    /// <summary>Every command, the one list of what the CLI can do (help, dispatch and <see cref="ComputesWithTorch"/> read it).</summary>
    public static IReadOnlyList<CliCommand> Commands() =>
        [new DatasetsCommand(), new TrainCommand(), new EvalCommand(), new SweepCommand(), new PlanEvaluateCommand(), new PlanAllocateCommand(), new FinetuneCommand(),
            new ThinCommand(), new KdCompareCommand(), new KdTrainCommand(), new BenchSweepCommand(), new BenchTrainCommand(), new BenchPlanCommand(), new BenchThinCommand(),
            new QuantCompareCommand(), new QuantSensitivityCommand(), new CalibrateCommand(), new BenchCalibrateCommand(),
            new RecipeExportCommand(), new RecipeApplyCommand(),
            new ExportOnnxCommand(), new BenchOnnxCommand(),
            new ExportDialectsCommand(), new ExportStateDictCommand(),
            new ReportCommand()];

    /// <summary>What each group of commands is for, in its help and when it is given without a command.</summary>
    /// <summary>Whether <paramref name="args"/> run a command that computes with TorchSharp (not help, datasets or a typo).</summary>
    public static bool ComputesWithTorch(string[] args)
    {
        var parse = CreateRoot(Commands(), out _).Parse(args);
        return parse.Action is not HelpAction && parse.CommandResult.Command is CliCommand { ComputesWithTorch: true };
    }

    /// <summary>Whether <paramref name="args"/> run a command whose convolutions are all channels-last (<see cref="CliCommand.ChannelsLastConvolutionsOnly"/>).</summary>
    public static bool ConvolvesChannelsLastOnly(string[] args)
    {
        var parse = CreateRoot(Commands(), out _).Parse(args);
        return parse.Action is not HelpAction && parse.CommandResult.Command is CliCommand { ChannelsLastConvolutionsOnly: true };
    }

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        // System.CommandLine ships translations (de, ja, ru...) chosen by the UI culture. The CLI speaks one language: its
        // own messages are English, and its error line quotes the parser's words and reads its typo suggestions, so the
        // parser's must be English too, whatever the user's culture. The caller's culture is restored afterwards.
        var culture = CultureInfo.CurrentUICulture;
        CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
        try
        {
            return RunInvariant(args, output, error, cancellationToken);
        }
        finally
        {
            CultureInfo.CurrentUICulture = culture;
        }
    }

    private static int RunInvariant(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var context = new CliContext(output, error, cancellationToken);
        var commands = Commands();
        var root = CreateRoot(commands, out var config);
        CliCommand? running = null;
        foreach (var command in commands)
        {
            command.SetAction(parse =>
            {
                running = command;
                return command.Execute(parse, context with { Settings = CliSettings.Load(parse.GetValue(config)) });
            });
        }

        var parsed = root.Parse(args);
        var invocation = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        if (parsed.Action is not HelpAction && parsed.Errors.Count > 0)
        {
            error.WriteLine($"error: {Describe(parsed, args)}");
            return BadArguments;
        }
        try
        {
            return parsed.Invoke(invocation);
        }
        catch (UsageException e)
        {
            error.WriteLine($"error: {e.Message}");
            return BadArguments;
        }
        catch (InvalidRequestException e)
        {
            // The job refused a setting: name the option it came from.
            var option = running?.SettingOptions.GetValueOrDefault(e.Setting);
            error.WriteLine(option is null ? $"error: {OneLine(e.Message)}" : $"error: {option}: {OneLine(e.Message)}");
            return BadArguments;
        }
        catch (CheckpointException e) when (running?.SettingOptions.GetValueOrDefault(ModelSource.Setting) is { } option)
        {
            // The request's model is a file that is no usable checkpoint: a bad file behind an argument, named.
            error.WriteLine($"error: {option}: {OneLine(e.Message)}");
            return Failure;
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

    /// <summary>The root command: the commands, grouped by their first word (<c>bench sweep</c>), and <c>--config</c> for all.</summary>
    private static RootCommand CreateRoot(IReadOnlyList<CliCommand> commands, out Option<string?> config)
    {
        config = new Option<string?>("--config")
        {
            Description = "settings file in appsettings.json's shape (its Datasets and Workspace sections); environment variables " +
                          "such as Datasets__Folders__0=/data/fashion-mnist or Workspace__Folder=/srv/clab override it",
            HelpName = "FILE",
            Recursive = true,
        };
        var root = new RootCommand("CompressionLab: train, evaluate and measure the pruning sensitivity of image classifiers (see the README).")
        {
            config,
        };
        foreach (var members in commands.GroupBy(command => command.Group))
        {
            if (members.Key is not { } group)
            {
                foreach (var command in members) root.Subcommands.Add(command);
                continue;
            }
            var choices = string.Join(" or ", members.Select(command => $"'{group.Name} {command.Name}'"));
            var parent = new Command(group.Name, $"{group.Description}: {choices}");
            foreach (var command in members) parent.Subcommands.Add(command);
            // A bare group: say which commands it has.
            parent.SetAction(Refuse(group.Name, $"choose one of its commands: {choices}"));
            root.Subcommands.Add(parent);
        }
        var help = new Command("help", "show the help of every command");
        help.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            foreach (var path in new[] { Array.Empty<string>() }.Concat(commands.Select(CommandPath)))
            {
                root.Parse([.. path, "--help"]).Invoke(parse.InvocationConfiguration);
                output.WriteLine();
            }
            return Success;
        });
        root.Subcommands.Add(help);
        root.SetAction(Refuse("compressionlab", "no command given; see 'compressionlab --help'"));
        return root;
    }

    private static Func<ParseResult, int> Refuse(string argument, string problem) => _ => throw new UsageException(argument, problem);

    /// <summary>The words that name a command from the root, e.g. ["bench", "sweep"].</summary>
    public static string[] CommandPath(CliCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return command.Group is { } group ? [group.Name, command.Name] : [command.Name];
    }

    /// <summary>
    /// A parse error as one line: the argument it concerns, the parser's own words, and the parser's suggestion for a
    /// mistyped command or option.
    /// </summary>
    private static string Describe(ParseResult parsed, IReadOnlyList<string> args)
    {
        var first = parsed.Errors[0];
        var unmatched = parsed.UnmatchedTokens.FirstOrDefault();
        var argument = first.SymbolResult switch
        {
            OptionResult option => option.Option.Name,
            ArgumentResult { Parent: OptionResult option } => option.Option.Name,
            _ => unmatched ?? parsed.CommandResult.Command.Name,
        };
        var problem = Words(first.Message);
        // "--json=yes" reaches the parser as "--json" and an unmatched "yes": name the option the value was given to.
        var inlineValue = false;
        if (unmatched is not null && args.FirstOrDefault(a => a.StartsWith("--", StringComparison.Ordinal) && a.EndsWith("=" + unmatched, StringComparison.Ordinal)) is { } inline)
        {
            argument = inline[..inline.IndexOf('=', StringComparison.Ordinal)];
            problem = $"takes no value (got '{inline}')";
            inlineValue = true;
        }
        // Options given to a group of commands ("bench --model x"): say which commands the group has.
        if (parsed.CommandResult.Command is { Subcommands.Count: > 0 } group and not RootCommand)
            problem = problem.TrimEnd('.') + $"; use {string.Join(" or ", group.Subcommands.Select(c => $"'{group.Name} {c.Name}'"))}.";
        // The parser's suggestion for a mistyped word comes last, as the parser itself writes it.
        if (unmatched is not null && !inlineValue && parsed.Action is ParseErrorAction errorAction)
            problem += Suggestion(parsed, errorAction, unmatched);
        return OneLine($"{argument}: {problem}");
    }

    /// <summary>The library's typo correction for <paramref name="token"/> ("Did you mean one of the following? train"), without its help text.</summary>
    private static string Suggestion(ParseResult parsed, ParseErrorAction errorAction, string token)
    {
        errorAction.ShowHelp = false;
        errorAction.ShowTypoCorrections = true;
        using var captured = new StringWriter();
        parsed.Invoke(new InvocationConfiguration { Output = captured, Error = captured, EnableDefaultExceptionHandler = false });
        // Its layout: the errors, then per unmatched token "'x' was not matched. Did you mean one of the following?" and one candidate a line.
        var lines = captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var start = Array.FindIndex(lines, line => line.StartsWith($"'{token}' was not matched.", StringComparison.Ordinal));
        if (start < 0) return "";
        var candidates = lines.Skip(start + 1).TakeWhile(line => !line.Contains(' ', StringComparison.Ordinal)).ToArray();
        return candidates.Length == 0 ? "" : $" Did you mean {string.Join(" or ", candidates.Select(c => $"'{c}'"))}?";
    }

    /// <summary>The parser's words on one line, its tabs and line breaks as single spaces.</summary>
    private static string Words(string text) => string.Join(' ', text.Split((char[])[' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries));

    /// <summary>
    /// What bad files and a bad machine state raise in the engine (corrupt or truncated datasets, checkpoints and
    /// workspace databases, unreadable or unwritable paths, SQLite errors); each message names the file and the problem.
    /// <see cref="InputFileException"/> also names the argument that led to the file.
    /// </summary>
    /// <remarks>
    /// A native TorchSharp error (an <see cref="ExternalException"/> that is no <see cref="DbException"/>) is not bad
    /// input: reading files through libtorch is wrapped in CheckpointException or TrainingStateException where it
    /// happens, so one that reaches here is a bug (a crash inside a native op) and exits 70 with its stack trace.
    /// </remarks>
    internal static bool IsBadInput(Exception e) =>
        e is InputFileException or IdxFormatException or CheckpointException or TrainingStateException or DatasetDownloadException
            or IOException or InvalidDataException or UnauthorizedAccessException
            or ArgumentException or DbException; // DbException: SqliteException from a damaged or locked workspace database

    internal static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
