using System.Globalization;

namespace CompressionLab.Cli;

/// <summary>A bad command line; <see cref="Argument"/> names the offending argument (e.g. <c>--epochs</c>).</summary>
public sealed class UsageException(string argument, string problem) : Exception($"{argument}: {problem}")
{
    public string Argument { get; } = argument;
}

/// <summary>
/// A file an argument names or leads to (a dataset, a checkpoint, a workspace) that cannot be used: corrupt,
/// truncated or unreadable. Exit code 1 (<see cref="CliApp.Failure"/>) like other failures, with the argument named
/// first, as in a <see cref="UsageException"/>: "--model: Checkpoint /x.ckpt: not a CompressionLab checkpoint".
/// </summary>
public sealed class InputFileException(string argument, string problem, Exception? inner = null) : Exception($"{argument}: {problem}", inner)
{
    public string Argument { get; } = argument;
}

/// <summary>An option a command accepts: <c>--name value</c> (or <c>--name=value</c>), or a bare flag such as <c>--json</c>.</summary>
public sealed record OptionSpec(string Name, string Help, bool IsFlag = false, bool Required = false, string ValueName = "VALUE")
{
    public string Usage => IsFlag ? $"--{Name}" : $"--{Name} {ValueName}";
}

/// <summary>
/// The options given to one command, checked against what the command declares: unknown, repeated,
/// valueless or missing-required options are rejected here; typed getters reject bad values.
/// </summary>
public sealed class ParsedOptions
{
    private readonly Dictionary<string, string?> _values;

    private ParsedOptions(Dictionary<string, string?> values) => _values = values;

    public static ParsedOptions Parse(string command, IReadOnlyList<string> args, IReadOnlyList<OptionSpec> specs)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
                throw new UsageException(arg, $"unexpected argument for '{command}' (options start with --)");
            var name = arg[2..];
            string? inline = null;
            var equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                inline = name[(equals + 1)..];
                name = name[..equals];
            }
            var spec = specs.FirstOrDefault(s => s.Name == name)
                ?? throw new UsageException($"--{name}", $"unknown option for '{command}' (it takes {string.Join(", ", specs.Select(s => "--" + s.Name))})");
            if (values.ContainsKey(name)) throw new UsageException($"--{name}", "given more than once");

            if (spec.IsFlag)
            {
                if (inline is not null) throw new UsageException($"--{name}", "is a flag and takes no value");
                values[name] = null;
                continue;
            }
            var value = inline;
            if (value is null)
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new UsageException($"--{name}", $"needs a value ({spec.Usage})");
                value = args[++i];
            }
            if (string.IsNullOrWhiteSpace(value)) throw new UsageException($"--{name}", "the value is empty");
            values[name] = value;
        }
        foreach (var spec in specs.Where(s => s.Required && !values.ContainsKey(s.Name)))
            throw new UsageException($"--{spec.Name}", $"is required for '{command}' ({spec.Usage})");
        return new ParsedOptions(values);
    }

    public bool Flag(string name) => _values.ContainsKey(name);

    public string? String(string name) => _values.GetValueOrDefault(name);

    public string RequiredString(string name) =>
        String(name) ?? throw new UsageException($"--{name}", "is required");

    /// <summary>The option as a whole number in [<paramref name="min"/>, <paramref name="max"/>], or null when absent.</summary>
    public int? Int(string name, int min, int max)
    {
        var text = String(name);
        if (text is null) return null;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw new UsageException($"--{name}", $"'{text}' is not a whole number");
        if (value < min || value > max)
            throw new UsageException($"--{name}", $"must be between {min} and {max} (got {value})");
        return value;
    }

    /// <summary>The option if it is one of <paramref name="allowed"/>, or null when absent.</summary>
    public string? Choice(string name, params string[] allowed)
    {
        var text = String(name);
        if (text is null || allowed.Contains(text, StringComparer.Ordinal)) return text;
        throw new UsageException($"--{name}", $"'{text}' is not one of {string.Join(", ", allowed)}");
    }
}
