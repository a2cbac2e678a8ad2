using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using CompressionLab.Core.Jobs;

namespace CompressionLab.Core.Quantization;

/// <summary>What a calibration file holds: which weights and images were calibrated, the choice, and every layer's thresholds.</summary>
public sealed record CalibrationDocument(
    string Architecture,
    string WeightsHash,
    string Dataset,
    string Subset,
    int Images,
    DateTimeOffset? CreatedAt,
    string? ToolVersion,
    QuantizationThresholds Thresholds)
{
    public QuantizationChoice Choice => Thresholds.Choice;
}

/// <summary>A calibration file that cannot be used; the message names the file, the line when known, and the field.</summary>
public sealed class CalibrationFileException(string file, string problem, Exception? inner = null) : Exception($"Calibration file {file}: {problem}", inner)
{
    public string File { get; } = file;
}

/// <summary>
/// The INT8 thresholds of one choice on one calibration as a JSON file, written the same way by the Quantization page's
/// download and <c>calibrate --out</c>, and read back by <c>recipe export --calibration</c>:
/// <c>{format, version, tool_version, created_at, architecture, weights_hash, dataset, subset, images, choice,
/// settings{mode, method, layer_methods, float_layers, quantize_logits}, layers[...]}</c>, where each quantized layer has
/// an <c>input</c> row (and an <c>output</c> row when the logits are quantized) with <c>method, mode, min, max, amax, scale,
/// zero_point, clipped_fraction, mse, sqnr_db</c> and a <c>weight</c> row with one <c>{amax, scale, zero_point}</c> per output
/// channel; a layer kept in float has one row <c>{name, tensor: "input", method: "float"}</c>. Numbers are fractions and
/// are written with every digit, so the thresholds read back are the ones written.
/// </summary>
public static class CalibrationFile
{
    public const string Format = "compressionlab-calibration";
    public const int Version = 1;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string ToJson(QuantizationThresholds thresholds, CalibrationProfile profile, DateTimeOffset? createdAt = null)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(profile);
        var layers = new JsonArray();
        foreach (var layer in thresholds.Layers)
        {
            if (layer.KeptFloat)
            {
                layers.Add(new JsonObject { ["name"] = layer.Layer, ["tensor"] = "input", ["method"] = "float" });
                continue;
            }
            layers.Add(Tensor(layer.Layer, "input", layer.Input!));
            if (layer.Logits is { } logits) layers.Add(Tensor(layer.Layer, "output", logits));
            layers.Add(new JsonObject
            {
                ["name"] = layer.Layer,
                ["tensor"] = "weight",
                ["method"] = "max per channel",
                ["mode"] = "symmetric",
                ["channels"] = new JsonArray([.. layer.WeightGrids.Select(g => (JsonNode)new JsonObject { ["amax"] = g.Max, ["scale"] = g.Scale, ["zero_point"] = g.ZeroPoint })]),
            });
        }
        var choice = thresholds.Choice;
        var document = new JsonObject
        {
            ["format"] = Format,
            ["version"] = Version,
            ["tool_version"] = ToolVersion.Current,
            ["created_at"] = (createdAt ?? DateTimeOffset.UtcNow).ToString("O", CultureInfo.InvariantCulture),
            ["architecture"] = profile.Architecture,
            ["weights_hash"] = profile.WeightsHash,
            ["dataset"] = profile.Dataset,
            ["subset"] = profile.SubsetKey,
            ["images"] = profile.Images,
            ["choice"] = choice.Key,
            ["settings"] = new JsonObject
            {
                ["mode"] = choice.Mode.ToString().ToLowerInvariant(),
                ["method"] = choice.Method.Name,
                ["layer_methods"] = new JsonObject([.. (choice.LayerMethods ?? new Dictionary<string, ClippingMethod>())
                    .OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => KeyValuePair.Create(o.Key, (JsonNode?)o.Value.Name))]),
                ["float_layers"] = new JsonArray([.. (choice.FloatLayers ?? []).Order(StringComparer.Ordinal).Select(l => (JsonNode)l)]),
                ["quantize_logits"] = choice.QuantizeLogits,
            },
            ["layers"] = layers,
        };
        return document.ToJsonString(Indented) + "\n";
    }

    /// <summary>"int8-thresholds-vgg-small-512" (no extension).</summary>
    public static string FileName(CalibrationProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return string.Create(CultureInfo.InvariantCulture, $"int8-thresholds-{profile.Architecture}-{profile.Images}");
    }

    /// <summary>Writes the file (next to it, then renamed).</summary>
    public static void Write(string path, QuantizationThresholds thresholds, CalibrationProfile profile)
    {
        AtomicFile.WriteAllText(path, ToJson(thresholds, profile));
    }

    /// <summary>Reads a calibration file back into its thresholds, exactly as written.</summary>
    /// <exception cref="CalibrationFileException">Missing, malformed, another format or version, or a field missing or of the wrong kind (named).</exception>
    public static CalibrationDocument Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new CalibrationFileException(full, "file not found.");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(full));
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? string.Create(CultureInfo.InvariantCulture, $" at line {line + 1}, position {(e.BytePositionInLine ?? 0) + 1}") : "";
            throw new CalibrationFileException(full, $"not valid JSON{where}: {e.Message.Split(" LineNumber:", 2)[0]}", e);
        }
        if (root is not JsonObject document) throw new CalibrationFileException(full, "not a JSON object.");
        string Text(JsonNode? node, string field) =>
            node is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new CalibrationFileException(full, $"{field}: missing or not text.");
        double Number(JsonNode? node, string field) =>
            node is JsonValue v && v.TryGetValue<double>(out var d) ? d : throw new CalibrationFileException(full, $"{field}: missing or not a number.");
        int Whole(JsonNode? node, string field) =>
            node is JsonValue v && v.TryGetValue<int>(out var i) ? i : throw new CalibrationFileException(full, $"{field}: missing or not a whole number.");

        if (document["format"]?.GetValue<string>() != Format)
            throw new CalibrationFileException(full, $"not a CompressionLab calibration file (its \"format\" is not \"{Format}\"; files downloaded before it had one: download them again).");
        var version = Whole(document["version"], "version");
        if (version != Version) throw new CalibrationFileException(full, $"calibration file version {version}; this CompressionLab reads version {Version}.");

        QuantizationChoice choice;
        var settings = document["settings"] as JsonObject ?? throw new CalibrationFileException(full, "settings: missing.");
        try
        {
            choice = QuantizationChoice.Parse(Text(settings["mode"], "settings.mode"), Text(settings["method"], "settings.method"),
                (settings["layer_methods"] as JsonObject ?? []).Select(p => KeyValuePair.Create(p.Key, Text(p.Value, $"settings.layer_methods.{p.Key}"))),
                (settings["float_layers"] as JsonArray ?? []).Select((n, i) => Text(n, $"settings.float_layers[{i}]")),
                settings["quantize_logits"]?.GetValue<bool>() ?? false);
        }
        catch (InvalidRequestException e)
        {
            throw new CalibrationFileException(full, $"settings: {e.Message}", e);
        }

        var rows = document["layers"] as JsonArray ?? throw new CalibrationFileException(full, "layers: missing.");
        var names = new List<string>();
        var byLayer = new Dictionary<string, (ClippingResult? Input, ClippingResult? Output, QuantizationGrid[]? Weights, bool Float)>(StringComparer.Ordinal);
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i] as JsonObject ?? throw new CalibrationFileException(full, $"layers[{i}]: not an object.");
            var name = Text(row["name"], $"layers[{i}].name");
            var tensor = Text(row["tensor"], $"layers[{i}].tensor");
            var method = Text(row["method"], $"layers[{i}].method");
            if (!byLayer.TryGetValue(name, out var entry))
            {
                names.Add(name);
                entry = (null, null, null, false);
            }
            string at = $"layers[{i}] ({name} {tensor})";
            if (method == "float") entry.Float = true;
            else if (tensor == "weight")
                entry.Weights = [.. (row["channels"] as JsonArray ?? throw new CalibrationFileException(full, $"{at}.channels: missing."))
                    .Select((c, k) => new QuantizationGrid(Number(c?["scale"], $"{at}.channels[{k}].scale"), Whole(c?["zero_point"], $"{at}.channels[{k}].zero_point"), -127, 127))];
            else
            {
                var mode = Text(row["mode"], $"{at}.mode") switch
                {
                    "symmetric" => QuantizationMode.Symmetric,
                    "unsigned" => QuantizationMode.Unsigned,
                    "asymmetric" => QuantizationMode.Asymmetric,
                    var other => throw new CalibrationFileException(full, $"{at}.mode: unknown grid '{other}'."),
                };
                var clip = new ClippingResult(method, mode, Number(row["min"], $"{at}.min"), Number(row["max"], $"{at}.max"), Number(row["amax"], $"{at}.amax"),
                    Number(row["scale"], $"{at}.scale"), Whole(row["zero_point"], $"{at}.zero_point"), Number(row["clipped_fraction"], $"{at}.clipped_fraction"),
                    row["mse"] is null ? double.NaN : Number(row["mse"], $"{at}.mse"), row["sqnr_db"] is null ? double.PositiveInfinity : Number(row["sqnr_db"], $"{at}.sqnr_db"));
                if (tensor == "input") entry.Input = clip;
                else if (tensor == "output") entry.Output = clip;
                else throw new CalibrationFileException(full, $"{at}.tensor: unknown tensor '{tensor}' (input, output or weight).");
            }
            byLayer[name] = entry;
        }
        var layers = names.Select(name =>
        {
            var (input, output, weights, kept) = byLayer[name];
            if (kept) return new LayerThresholds(name, null, null, [], null);
            if (input is null || weights is null) throw new CalibrationFileException(full, $"layers: {name} is quantized but lacks its {(input is null ? "input" : "weight")} row.");
            return new LayerThresholds(name, choice.MethodFor(name), input, weights, output);
        }).ToList();
        DateTimeOffset? created = document["created_at"] is JsonValue c && DateTimeOffset.TryParse(c.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var at2) ? at2 : null;
        return new CalibrationDocument(Text(document["architecture"], "architecture"), Text(document["weights_hash"], "weights_hash"), Text(document["dataset"], "dataset"),
            Text(document["subset"], "subset"), Whole(document["images"], "images"), created, document["tool_version"]?.GetValue<string>(),
            new QuantizationThresholds(choice, layers));
    }

    private static JsonObject Tensor(string layer, string tensor, ClippingResult r) => new()
    {
        ["name"] = layer,
        ["tensor"] = tensor,
        ["method"] = r.Method,
        ["mode"] = r.Mode.ToString().ToLowerInvariant(),
        ["min"] = r.Min,
        ["max"] = r.Max,
        ["amax"] = r.Amax,
        ["scale"] = r.Scale,
        ["zero_point"] = r.ZeroPoint,
        ["clipped_fraction"] = r.ClippedFraction,
        ["mse"] = double.IsFinite(r.Mse) ? r.Mse : null,
        ["sqnr_db"] = double.IsFinite(r.SqnrDb) ? r.SqnrDb : null,
    };
}
