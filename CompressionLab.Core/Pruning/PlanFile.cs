using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>The model a plan was made for: its architecture and the content hash of its weights (<see cref="CheckpointMetadata.ContentHash"/>).</summary>
/// <param name="Name">The model's display name or file name, for people; not compared.</param>
public sealed record PlanModel(string Architecture, string WeightsHash, string? Name = null);

/// <summary>A plan together with the model it is for: what a plan file holds.</summary>
public sealed record PlanDocument(PlanModel Model, PruningPlan Plan);

/// <summary>A plan file that cannot be used; the message names the file and the problem.</summary>
public sealed class PlanFileException(string filePath, string problem, Exception? inner = null)
    : Exception($"Plan file {filePath}: {problem}", inner)
{
    public string FilePath { get; } = filePath;
    public string Problem { get; } = problem;
}

/// <summary>
/// Pruning plans as JSON files, for the CLI (<c>plan allocate --out</c>, <c>plan evaluate --plan</c>) and any other
/// front end: the stages with their rate and method, the per-layer overrides and exclusions (what is edited), the
/// model the plan is for (architecture and weights hash), and every layer's resolved level (what the masks get).
/// </summary>
/// <remarks>
/// <para>The stages, overrides and exclusions are the plan; the <c>layers</c> list is their result, written for reading.
/// When a file has one, reading checks that it agrees with the plan (a list edited by hand without the plan is refused,
/// not silently ignored); a file without it is read as well.</para>
/// <para>A plan is tied to one model's weights: levels chosen from one training's sweeps say nothing about another
/// training of the same architecture. <see cref="ReadFor"/> refuses a plan for other weights or another
/// architecture and says which.</para>
/// <para>Methods are the sweep's criterion keys (<c>element</c>, <c>filter-l1</c>, <c>filter-l2</c>); levels are fractions
/// with at most four decimals. <c>NaN</c> is read (as the string <c>"NaN"</c>) so that it is reported as a bad level,
/// not as a syntax error.</para>
/// </remarks>
public static class PlanFile
{
    /// <summary>The value of the file's <c>format</c> field.</summary>
    public const string Format = "compressionlab-pruning-plan";

    /// <summary>The file version this code writes and the highest it reads.</summary>
    public const int Version = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    /// <summary>The file's text: the plan, its model, and its layers resolved against <paramref name="layers"/> (which it must fit).</summary>
    /// <exception cref="ArgumentException">The plan does not resolve against the layers (every problem named).</exception>
    public static string ToJson(PlanDocument document, IReadOnlyList<LayerInfo> layers)
    {
        ArgumentNullException.ThrowIfNull(document);
        var resolved = document.Plan.Resolve(layers);
        var plan = document.Plan;
        var file = new PlanFileJson
        {
            Format = Format,
            Version = Version,
            Model = new PlanModelJson { Name = document.Model.Name, Architecture = document.Model.Architecture, WeightsHash = document.Model.WeightsHash },
            Stages = [.. plan.Stages.Select(s => new PlanStageJson { Name = s.Name, Rate = s.Rate, Method = s.Method.Key, Layers = [.. s.Layers] })],
            Overrides = [.. plan.Overrides.Select(o => new LayerOverrideJson { Layer = o.Layer, Level = o.Level, Method = o.Method?.Key })],
            Exclusions = [.. plan.Exclusions.Select(e => new LayerExclusionJson { Layer = e.Layer, Reason = e.Reason })],
            Layers = [.. resolved.Layers.Select(l => new PlannedLayerJson { Name = l.Layer, Stage = l.Stage, Level = l.Level, Method = l.Method.Key, Source = l.Source })],
        };
        return JsonSerializer.Serialize(file, Json) + Environment.NewLine;
    }

