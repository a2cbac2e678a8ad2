using System.Globalization;

namespace CompressionLab.Core.Recipes;

/// <summary>
/// A recipe file that cannot be used: malformed, truncated, of an unknown version, inconsistent (edited by hand), or for
/// another model. The message names the file, the line and column when known, and the field (<c>pruning.layers[2].threshold</c>).
/// </summary>
public sealed class RecipeFileException(string file, string problem, string? field = null, int? line = null, int? column = null, Exception? inner = null)
    : Exception(Describe(file, problem, field, line, column), inner)
{
    public string File { get; } = file;
    public string Problem { get; } = problem;

    /// <summary>The field at fault as a path (<c>quantization.layers[0].input.scale</c>); null when the file as a whole is.</summary>
    public string? Field { get; } = field;

    /// <summary>1-based line of the field (or of the syntax error) in the file, when known.</summary>
    public int? Line { get; } = line;

    public int? Column { get; } = column;

    private static string Describe(string file, string problem, string? field, int? line, int? column)
    {
        var where = line is { } l
            ? string.Create(CultureInfo.InvariantCulture, $", line {l}{(column is { } c ? $", column {c}" : "")}")
            : "";
        var what = field is { Length: > 0 } f ? $" ({f})" : "";
        return $"Recipe {file}{where}{what}: {problem}";
    }
}
