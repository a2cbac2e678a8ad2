using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace CompressionLab.Core.Recipes;

/// <summary>
/// A recipe file's text as a plain tree (<see cref="JsonNode"/>) with the position of every value: JSON and YAML go
/// through the same tree, so both are checked by the same schema, deserializer and consistency rules.
/// </summary>
/// <remarks>
/// Nothing in a file is executed or instantiated by name: YAML is read as a stream of parser events (no deserializer),
/// a tag (<c>!!python/object</c>, <c>!MyType</c>) or an anchor/alias is refused, and the tree holds only objects, arrays,
/// strings, numbers, booleans and null. Plain YAML scalars are read by YAML 1.2's core schema (null, true/false, numbers);
/// quoted ones are always strings.
/// </remarks>
internal static partial class RecipeTrees
{
    /// <summary>Parses JSON text; a syntax error or truncation names its line and position.</summary>
    public static (JsonNode Root, RecipeSourceMap Map) ParseJson(string text, string file)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            var problem = e.Message.Split(" LineNumber:", 2)[0].TrimEnd('.', ' ');
            throw new RecipeFileException(file, $"not valid JSON: {problem}.", null,
                e.LineNumber is { } line ? (int)line + 1 : null, e.BytePositionInLine is { } position ? (int)position + 1 : null, e);
        }
        if (root is not JsonObject) throw new RecipeFileException(file, "the file holds no object (a recipe is one JSON object).", line: 1);
        return (root, JsonPositions(text));
    }

    /// <summary>Where each value starts in JSON text (the reader's byte offsets turned into lines and columns).</summary>
    private static RecipeSourceMap JsonPositions(string text)
    {
        var map = new RecipeSourceMap();
        var bytes = Encoding.UTF8.GetBytes(text);
        var lineStarts = new List<int> { 0 };
        for (var i = 0; i < bytes.Length; i++)
            if (bytes[i] == (byte)'\n') lineStarts.Add(i + 1);
        (int, int) Position(long offset)
        {
            var index = lineStarts.BinarySearch((int)offset);
            var line = index >= 0 ? index : ~index - 1;
            return (line + 1, (int)offset - lineStarts[line] + 1);
        }

        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 32 });
        // Per open container: its pointer, and the next array index (or the pending property name).
        var stack = new Stack<(string Pointer, bool IsArray, int Index, string? Property)>();
        string ValuePointer()
        {
            if (stack.Count == 0) return "";
            var (pointer, isArray, index, property) = stack.Pop();
            var value = isArray ? $"{pointer}/{index.ToString(CultureInfo.InvariantCulture)}" : $"{pointer}/{Escape(property ?? "")}";
            stack.Push((pointer, isArray, isArray ? index + 1 : index, null));
            return value;
        }
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    {
                        var (pointer, isArray, index, _) = stack.Pop();
                        var name = reader.GetString();
                        stack.Push((pointer, isArray, index, name));
                        var (line, column) = Position(reader.TokenStartIndex);
                        map.Add($"{pointer}/{Escape(name ?? "")}", line, column);
                        break;
                    }
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    {
                        var pointer = ValuePointer();
                        var (line, column) = Position(reader.TokenStartIndex);
                        map.Add(pointer, line, column);
                        stack.Push((pointer, reader.TokenType == JsonTokenType.StartArray, 0, null));
                        break;
                    }
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    stack.Pop();
                    break;
                default:
                    {
                        var pointer = ValuePointer();
                        var (line, column) = Position(reader.TokenStartIndex);
                        map.Add(pointer, line, column);
                        break;
                    }
            }
        }
        return map;
    }

    /// <summary>Parses YAML text (one document of mappings, sequences and scalars); a syntax error names its line and column.</summary>
    public static (JsonNode Root, RecipeSourceMap Map) ParseYaml(string text, string file)
    {
        var map = new RecipeSourceMap();
        var parser = new Parser(new StringReader(text));
        try
        {
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _)) throw new RecipeFileException(file, "the file is empty.", line: 1);
            parser.Consume<DocumentStart>();
            var root = ReadNode(parser, "", map, file, depth: 0);
            parser.Consume<DocumentEnd>();
            if (!parser.Accept<StreamEnd>(out _))
                throw new RecipeFileException(file, "the file holds more than one YAML document (a recipe is one).", line: (int)parser.Current!.Start.Line);
            if (root is not JsonObject) throw new RecipeFileException(file, "the file holds no mapping (a recipe is one YAML mapping).", line: 1);
            return (root, map);
        }
        catch (YamlException e)
        {
            throw new RecipeFileException(file, $"not valid YAML: {e.Message.Split("):", 2)[^1].Trim()}", null, (int)e.Start.Line, (int)e.Start.Column, e);
        }
    }

    private static JsonNode? ReadNode(IParser parser, string pointer, RecipeSourceMap map, string file, int depth)
    {
        if (depth > 32) throw new RecipeFileException(file, "nested too deeply.", RecipeSourceMap.FieldName(pointer), (int)parser.Current!.Start.Line);
        var current = parser.Current ?? throw new RecipeFileException(file, "the file ends in the middle of a value (truncated?).");
        map.Add(pointer, (int)current.Start.Line, (int)current.Start.Column);
        if (current is NodeEvent node)
        {
            if (!node.Anchor.IsEmpty)
                throw new RecipeFileException(file, $"anchors (&{node.Anchor.Value}) are not allowed in a recipe: write each value out.", RecipeSourceMap.FieldName(pointer), (int)current.Start.Line, (int)current.Start.Column);
            if (!node.Tag.IsEmpty && !(node is Scalar { IsPlainImplicit: false, IsQuotedImplicit: true }))
                throw new RecipeFileException(file, $"type tags ({node.Tag.Value}) are not allowed in a recipe: it holds plain values only, and nothing in it is executed.",
                    RecipeSourceMap.FieldName(pointer), (int)current.Start.Line, (int)current.Start.Column);
        }
        switch (current)
        {
            case AnchorAlias alias:
                throw new RecipeFileException(file, $"aliases (*{alias.Value.Value}) are not allowed in a recipe: write each value out.", RecipeSourceMap.FieldName(pointer), (int)current.Start.Line, (int)current.Start.Column);
            case Scalar scalar:
                parser.MoveNext();
                return ScalarValue(scalar);
            case SequenceStart:
                {
                    parser.MoveNext();
                    var array = new JsonArray();
                    var index = 0;
                    while (!parser.TryConsume<SequenceEnd>(out _))
                        array.Add(ReadNode(parser, $"{pointer}/{(index++).ToString(CultureInfo.InvariantCulture)}", map, file, depth + 1));
                    return array;
                }
            case MappingStart:
                {
                    parser.MoveNext();
                    var obj = new JsonObject();
                    while (!parser.TryConsume<MappingEnd>(out _))
                    {
                        var keyEvent = parser.Current;
                        if (keyEvent is not Scalar key)
                            throw new RecipeFileException(file, "a mapping key must be plain text.", RecipeSourceMap.FieldName(pointer), (int)(keyEvent?.Start.Line ?? 0));
                        parser.MoveNext();
                        var childPointer = $"{pointer}/{Escape(key.Value)}";
                        if (obj.ContainsKey(key.Value))
                            throw new RecipeFileException(file, $"'{key.Value}' is given twice.", RecipeSourceMap.FieldName(childPointer), (int)key.Start.Line, (int)key.Start.Column);
                        map.Add(childPointer, (int)key.Start.Line, (int)key.Start.Column);
                        obj[key.Value] = ReadNode(parser, childPointer, map, file, depth + 1);
                    }
                    return obj;
                }
            default:
                throw new RecipeFileException(file, $"unexpected {current.GetType().Name} (truncated?).", RecipeSourceMap.FieldName(pointer), (int)current.Start.Line, (int)current.Start.Column);
        }
    }

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex IntegerText();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatText();

    /// <summary>YAML 1.2 core schema for plain scalars; quoted and block scalars are text.</summary>
    private static JsonNode? ScalarValue(Scalar scalar)
    {
        var value = scalar.Value;
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any)) return JsonValue.Create(value);
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }
        if (IntegerText().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
            return JsonValue.Create(integer);
        if (FloatText().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
            return JsonValue.Create(number);
        return JsonValue.Create(value);
    }

    /// <summary>
    /// The tree as YAML: block mappings, sequences of numbers or short text and small entries of a list in flow style
    /// (<c>[64, 32, 3, 3]</c>, <c>{amax: 2.29, scale: 0.018, zero_point: 0}</c>), every
    /// text double-quoted (so that no reader takes a hash or a name for a number or a boolean), numbers as JSON writes them.
    /// </summary>
    public static string WriteYaml(JsonNode root, string header)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        foreach (var line in header.Split('\n', StringSplitOptions.RemoveEmptyEntries)) writer.WriteLine($"# {line}");
        var emitter = new Emitter(writer, new EmitterSettings(bestIndent: 2, bestWidth: int.MaxValue, isCanonical: false, maxSimpleKeyLength: 1024));
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart(null, null, isImplicit: true));
        Emit(emitter, root);
        emitter.Emit(new DocumentEnd(isImplicit: true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    private static void Emit(IEmitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case null:
                emitter.Emit(new Scalar(null, null, "null", ScalarStyle.Plain, true, false));
                break;
            case JsonObject obj:
                // Small all-number entries of a list (a weight channel's amax, scale, zero point) on one line each.
                var inline = obj.Parent is JsonArray && obj.Count <= 3 && obj.All(p => p.Value is JsonValue);
                emitter.Emit(new MappingStart(null, null, true, inline ? MappingStyle.Flow : MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    emitter.Emit(new Scalar(null, null, key, ScalarStyle.Plain, true, false));
                    Emit(emitter, value);
                }
                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array:
                var flow = array.All(item => item is JsonValue);
                emitter.Emit(new SequenceStart(null, null, true, flow ? SequenceStyle.Flow : SequenceStyle.Block));
                foreach (var item in array) Emit(emitter, item);
                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue value:
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        emitter.Emit(new Scalar(null, null, value.GetValue<string>(), ScalarStyle.DoubleQuoted, false, true));
                        break;
                    case JsonValueKind.True or JsonValueKind.False or JsonValueKind.Number:
                        emitter.Emit(new Scalar(null, null, value.ToJsonString(), ScalarStyle.Plain, true, false));
                        break;
                    default:
                        emitter.Emit(new Scalar(null, null, "null", ScalarStyle.Plain, true, false));
                        break;
                }
                break;
        }
    }

    private static string Escape(string name) => name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
