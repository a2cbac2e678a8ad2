using System.Globalization;
using System.Text;

namespace CompressionLab.Core.Quantization;

/// <summary>One tensor's entry of Distiller's activation statistics file.</summary>
/// <param name="Shape">As Distiller's size2str prints it: <c>(256, 32, 28, 28)</c>.</param>
public sealed record DistillerTensorStats(double Min, double Max, double AvgMin, double AvgMax, double Mean, double Std, string Shape)
{
    public static DistillerTensorStats From(TensorStatistics s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return new(s.Min, s.Max, s.AvgMin, s.AvgMax, s.Mean, s.Std, s.ShapeText);
    }
}

/// <summary>One module's entry: its input 0 and its output.</summary>
public sealed record DistillerLayerStats(string Layer, DistillerTensorStats Input, DistillerTensorStats Output);

/// <summary>
/// Distiller's activation statistics YAML (QuantCalibrationStatsCollector.save, what PostTrainLinearQuantizer's
/// <c>model_activation_stats</c> reads), for the conv/linear layers of a <see cref="CalibrationProfile"/>:
/// <code>
/// stage1.conv1:
///   inputs:
///     0:
///       min: -0.8102
///       ...
///       shape: (64, 1, 28, 28)
///   output:
///     min: -3.25
///     ...
/// </code>
/// </summary>
/// <remarks>
/// <para>Layer names are what Distiller prints: the module's path in PyTorch's <c>named_modules()</c>. A zoo network
/// registers each stage as an <c>nn.Sequential</c> named <c>stage1</c>, ..., <c>classifier</c> whose children carry their
/// local names, so the path of a conv is exactly our layer name (<c>stage1.conv1</c>, <c>classifier.fc</c>); Distiller
/// strips DataParallel's <c>module.</c> prefix (<c>normalize_module_name</c>), so none is written. The statistics are of
/// the folded layer (BatchNorm folded in, as deployed), whose input is the conv's input and whose output is the
/// BatchNorm's output; Distiller's quantizer folds too before it quantizes.</para>
/// <para>Written in block style as PyYAML's <c>default_flow_style=False</c> dump does (FORMATS.md's one-line
/// <c>{min: ..., shape: (256, 1, 28, 28)}</c> is also read: the commas inside the shape's parentheses are kept). Numbers are
/// written as Python's repr would (a dot, a signed exponent), so PyYAML reads them as floats, and with every digit
/// (round trip exact); keys Distiller adds for other settings (<c>b</c>, <c>total_numel</c>) are skipped when read.</para>
/// </remarks>
public static class DistillerStatsYaml
{
    public static IReadOnlyList<DistillerLayerStats> From(CalibrationProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return [.. profile.Layers.Select(l => new DistillerLayerStats(l.Layer, DistillerTensorStats.From(l.Input.Statistics), DistillerTensorStats.From(l.Output.Statistics)))];
    }

    public static string Write(IReadOnlyList<DistillerLayerStats> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var text = new StringBuilder();
        foreach (var layer in layers)
        {
            text.Append(layer.Layer).Append(":\n");
            text.Append("  inputs:\n");
            text.Append("    0:\n");
            WriteStats(text, layer.Input, "      ");
            text.Append("  output:\n");
            WriteStats(text, layer.Output, "    ");
        }
        return text.ToString();
    }

    public static string Write(CalibrationProfile profile) => Write(From(profile));

    private static void WriteStats(StringBuilder text, DistillerTensorStats s, string indent)
    {
        foreach (var (key, value) in new[] { ("min", s.Min), ("max", s.Max), ("avg_min", s.AvgMin), ("avg_max", s.AvgMax), ("mean", s.Mean), ("std", s.Std) })
            text.Append(indent).Append(key).Append(": ").Append(Number(value)).Append('\n');
        text.Append(indent).Append("shape: ").Append(s.Shape).Append('\n');
    }

    /// <summary>Python's float repr as PyYAML writes it: round-trip digits, always a dot, a signed exponent, .nan / .inf.</summary>
    public static string Number(double value)
    {
        if (double.IsNaN(value)) return ".nan";
        if (double.IsPositiveInfinity(value)) return ".inf";
        if (double.IsNegativeInfinity(value)) return "-.inf";
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E');
        var mantissa = e < 0 ? text : text[..e];
        if (!mantissa.Contains('.')) mantissa += ".0";
        if (e < 0) return mantissa;
        var exponent = text[(e + 1)..];
        if (exponent[0] != '-' && exponent[0] != '+') exponent = "+" + exponent;
        return mantissa + "e" + exponent;
    }

