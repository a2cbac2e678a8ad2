using System.Text.Json;
using System.Text.Json.Serialization;

namespace CompressionLab.Cli;

/// <summary>
/// How every command writes its result: a typed record as one JSON object on one line (scripts read the last line),
/// keys in snake_case, enums as their snake_case names, accuracies as fractions.
/// </summary>
public static class CliJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = false,
    };

    public static void WriteLine<T>(TextWriter output, T result) => output.WriteLine(JsonSerializer.Serialize(result, Options));

    /// <summary>Fractions and seconds rounded for reading; four to six digits are more than a measurement carries.</summary>
    public static double Round(double value, int digits = 6) => Math.Round(value, digits);
}
