using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>Plan files: written and read back unchanged, and refused with the file and the problem named.</summary>
public sealed class PlanFileTests : IDisposable
{
    private const string Hash = "53ae950c038cbb373e7ce35d77f48c5ea1d0df2bf333064045ecde152d1ce69a";
    private static readonly IReadOnlyList<LayerInfo> VggSmall = PruningPlanTests.Table(ModelZoo.VggSmall);
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-plan-file-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    private static PlanDocument Document() => new(
        new PlanModel(ModelZoo.VggSmall, Hash, "my vgg"),
        PruningPlan.Default(VggSmall, PruningMethod.Element, 0.5)
            .WithStageMethod("stage2", PruningMethod.FilterL2)
            .WithStageRate("stage2", 0.25)
            .WithOverride("stage3.conv2", 0.3)
            .WithOverride("stage1.conv1", 0.1, PruningMethod.FilterL1)
            .Excluding("stage3.conv1", "kept dense on purpose"));

    private string WriteText(string text)
    {
        var path = PathOf($"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        return path;
    }

    private string Written() => WriteText(PlanFile.ToJson(Document(), VggSmall));

    [Fact]
    public void ARoundTripGivesTheSamePlanModelAndLevels()
    {
        var path = PathOf("plan.json");
        var document = Document();

        PlanFile.Write(path, document, VggSmall);
        var read = PlanFile.ReadFor(path, ModelZoo.VggSmall, Hash, VggSmall);

        Assert.Equal(document.Model, read.Model);
        Assert.Equal(document.Plan.Stages.Select(s => (s.Name, s.Rate, s.Method, string.Join(",", s.Layers))),
            read.Plan.Stages.Select(s => (s.Name, s.Rate, s.Method, string.Join(",", s.Layers))));
        Assert.Equal(document.Plan.Overrides, read.Plan.Overrides);
        Assert.Equal(document.Plan.Exclusions, read.Plan.Exclusions);
        Assert.Equal(document.Plan.Resolve(VggSmall).Layers, read.Plan.Resolve(VggSmall).Layers);
        // The file states the per-layer result for a reader: stage2 by filter-l2 at 0.25, stage1.conv1 overridden.
        var text = File.ReadAllText(path);
        Assert.Contains("\"weights_hash\": \"" + Hash + "\"", text, StringComparison.Ordinal);
        Assert.Contains("\"method\": \"filter-l2\"", text, StringComparison.Ordinal);
        Assert.Contains("\"source\": \"override\"", text, StringComparison.Ordinal);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void APlanForOtherWeightsIsRefusedNamingBothHashes()
    {
        var other = "0123456789ab" + new string('0', 52);

        var e = Assert.Throws<PlanFileException>(() => PlanFile.ReadFor(Written(), ModelZoo.VggSmall, other, VggSmall));

        Assert.Contains("other weights of vgg-small ('my vgg')", e.Message, StringComparison.Ordinal);
        Assert.Contains("53ae950c038c…", e.Message, StringComparison.Ordinal);
        Assert.Contains("0123456789ab…", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("Plan file /", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void APlanForAnotherArchitectureIsRefusedNamingIt()
    {
        var tiny = PruningPlanTests.Table(ModelZoo.VggTiny);

        var e = Assert.Throws<PlanFileException>(() => PlanFile.ReadFor(Written(), ModelZoo.VggTiny, Hash, tiny));

        Assert.Contains("the plan is for a vgg-small model ('my vgg'), not for this vgg-tiny", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ \"format\": \"compressionlab-pruning-plan\", ", "not a valid plan file at line 1")]
    [InlineData("[1, 2]", "not a valid plan file")]
    [InlineData("{\"format\":\"something-else\",\"version\":1}", "not a CompressionLab pruning plan (its \"format\" is 'something-else'")]
    [InlineData("{\"format\":\"compressionlab-pruning-plan\",\"version\":7}", "format version 7, written by a newer CompressionLab")]
    [InlineData("{\"format\":\"compressionlab-pruning-plan\",\"version\":1,\"model\":{\"architecture\":\"vgg-small\"},\"stages\":[]}", "model: the file must name the model's architecture and weights_hash")]
    [InlineData("{\"format\":\"compressionlab-pruning-plan\",\"version\":1,\"modle\":{}}", "$.modle")]
    public void ABadFileIsRefusedNamingTheFileAndTheProblem(string text, string problem)
    {
        var path = WriteText(text);

        var e = Assert.Throws<PlanFileException>(() => PlanFile.ReadFor(path, ModelZoo.VggSmall, Hash, VggSmall));

        Assert.StartsWith($"Plan file {path}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownLayerIsRefusedNamingTheSettingAndTheModelsLayers()
    {
        var path = WriteText(Valid().Replace("\"stage3.conv2\"", "\"stage3.conv9\"", StringComparison.Ordinal));

        var e = Assert.Throws<PlanFileException>(() => PlanFile.ReadFor(path, ModelZoo.VggSmall, Hash, VggSmall));

        Assert.Contains($"Plan file {path}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("names layer 'stage3.conv9', which the model does not have", e.Message, StringComparison.Ordinal);
        Assert.Contains("Its layers are: stage1.conv1,", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ANaNLevelIsReportedAsABadLevelNotAsASyntaxError()
    {
        var path = WriteText(Valid().Replace("\"rate\": 0.25", "\"rate\": \"NaN\"", StringComparison.Ordinal));

        var e = Assert.Throws<PlanFileException>(() => PlanFile.ReadFor(path, ModelZoo.VggSmall, Hash, VggSmall));

        Assert.Contains("stages.stage2.rate: Stage stage2: rate is not a number (NaN).", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ALayersListThatDisagreesWithThePlanIsRefusedNotIgnored()
    {
        // The resolved list says stage3.conv2 at 0.3 (its override); editing only the list would do nothing.
        var text = Valid();
        var at = text.IndexOf("\"name\": \"stage3.conv2\"", StringComparison.Ordinal);
        var edited = text[..at] + text[at..].ReplaceFirst("\"level\": 0.3", "\"level\": 0.9");
        var path = WriteText(edited);

        var e = Assert.Throws<PlanFileException>(() => PlanFile.ReadFor(path, ModelZoo.VggSmall, Hash, VggSmall));

        Assert.Contains("layers.stage3.conv2: the list says 0.9 by element, but the stages, overrides and exclusions give 0.3 by element", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileWithoutTheLayersListIsReadFromItsStages()
    {
        var text = Valid();
        var path = WriteText(text[..text.IndexOf(",\n  \"layers\"", StringComparison.Ordinal)] + "\n}");

        var read = PlanFile.ReadFor(path, ModelZoo.VggSmall, Hash, VggSmall);

        Assert.Equal(Document().Plan.Resolve(VggSmall).Layers, read.Plan.Resolve(VggSmall).Layers);
    }

    [Fact]
    public void AMissingFileIsNamed()
    {
        var path = PathOf("nothing.json");

        var e = Assert.Throws<PlanFileException>(() => PlanFile.Read(path));

        Assert.Equal($"Plan file {path}: file not found.", e.Message);
    }

    private static string Valid() => PlanFile.ToJson(Document(), VggSmall).ReplaceLineEndings("\n");
}

internal static class TextEdits
{
    public static string ReplaceFirst(this string text, string what, string with)
    {
        var at = text.IndexOf(what, StringComparison.Ordinal);
        Assert.True(at >= 0, $"'{what}' not found");
        return text[..at] + with + text[(at + what.Length)..];
    }
}
