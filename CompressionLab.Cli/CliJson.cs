using System.Text.Json;

namespace CompressionLab.Cli;

/// <summary>Writes a command's result as one JSON object on one line (scripts read the last line).</summary>
public static class CliJson
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = false };

    public static void WriteLine(TextWriter output, object result) =>
        output.WriteLine(JsonSerializer.Serialize(result, Options));

    /// <summary>Fractions and seconds rounded for reading; four to six digits are more than a measurement carries.</summary>
    public static double Round(double value, int digits = 6) => Math.Round(value, digits);
}
