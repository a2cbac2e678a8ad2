using System.Text.Json;
using CompressionLab.Cli;

namespace CompressionLab.Tests.Cli;

/// <summary>Runs the CLI in-process, as a shell would, and reads its contracted JSON line.</summary>
internal static class InProcessCli
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = CliApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>With <c>--json</c> the last line printed is one JSON object.</summary>
    public static JsonElement LastJsonLine(string output) =>
        JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1]).RootElement;
}
