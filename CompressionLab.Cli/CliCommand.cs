using System.CommandLine;
using System.Globalization;
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

/// <summary>Commands named by a common first word, e.g. <c>bench sweep</c> and <c>bench train</c>.</summary>
public sealed record CommandGroup(string Name, string Description)
{
    public static CommandGroup Bench { get; } = new("bench", "benchmarks of the engine");

    public static CommandGroup Plan { get; } = new("plan", "pruning plans: measure one, or allocate per-layer levels for a target");

    public static CommandGroup Kd { get; } = new("kd", "knowledge distillation: compare teacher and student soft targets across T");

    public static CommandGroup Quant { get; } = new("quant", "simulated INT8: compare calibration methods, or measure each layer's sensitivity");

    public static CommandGroup Recipe { get; } = new("recipe", "compression recipes: export what was done to a model, or apply a recipe to its model and measure it");

    public static CommandGroup Export { get; } = new("export", "the compressed model and plan for other tools: ONNX (checked in ONNX Runtime), PyTorch state dicts, the field's recipe dialects");
}

/// <summary>
/// A command of the CLI: a System.CommandLine <see cref="Command"/> (its options, help and parsing) that says whether it
/// computes with TorchSharp, and which option stands for each setting of the job request it builds.
/// </summary>
public abstract class CliCommand(string name, string description) : Command(name, description)
{
    /// <summary>The group the command is a word of (<c>bench sweep</c>); null for a command of its own (<c>train</c>).</summary>
    public virtual CommandGroup? Group => null;

    /// <summary>Whether the command computes with TorchSharp (Program.cs then lets idle OpenMP threads spin on an idle machine).</summary>
    public abstract bool ComputesWithTorch { get; }

    /// <summary>
    /// Whether every convolution the command runs goes through the zoo network's channels-last forward (training), so that
    /// Program.cs may let oneDNN use AVX-512 where only its NCHW convs are wrong (<see cref="TorchRuntime.PrepareEnvironment"/>).
    /// </summary>
    public virtual bool ChannelsLastConvolutionsOnly => false;

    /// <summary>
    /// The option each request setting comes from (e.g. <c>SubsetSize</c> → <c>--limit</c>), so that a request the job
    /// refuses (<see cref="Core.Jobs.InvalidRequestException"/>) is reported as a bad argument naming the option.
    /// </summary>
    public virtual IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>();

    /// <summary>Runs the command; returns the exit code. Throws <see cref="UsageException"/> for bad arguments.</summary>
    public abstract int Execute(ParseResult parse, CliContext context);

    /// <summary>
    /// How libtorch computes in this process, for a compute command's header line: how idle OpenMP threads wait and which
    /// instruction set oneDNN's convolutions may use (<see cref="TorchRuntime"/>), both decided when the process started.
    /// </summary>
    protected static string RuntimeSettings =>
        $"idle OpenMP threads {TorchRuntime.WaitPolicy}; convolutions: {TorchRuntime.ConvolutionInstructionSet}";

    /// <summary><see cref="RuntimeSettings"/> after libtorch's current intra-op thread count.</summary>
    protected static string ThreadsAndRuntimeSettings =>
        string.Create(CultureInfo.InvariantCulture, $"{TorchSharp.torch.get_num_threads()} threads; {RuntimeSettings}");

    /// <summary>The options every command that prints a result takes.</summary>
    protected static Option<bool> JsonOption() => new("--json") { Description = "print one JSON object as the last line" };

    /// <summary>
    /// An optional whole number, for an option that sets a job request's setting: the parser checks only that it is a
    /// number; the request's <c>Validate</c> owns its limits (one rule, one message, whichever front end asks).
    /// </summary>
    internal static Option<int?> IntOption(string name, string description, string helpName = "N") =>
        new(name) { Description = description, HelpName = helpName };

    /// <summary>
    /// An optional whole number in [<paramref name="min"/>, <paramref name="max"/>], for an option no job request carries
    /// (a benchmark's steps, batch or threads), so that its one check is here.
    /// </summary>
    internal static Option<int?> RangedIntOption(string name, string description, int min, int max)
    {
        var option = new Option<int?>(name) { Description = description, HelpName = "N" };
        option.Validators.Add(result =>
        {
            // Read from the token: a value that is no number is already the parser's error.
            if (result.Tokens is [var token] && int.TryParse(token.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
                && (value < min || value > max))
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"must be between {min} and {max} (got {value})"));
        });
        return option;
    }

    /// <summary>A string option with a help name (and, when <paramref name="required"/>, no default).</summary>
    protected static Option<string> TextOption(string name, string description, string helpName, bool required = false) =>
        new(name) { Description = description, HelpName = helpName, Required = required };
}