    /// <summary>Writes the file (replacing it); see <see cref="ToJson"/>.</summary>
    public static void Write(string path, PlanDocument document, IReadOnlyList<LayerInfo> layers)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var text = ToJson(document, layers);
        var full = Path.GetFullPath(path);
        // Written beside the target and renamed, so a reader never sees half a plan.
        var temporary = full + ".tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, full, overwrite: true);
    }

    /// <summary>
    /// Reads a plan file for the model with these <paramref name="architecture"/>, <paramref name="weightsHash"/> and
    /// <paramref name="layers"/>: refused (naming the file and what differs) when it is for another architecture or other
    /// weights, when a setting makes no sense for the layers (an unknown layer, a NaN level, ...), or when its layers list
    /// disagrees with its stages and overrides.
    /// </summary>
    /// <exception cref="PlanFileException">The file is missing, unreadable, not a plan, for another model, or has a bad setting.</exception>
    public static PlanDocument ReadFor(string path, string architecture, string weightsHash, IReadOnlyList<LayerInfo> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var (document, listed) = ReadDocument(path);
        var full = Path.GetFullPath(path);
        var model = document.Model;
        if (!string.Equals(model.Architecture, architecture, StringComparison.Ordinal))
            throw new PlanFileException(full, $"the plan is for a {model.Architecture} model{NameOf(model)}, not for this {architecture}.");
        if (!string.Equals(model.WeightsHash, weightsHash, StringComparison.OrdinalIgnoreCase))
            throw new PlanFileException(full,
                $"the plan is for other weights of {architecture}{NameOf(model)}: its weights hash is {Short(model.WeightsHash)}, this model's is {Short(weightsHash)}. " +
                "Levels chosen from one training's sweeps do not carry over to another; make a plan for this model (plan allocate).");

        var problems = document.Plan.Problems(layers);
        if (problems.Count > 0)
            throw new PlanFileException(full, string.Join(" ", problems.Select(p => $"{p.Setting}: {p.Message}")));
        var resolved = document.Plan.Resolve(layers);
        foreach (var entry in listed)
        {
            var layer = resolved.Layers.FirstOrDefault(l => l.Layer == entry.Name)
                ?? throw new PlanFileException(full, $"layers: '{entry.Name}' is not a layer of {architecture}. Its layers are: {string.Join(", ", layers.Select(l => l.Name))}.");
            if (entry.Level != layer.Level || entry.Method != layer.Method)
                throw new PlanFileException(full,
                    $"layers.{entry.Name}: the list says {SweepLevels.Format(entry.Level)} by {entry.Method.Key}, but the stages, overrides and exclusions give " +
                    $"{SweepLevels.Format(layer.Level)} by {layer.Method.Key}. The list is their result: change the stages or overrides (or delete the list).");
        }
        return document;
    }

    /// <summary>The plan and its model as the file states them, without checking them against a model.</summary>
    /// <exception cref="PlanFileException">The file is missing, unreadable, or not a plan file.</exception>
    public static PlanDocument Read(string path) => ReadDocument(path).Document;

    private static (PlanDocument Document, IReadOnlyList<(string Name, double Level, PruningMethod Method)> Listed) ReadDocument(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new PlanFileException(full, "file not found.");
        PlanFileJson? file;
        try
        {
            using var stream = File.OpenRead(full);
            file = JsonSerializer.Deserialize<PlanFileJson>(stream, Json);
        }
        catch (JsonException e)
        {
            throw new PlanFileException(full, Describe(e), e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PlanFileException(full, $"cannot be read ({e.Message}).", e);
        }
        if (file is null) throw new PlanFileException(full, "holds null, not a plan.");
        if (file.Format != Format)
            throw new PlanFileException(full, $"not a CompressionLab pruning plan (its \"format\" is {(file.Format is null ? "missing" : $"'{file.Format}'")}, not '{Format}').");
        if (file.Version is not { } version || version < 1)
            throw new PlanFileException(full, "has no valid \"version\".");
        if (version > Version)
            throw new PlanFileException(full, $"is plan format version {version}, written by a newer CompressionLab; this one reads up to version {Version}.");
        if (file.Model is not { Architecture: { Length: > 0 } architecture, WeightsHash: { Length: > 0 } hash } model)
            throw new PlanFileException(full, "model: the file must name the model's architecture and weights_hash (the plan is tied to those weights).");
        if (file.Stages is not { Count: > 0 } stages)
            throw new PlanFileException(full, "stages: the plan has no stages.");

        PruningMethod Method(string setting, string? key)
        {
            if (key is null) throw new PlanFileException(full, $"{setting}: no method (element, filter-l1 or filter-l2).");
            try
            {
                return PruningMethod.Parse(key);
            }
            catch (ArgumentException)
            {
                throw new PlanFileException(full, $"{setting}: unknown method '{key}'; use element, filter-l1 or filter-l2.");
            }
        }

        var planStages = new List<PlanStage>();
        foreach (var stage in stages)
        {
            var name = stage.Name ?? throw new PlanFileException(full, "stages: a stage has no name.");
            if (stage.Rate is not { } rate) throw new PlanFileException(full, $"stages.{name}.rate: the stage has no rate.");
            planStages.Add(new PlanStage(name, [.. stage.Layers ?? []], rate, Method($"stages.{name}.method", stage.Method)));
        }
        var overrides = new List<LayerOverride>();
        foreach (var over in file.Overrides ?? [])
        {
            var layer = over.Layer ?? throw new PlanFileException(full, "overrides: an override names no layer.");
            if (over.Level is not { } level) throw new PlanFileException(full, $"overrides.{layer}.level: the override has no level.");
            overrides.Add(new LayerOverride(layer, level, over.Method is null ? null : Method($"overrides.{layer}.method", over.Method)));
        }
        var exclusions = (file.Exclusions ?? [])
            .Select(e => new LayerExclusion(e.Layer ?? throw new PlanFileException(full, "exclusions: an exclusion names no layer."), e.Reason ?? ""))
            .ToList();
        var listed = new List<(string, double, PruningMethod)>();
        foreach (var layer in file.Layers ?? [])
        {
            var name = layer.Name ?? throw new PlanFileException(full, "layers: an entry has no name.");
            if (layer.Level is not { } level) throw new PlanFileException(full, $"layers.{name}.level: no level.");
            if (PruningPlan.LevelProblem($"Layer {name}: level", level) is { } problem) throw new PlanFileException(full, $"layers.{name}.level: {problem}");
            listed.Add((name, level, Method($"layers.{name}.method", layer.Method)));
        }
        var document = new PlanDocument(new PlanModel(architecture, hash, model.Name), new PruningPlan(planStages, overrides, exclusions));
        return (document, listed);
    }

    /// <summary>A JSON problem with where it is: the path in the document and the line, in the parser's words.</summary>
    private static string Describe(JsonException e)
    {
        var where = e.LineNumber is { } line
            ? string.Create(CultureInfo.InvariantCulture, $" at line {line + 1}, position {(e.BytePositionInLine ?? 0) + 1}")
            : "";
        var path = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" ({e.Path})";
        // The serializer's words name its .NET types; say what is wrong in the file's terms instead.
        var words = e.Message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal) ? "a field the plan format does not have (a typo?)"
            : e.Message.Contains("could not be converted to", StringComparison.Ordinal) ? "a value of the wrong kind (an object, list, text or number where another is expected)"
            : e.Message.Split(" Path: ", 2)[0].Split(" LineNumber:", 2)[0].TrimEnd('.', ' ');
        return $"not a valid plan file{where}{path}: {words}.";
    }

    private static string NameOf(PlanModel model) => model.Name is { Length: > 0 } name ? $" ('{name}')" : "";

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;

    // The file's shape. Every member is nullable so that a missing one is reported by name, not as a null reference.
    private sealed class PlanFileJson
    {
        public string? Format { get; set; }
        public int? Version { get; set; }
        public PlanModelJson? Model { get; set; }
        public List<PlanStageJson>? Stages { get; set; }
        public List<LayerOverrideJson>? Overrides { get; set; }
        public List<LayerExclusionJson>? Exclusions { get; set; }
        public List<PlannedLayerJson>? Layers { get; set; }
    }

    private sealed class PlanModelJson
    {
        public string? Name { get; set; }
        public string? Architecture { get; set; }
        public string? WeightsHash { get; set; }
    }

    private sealed class PlanStageJson
    {
        public string? Name { get; set; }
        public double? Rate { get; set; }
        public string? Method { get; set; }
        public List<string>? Layers { get; set; }
    }

    private sealed class LayerOverrideJson
    {
        public string? Layer { get; set; }
        public double? Level { get; set; }
        public string? Method { get; set; }
    }

    private sealed class LayerExclusionJson
    {
        public string? Layer { get; set; }
        public string? Reason { get; set; }
    }

    private sealed class PlannedLayerJson
    {
        public string? Name { get; set; }
        public string? Stage { get; set; }
        public double? Level { get; set; }
        public string? Method { get; set; }
        public LevelSource? Source { get; set; }
    }
}
