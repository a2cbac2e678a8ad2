namespace CompressionLab.Cli;

/// <summary>A bad command line; <see cref="Argument"/> names the offending argument (e.g. <c>--epochs</c>). Exit code 2.</summary>
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
