using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Json.Schema;

namespace CompressionLab.Core.Recipes;

/// <summary>A recipe read from a file, and where each of its fields is in the file.</summary>
public sealed record RecipeDocument(CompressionRecipe Recipe, RecipeSourceMap Lines);

/// <summary>How a recipe is written: YAML for people, JSON for programs; the same content either way.</summary>
public enum RecipeTextFormat
{
    Yaml,
    Json,
}

/// <summary>
/// Recipes as YAML and JSON files. Writing: the record through System.Text.Json (snake_case names, absent fields left
/// out) into a tree that is printed as JSON or as YAML, so both hold the same content. Reading, in order, each step
/// naming the line and field of what it refuses: syntax (a malformed or truncated file), <c>format</c> and
/// <c>version</c> (an unknown version is refused, not guessed at), the JSON Schema
/// (<c>schemas/compressionlab-recipe-v1.schema.json</c>), the record, then <see cref="RecipeConsistency"/> (numbers
/// that contradict each other: a file edited by hand).
/// </summary>
public static class RecipeFile
{
    public const string YamlFileName = "recipe.yaml";
    public const string JsonFileName = "recipe.json";

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        // Which fields are required is the schema's to say (checked first, naming the field); optional ones are absent when null.
        RespectRequiredConstructorParameters = false,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file, not HTML: '+' and quotes as themselves
        WriteIndented = true,
        MaxDepth = 32,
    };

    private static readonly Lazy<JsonSchema> Schema = new(() =>
    {
        using var stream = typeof(RecipeFile).Assembly.GetManifestResourceStream("compressionlab-recipe-v1.schema.json")
            ?? throw new InvalidOperationException("The recipe schema is not embedded in CompressionLab.Core.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        // Its own registry: building it twice (tests, two readers) must not collide on the schema's $id in the global one.
        return JsonSchema.FromText(reader.ReadToEnd(), new BuildOptions { SchemaRegistry = new SchemaRegistry() });
    });

    /// <summary>The recipe as JSON text (indented, a newline at the end).</summary>
    public static string ToJson(CompressionRecipe recipe) => Tree(recipe).ToJsonString(Options) + "\n";

    /// <summary>The recipe as YAML text, with a comment saying what the file is.</summary>
    public static string ToYaml(CompressionRecipe recipe) =>
        RecipeTrees.WriteYaml(Tree(recipe), $"CompressionLab recipe (format {CompressionRecipe.FormatName}, version {CompressionRecipe.CurrentVersion}); docs/recipe.md describes every field.\n" +
            $"Model {recipe.Provenance.Architecture} {recipe.Provenance.WeightsHash}; apply with: compressionlab recipe apply --model FILE --recipe recipe.yaml --dataset {recipe.Provenance.Dataset}");

    public static string Write(CompressionRecipe recipe, RecipeTextFormat format) => format == RecipeTextFormat.Json ? ToJson(recipe) : ToYaml(recipe);

    /// <summary>Writes next to <paramref name="path"/> and renames, so a reader never sees half a recipe.</summary>
    public static void WriteFile(string path, string text)
    {
        AtomicFile.WriteAllText(path, text);
    }

    /// <summary>Reads and checks a recipe file (YAML or JSON, by its extension; otherwise by its first character).</summary>
    /// <exception cref="RecipeFileException">Missing, unreadable, malformed, truncated, another version, against the schema, or inconsistent.</exception>
    public static CompressionRecipe Read(string path) => ReadDocument(path).Recipe;

    /// <summary><see cref="Read"/>, with where each field is in the file (for problems found later, when the recipe meets a model).</summary>
    public static RecipeDocument ReadDocument(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RecipeFileException(full, e is FileNotFoundException or DirectoryNotFoundException ? "file not found." : $"cannot be read ({e.Message}).", inner: e);
        }
        return ParseDocument(text, full);
    }

    /// <summary>Checks and reads recipe text; <paramref name="name"/> (a file name) names it in messages and, by its extension, picks YAML or JSON.</summary>
    /// <exception cref="RecipeFileException">See <see cref="Read"/>.</exception>
    public static CompressionRecipe Parse(string text, string name) => ParseDocument(text, name).Recipe;

    /// <summary><see cref="Parse"/>, with where each field is in the text.</summary>
    public static RecipeDocument ParseDocument(string text, string name)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(name);
        if (text.Length > 64 << 20) throw new RecipeFileException(name, "larger than 64 MB; a recipe is a few hundred kilobytes at most.");
        var (root, map) = IsJson(text, name) ? RecipeTrees.ParseJson(text, name) : RecipeTrees.ParseYaml(text, name);
        RecipeFileException Problem(string pointer, string problem)
        {
            var position = map.Find(pointer);
            return new RecipeFileException(name, problem, RecipeSourceMap.FieldName(pointer), position?.Line, position?.Column);
        }

        var obj = root.AsObject();
        if (!obj.TryGetPropertyValue("format", out var format) || format is not JsonValue formatValue || formatValue.GetValueKind() != JsonValueKind.String
            || formatValue.GetValue<string>() != CompressionRecipe.FormatName)
            throw Problem("/format", $"not a CompressionLab recipe: \"format\" must be \"{CompressionRecipe.FormatName}\" (it is {(format is null ? "missing" : format.ToJsonString())}).");
        if (!obj.TryGetPropertyValue("version", out var version) || version is not JsonValue versionValue || !versionValue.TryGetValue<long>(out var number))
            throw Problem("/version", "\"version\" must be a whole number (this CompressionLab writes and reads version 1).");
        if (number != CompressionRecipe.CurrentVersion)
            throw Problem("/version", number > CompressionRecipe.CurrentVersion
                ? $"recipe format version {number} was written by a newer CompressionLab; this one reads version {CompressionRecipe.CurrentVersion} only."
                : $"recipe format version {number} does not exist (this CompressionLab reads version {CompressionRecipe.CurrentVersion}).");

        WithoutNulls(root);
        var element = JsonSerializer.SerializeToElement(root);
        var evaluation = Schema.Value.Evaluate(element, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (!evaluation.IsValid && SchemaProblem(evaluation) is var (pointer, message))
            throw Problem(pointer, message);

        CompressionRecipe? recipe;
        try
        {
            recipe = root.Deserialize<CompressionRecipe>(Options);
        }
        catch (JsonException e)
        {
            var words = e.Message.Split(" Path: ", 2)[0].TrimEnd('.', ' ');
            throw Problem(RecipeSourceMap.PointerOfJsonPath(e.Path), $"does not fit the recipe format ({words}).");
        }
        if (recipe is null) throw new RecipeFileException(name, "holds null, not a recipe.", line: 1);
        if (RecipeConsistency.Problems(recipe).FirstOrDefault() is { } inconsistent)
            throw Problem(inconsistent.Pointer, inconsistent.Message);
        return new RecipeDocument(recipe, map);
    }

    /// <summary>The deepest failing location with a message the schema gave (the most specific of its errors).</summary>
    private static (string Pointer, string Message)? SchemaProblem(EvaluationResults results)
    {
        var failures = (results.Details ?? [])
            .Where(d => d.Errors is { Count: > 0 })
            .OrderByDescending(d => d.InstanceLocation.ToString().Count(c => c == '/'))
            .ThenBy(d => d.Errors!.ContainsKey("additionalProperties") ? 0 : 1)
            .ToList();
        if (failures.Count == 0) return ("", "does not match the recipe schema.");
        var first = failures[0];
        var (keyword, message) = first.Errors!.First();
        var pointer = first.InstanceLocation.ToString();
        // An unknown field fails the "false" schema that additionalProperties gives it, at the field's own location.
        var words = keyword == "required" ? $"a required field is missing: {message}"
            : keyword is "additionalProperties" or "false" || message.Contains("false schema", StringComparison.Ordinal) ? "a field the recipe format does not have (a typo?)"
            : message;
        return (pointer, $"{words.TrimEnd('.')}.");
    }

    /// <summary>A field written as null is read as left out (as the writer leaves out what has no value): one shape for the schema to check.</summary>
    private static void WithoutNulls(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var key in obj.Where(p => p.Value is null).Select(p => p.Key).ToList()) obj.Remove(key);
                foreach (var (_, value) in obj) WithoutNulls(value);
                break;
            case JsonArray array:
                foreach (var item in array) WithoutNulls(item);
                break;
        }
    }

    private static bool IsJson(string text, string name)
    {
        var extension = Path.GetExtension(name).ToLowerInvariant();
        if (extension == ".json") return true;
        if (extension is ".yaml" or ".yml") return false;
        return text.TrimStart().StartsWith('{');
    }

    private static JsonNode Tree(CompressionRecipe recipe)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        return JsonSerializer.SerializeToNode(recipe, Options) ?? throw new InvalidOperationException("A recipe serialized to null.");
    }

    internal static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