    /// <exception cref="FormatException">The text is not an activation statistics file; the message names the line.</exception>
    public static IReadOnlyList<DistillerLayerStats> Read(string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var lines = yaml.Replace("\r\n", "\n").Split('\n')
            .Select((text, i) => (Number: i + 1, Text: StripComment(text)))
            .Where(l => !string.IsNullOrWhiteSpace(l.Text) && l.Text.Trim() != "---")
            .ToList();
        var layers = new List<DistillerLayerStats>();
        var at = 0;
        while (at < lines.Count)
        {
            var (number, text) = lines[at];
            if (Indent(text) != 0 || !text.TrimEnd().EndsWith(':'))
                throw new FormatException($"Line {number}: expected a layer name followed by ':' at the start of the line, got '{text.Trim()}'.");
            var name = Unquote(text.Trim()[..^1].Trim());
            at++;
            DistillerTensorStats? input = null, output = null;
            while (at < lines.Count && Indent(lines[at].Text) > 0)
            {
                var (keyLine, keyText) = lines[at];
                var (key, rest) = Split(keyText, keyLine);
                var indent = Indent(keyText);
                at++;
                switch (key)
                {
                    case "inputs":
                        // Input 0 only: every zoo layer has one input.
                        while (at < lines.Count && Indent(lines[at].Text) > indent)
                        {
                            var (indexLine, indexText) = lines[at];
                            var (index, inline) = Split(indexText, indexLine);
                            at++;
                            var stats = ReadStats(lines, ref at, Indent(indexText), inline, indexLine);
                            if (index == "0") input = stats;
                        }
                        break;
                    case "output":
                        output = ReadStats(lines, ref at, indent, rest, keyLine);
                        break;
                    default:
                        while (at < lines.Count && Indent(lines[at].Text) > indent) at++;
                        break;
                }
            }
            if (input is null) throw new FormatException($"Layer {name} (line {number}) has no 'inputs: 0:' statistics.");
            if (output is null) throw new FormatException($"Layer {name} (line {number}) has no 'output:' statistics.");
            layers.Add(new DistillerLayerStats(name, input, output));
        }
        return layers;
    }

    private static DistillerTensorStats ReadStats(List<(int Number, string Text)> lines, ref int at, int indent, string inline, int line)
    {
        var values = new Dictionary<string, string>();
        if (inline.StartsWith('{'))
        {
            if (!inline.EndsWith('}')) throw new FormatException($"Line {line}: a '{{' mapping must close on the same line.");
            foreach (var item in SplitFlow(inline[1..^1]))
            {
                var colon = item.IndexOf(':');
                if (colon < 0) throw new FormatException($"Line {line}: expected 'key: value' in '{item.Trim()}'.");
                values[item[..colon].Trim()] = item[(colon + 1)..].Trim();
            }
        }
        else
        {
            if (inline.Length > 0) throw new FormatException($"Line {line}: expected the statistics on the following lines or in {{...}}.");
            while (at < lines.Count && Indent(lines[at].Text) > indent)
            {
                var (k, v) = Split(lines[at].Text, lines[at].Number);
                values[k] = v;
                at++;
            }
        }
        double Value(string key) => values.TryGetValue(key, out var text)
            ? ParseNumber(text) ?? throw new FormatException($"Line {line}: '{key}: {text}' is not a number.")
            : throw new FormatException($"Line {line}: the statistics have no '{key}'.");
        return new DistillerTensorStats(Value("min"), Value("max"), Value("avg_min"), Value("avg_max"), Value("mean"), Value("std"),
            values.TryGetValue("shape", out var shape) ? Unquote(shape) : "");
    }

    private static double? ParseNumber(string text) => text.Trim() switch
    {
        ".nan" or ".NaN" or ".NAN" => double.NaN,
        ".inf" or "+.inf" or ".Inf" => double.PositiveInfinity,
        "-.inf" or "-.Inf" => double.NegativeInfinity,
        var t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null,
    };

    /// <summary>Splits a flow mapping's items at commas outside parentheses and brackets.</summary>
    private static IEnumerable<string> SplitFlow(string body)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] is '(' or '[') depth++;
            else if (body[i] is ')' or ']') depth--;
            else if (body[i] == ',' && depth == 0)
            {
                yield return body[start..i];
                start = i + 1;
            }
        }
        if (body[start..].Trim().Length > 0) yield return body[start..];
    }

    private static (string Key, string Value) Split(string text, int line)
    {
        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':');
        if (colon < 0) throw new FormatException($"Line {line}: expected 'key: value', got '{trimmed}'.");
        return (Unquote(trimmed[..colon].Trim()), trimmed[(colon + 1)..].Trim());
    }

    private static int Indent(string text) => text.Length - text.TrimStart(' ').Length;

    private static string StripComment(string text)
    {
        var hash = text.IndexOf(" #", StringComparison.Ordinal);
        return (text.TrimStart().StartsWith('#') ? "" : hash >= 0 ? text[..hash] : text).TrimEnd();
    }

    private static string Unquote(string text) =>
        text.Length >= 2 && ((text[0] == '\'' && text[^1] == '\'') || (text[0] == '"' && text[^1] == '"')) ? text[1..^1] : text;
}
