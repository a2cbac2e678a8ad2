using System.Text.Json;
using System.Text.Json.Serialization;

namespace CompressionLab.Core.Models;

/// <summary>How the model jobs write their parameters and results: camelCase JSON, enums as names.</summary>
public static class ModelJobJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static string Write<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Reads a document a job wrote; throws <see cref="JsonException"/> naming the type when it is not one.</summary>
    public static T Read<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"Expected a {typeof(T).Name} document, got null.");
}
