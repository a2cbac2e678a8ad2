using System.Text.Json;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;
using CompressionLab.Tests.Models;
using Json.Schema;
using YamlDotNet.Serialization;

namespace CompressionLab.Tests.Recipes;

/// <summary>
/// The recipe's files: YAML and JSON hold the same content and validate against the repository's schema (read here with
/// JsonSchema.Net from schemas/, YAML through YamlDotNet's own deserializer); malformed, truncated, edited, unknown-version
/// and unsafe files are refused naming the line and the field.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class RecipeFileTests(RecipeFixture fixture) : IClassFixture<RecipeFixture>
{
    private static readonly Lazy<JsonSchema> Schema = new(() =>
        JsonSchema.FromText(File.ReadAllText(Path.Combine(RepositoryRoot(), "schemas", "compressionlab-recipe-v1.schema.json")),
            new BuildOptions { SchemaRegistry = new SchemaRegistry() }));

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
            if (File.Exists(Path.Combine(folder.FullName, "CompressionLab.sln"))) return folder.FullName;
        throw new InvalidOperationException("CompressionLab.sln not found above the test binaries.");
    }

    private static EvaluationResults Validate(JsonElement element) => Schema.Value.Evaluate(element, new EvaluationOptions { OutputFormat = OutputFormat.List });

    [Fact]
    public void YamlAndJsonHoldTheSameContentAndReadBackToTheExportedRecipe()
    {
        var yaml = RecipeFile.Read(fixture.YamlFile);
        var json = RecipeFile.Read(fixture.JsonFile);
        var exported = RecipeFile.ToJson(fixture.Export.Recipe);
        Assert.Equal(exported, RecipeFile.ToJson(yaml));
        Assert.Equal(exported, RecipeFile.ToJson(json));
        Assert.Equal(File.ReadAllText(fixture.JsonFile), exported);
        Assert.Equal(File.ReadAllText(fixture.YamlFile), RecipeFile.ToYaml(json));
        Assert.Equal(fixture.Export.Recipe.Pruning!.Layers, json.Pruning!.Layers); // records: every threshold to the bit
    }

    [Fact]
    public void BothFilesValidateAgainstTheRepositorySchema()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(fixture.JsonFile));
        var results = Validate(json.RootElement);
        Assert.True(results.IsValid, string.Join("; ", (results.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));

        // YAML read by YamlDotNet's deserializer, not by our reader: plain scalars become numbers and booleans, quoted ones text.
        var graph = new DeserializerBuilder().WithAttemptingUnquotedStringTypeDeserialization().Build().Deserialize<object>(File.ReadAllText(fixture.YamlFile));
        var fromYaml = JsonSerializer.SerializeToElement(graph);
        var yamlResults = Validate(fromYaml);
        Assert.True(yamlResults.IsValid, string.Join("; ", (yamlResults.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));
        Assert.Equal(json.RootElement.GetProperty("results").GetProperty("result").GetProperty("correct").GetInt32(),
            fromYaml.GetProperty("results").GetProperty("result").GetProperty("correct").GetInt32());

        // The schema can fail: a recipe without its provenance does not validate.
        var broken = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(fixture.JsonFile))!.AsObject();
        broken.Remove("provenance");
        Assert.False(Validate(JsonSerializer.SerializeToElement(broken)).IsValid);
    }

    /// <summary>The exported YAML with one line changed; the 1-based number of that line.</summary>
    private (string Text, int Line) EditYaml(string startsWith, string replacement, int occurrence = 0)
    {
        var lines = File.ReadAllLines(fixture.YamlFile);
        var index = lines.Select((l, i) => (l, i)).Where(x => x.l.TrimStart().StartsWith(startsWith, StringComparison.Ordinal)).Skip(occurrence).First().i;
        var indent = lines[index][..(lines[index].Length - lines[index].TrimStart().Length)];
        lines[index] = indent + replacement;
        return (string.Join('\n', lines) + "\n", index + 1);
    }

    private static RecipeFileException Refused(string text, string name = "recipe.yaml") =>
        Assert.Throws<RecipeFileException>(() => RecipeFile.Parse(text, name));

    [Fact]
    public void AnUnknownVersionIsRefusedAtItsLine()
    {
        var (text, line) = EditYaml("version:", "version: 2");
        var refused = Refused(text);
        Assert.Equal((line, "version"), (refused.Line, refused.Field));
        Assert.Contains("newer CompressionLab", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEditedNumberIsRefusedAtItsLineNamingTheField()
    {
        var (top1, top1Line) = EditYaml("top1:", "top1: 0.5", occurrence: 1); // results.result.top1
        var refused = Refused(top1);
        Assert.Equal((top1Line, "results.result.top1"), (refused.Line, refused.Field));

        var (scale, scaleLine) = EditYaml("scale:", "scale: 0.5");
        refused = Refused(scale);
        Assert.Equal(scaleLine, refused.Line);
        Assert.Equal("quantization.layers[0].input.scale", refused.Field);

        var (pruned, prunedLine) = EditYaml("pruned_units:", "pruned_units: 1");
        refused = Refused(pruned);
        Assert.Equal((prunedLine, "pruning.layers[0].pruned_units"), (refused.Line, refused.Field));
    }

    [Fact]
    public void AFieldOfTheWrongKindOrAnUnknownOneIsRefusedAtItsLine()
    {
        var (text, line) = EditYaml("count:", "count: \"many\"");
        var refused = Refused(text);
        Assert.Equal((line, "results.images.count"), (refused.Line, refused.Field));

        var (typo, typoLine) = EditYaml("model_name:", "modle_name: \"x\"");
        refused = Refused(typo);
        Assert.Equal((typoLine, "provenance.modle_name"), (refused.Line, refused.Field));
        Assert.Contains("does not have", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedFilesAreRefusedWithALine()
    {
        var json = File.ReadAllText(fixture.JsonFile);
        var refused = Refused(json[..(json.Length / 2)], "recipe.json");
        Assert.NotNull(refused.Line);
        Assert.Contains("not valid JSON", refused.Message, StringComparison.Ordinal);

        // YAML cut at the end of a line is still YAML: what is missing is named, where its object starts.
        var yaml = File.ReadAllText(fixture.YamlFile);
        refused = Refused(yaml[..(yaml.LastIndexOf('\n', yaml.Length / 2) + 1)]);
        Assert.NotNull(refused.Line);
        Assert.NotNull(refused.Field);
        Assert.Contains("missing", refused.Message, StringComparison.Ordinal);

        // Cut inside a weight channel's {amax, scale, zero_point}: a syntax error at that line.
        var lines = yaml.Split('\n');
        var channel = Array.FindIndex(lines, l => l.TrimStart().StartsWith("- {amax:", StringComparison.Ordinal));
        var cut = string.Join('\n', lines.Take(channel)) + "\n" + lines[channel][..(lines[channel].IndexOf("scale", StringComparison.Ordinal) + 3)];
        refused = Refused(cut);
        Assert.Contains("not valid YAML", refused.Message, StringComparison.Ordinal);
        Assert.InRange(refused.Line!.Value, channel + 1, channel + 2);
    }

    [Fact]
    public void TypeTagsAnchorsAndOtherFormatsAreRefusedAndNothingIsInstantiated()
    {
        var (tagged, line) = EditYaml("model_name:", "model_name: !!python/object/apply:os.system [\"echo hi\"]");
        var refused = Refused(tagged);
        Assert.Equal((line, "provenance.model_name"), (refused.Line, refused.Field));
        Assert.Contains("tags", refused.Message, StringComparison.Ordinal);

        var (anchored, anchorLine) = EditYaml("model_name:", "model_name: &name \"x\"");
        refused = Refused(anchored);
        Assert.Equal(anchorLine, refused.Line);
        Assert.Contains("anchors", refused.Message, StringComparison.Ordinal);

        refused = Refused("format: \"compressionlab-pruning-plan\"\nversion: 1\n");
        Assert.Equal((1, "format"), (refused.Line, refused.Field));
        refused = Refused("{ \"format\": \"compressionlab-recipe\", \"version\": 1 }", "recipe.json");
        Assert.Contains("provenance", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AThresholdEditedConsistentlyIsCaughtWhenTheRecipeMeetsItsModelNamingTheLine()
    {
        // A threshold alone is not checked against other fields (it is a score of the weights): applying it finds it out.
        var (text, line) = EditYaml("threshold:", "threshold: 12345");
        var document = RecipeFile.ParseDocument(text, "recipe.yaml");
        var refused = Assert.Throws<InvalidRequestException>(() => RecipeApplyJob.Run(
            new RecipeApplyRequest(new CheckpointFile(fixture.Model), document.Recipe, "recipe.yaml", Lines: document.Lines),
            fixture.Catalog, null, null, new RecordingProgress(), CancellationToken.None));
        Assert.Equal(nameof(RecipeApplyRequest.Recipe), refused.Setting);
        Assert.Contains($"recipe.yaml, line {line}, column", refused.Message, StringComparison.Ordinal);
        Assert.Contains("(pruning.layers[0].threshold)", refused.Message, StringComparison.Ordinal);
    }
}
