using System.Globalization;
using System.Text;

namespace CompressionLab.Core.Recipes;

/// <summary>
/// Where each value of a parsed recipe file starts (1-based line and column), by its path in the document, so that a
/// problem found after parsing (by the schema, the deserializer or the consistency checks) names its line.
/// </summary>
/// <remarks>Paths are JSON Pointers (<c>/pruning/layers/2/threshold</c>); <see cref="FieldName"/> turns one into the dotted form messages use.</remarks>
public sealed class RecipeSourceMap
{
    private readonly Dictionary<string, (int Line, int Column)> _positions = new(StringComparer.Ordinal);

    internal void Add(string pointer, int line, int column) => _positions.TryAdd(pointer, (line, column));

    /// <summary>The position of <paramref name="pointer"/>, or of its nearest ancestor that has one (a missing field is reported where its object starts).</summary>
    public (int Line, int Column)? Find(string pointer)
    {
        for (var path = pointer; ; path = Parent(path))
        {
            if (_positions.TryGetValue(path, out var position)) return position;
            if (path.Length == 0) return null;
        }
    }

    private static string Parent(string pointer)
    {
        var cut = pointer.LastIndexOf('/');
        return cut <= 0 ? "" : pointer[..cut];
    }

    /// <summary><c>/pruning/layers/2/threshold</c> → <c>pruning.layers[2].threshold</c>.</summary>
    public static string FieldName(string pointer)
    {
        var text = new StringBuilder();
        foreach (var raw in pointer.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var part = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out _)) text.Append('[').Append(part).Append(']');
            else text.Append(text.Length == 0 ? "" : ".").Append(part);
        }
        return text.ToString();
    }

    /// <summary><c>$.pruning.layers[2].threshold</c> (System.Text.Json's path) → <c>/pruning/layers/2/threshold</c>.</summary>
    public static string PointerOfJsonPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "";
        var text = new StringBuilder();
        var i = path.StartsWith('$') ? 1 : 0;
        while (i < path.Length)
        {
            switch (path[i])
            {
                case '.':
                    {
                        var end = i + 1;
                        while (end < path.Length && path[end] is not ('.' or '[')) end++;
                        text.Append('/').Append(path, i + 1, end - i - 1);
                        i = end;
                        break;
                    }
                case '[':
                    {
                        var end = path.IndexOf(']', i);
                        if (end < 0) return text.ToString();
                        var inner = path[(i + 1)..end].Trim('\'');
                        text.Append('/').Append(inner);
                        i = end + 1;
                        break;
                    }
                default:
                    i++;
                    break;
            }
        }
        return text.ToString();
    }
}
