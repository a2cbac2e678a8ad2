using System.Text.Json;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using YamlDotNet.RepresentationModel;

namespace CompressionLab.Tests.Export;

/// <summary>
/// Each dialect parsed back (YamlDotNet for YAML, System.Text.Json for NNI) and checked against the structure FORMATS.md gives,
/// on a vgg-tiny plan that has every case: an element stage, a filter stage, an override, an excluded output layer.
/// </summary>
public sealed class DialectsTests : IDisposable
{
    // vgg-tiny in execution order: stage1.conv1 0, stage1.conv2 3, stage2.conv1 7, stage2.conv2 10, stage3.conv1 14, stage3.conv2 17, classifier.fc 23.
    private readonly ClassifierNetwork _network = ModelZoo.Create(ModelZoo.VggTiny);

    public void Dispose() => _network.Dispose();

    private PruningPlan Plan() => PruningPlan.Default(_network.Layers, PruningMethod.Element, 0.5)
        .WithStageMethod("stage2", PruningMethod.FilterL1).WithStageRate("stage2", 0.25)
        .WithOverride("stage3.conv2", 0.7);

    private DialectInputs Inputs(FineTuneSchedule kind = FineTuneSchedule.Agp, int epochs = 10, DialectQuantization? quantization = null, PruningPlan? plan = null) =>
        DialectInputs.For(_network, plan ?? Plan(), new PruningScheduleSettings(kind, epochs), quantization);

    private static YamlMappingNode Yaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    private static YamlNode At(YamlNode node, string key) => ((YamlMappingNode)node).Children[new YamlScalarNode(key)];

    private static string Text(YamlNode node, string key) => ((YamlScalarNode)At(node, key)).Value!;

    private static string[] Strings(YamlNode node, string key) => [.. ((YamlSequenceNode)At(node, key)).Children.Select(c => ((YamlScalarNode)c).Value!)];

    private static bool Has(YamlNode node, string key) => ((YamlMappingNode)node).Children.ContainsKey(new YamlScalarNode(key));

    [Fact]
    public void DistillerAgpScheduleHasOnePrunerPerStageAndOverrideWithItsPolicy()
    {
        var root = Yaml(DistillerSchedule.Write(Inputs()));

        Assert.Equal("1", Text(root, "version"));
        var pruners = (YamlMappingNode)At(root, "pruners");
        Assert.Equal(["stage1_pruner", "stage2_pruner", "stage3_pruner", "stage3_conv2_pruner"], pruners.Children.Keys.Select(k => ((YamlScalarNode)k).Value));

        var stage1 = At(pruners, "stage1_pruner");
        Assert.Equal("AutomatedGradualPruner", Text(stage1, "class"));
        Assert.Equal(0.0, double.Parse(Text(stage1, "initial_sparsity"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("0.5", Text(stage1, "final_sparsity"));
        Assert.Equal(["0.weight", "3.weight"], Strings(stage1, "weights"));
        Assert.False(Has(stage1, "group_type"));

        var stage2 = At(pruners, "stage2_pruner");
        Assert.Equal("L1RankedStructureParameterPruner_AGP", Text(stage2, "class"));
        Assert.Equal("Filters", Text(stage2, "group_type"));
        Assert.Equal("0.25", Text(stage2, "final_sparsity"));
        Assert.Equal(["7.weight", "10.weight"], Strings(stage2, "weights"));

        Assert.Equal(["14.weight"], Strings(At(pruners, "stage3_pruner"), "weights"));
        Assert.Equal(["17.weight"], Strings(At(pruners, "stage3_conv2_pruner"), "weights"));
        Assert.Equal("0.7", Text(At(pruners, "stage3_conv2_pruner"), "final_sparsity"));
        Assert.DoesNotContain("23.weight", pruners.Children.Values.SelectMany(p => Strings(p, "weights"))); // the excluded output layer

        var policies = ((YamlSequenceNode)At(root, "policies")).Children;
        Assert.Equal(pruners.Children.Keys.Select(k => ((YamlScalarNode)k).Value), policies.Select(p => Text(At(p, "pruner"), "instance_name")));
        // 10 epochs: our final levels at epoch 7.5; Distiller reaches them at the last epoch before ending_epoch, ⌊7.5⌋ = 7.
        Assert.All(policies, p => Assert.Equal(("0", "8", "1"), (Text(p, "starting_epoch"), Text(p, "ending_epoch"), Text(p, "frequency"))));
    }

    [Theory]
    [InlineData(2, "2")] // ⌊1.5⌋ + 1 = 2
    [InlineData(3, "3")] // ⌊2.25⌋ + 1 = 3
    [InlineData(4, "4")] // ⌊3⌋ + 1 = 4
    public void DistillerEndingEpochFollowsTheRamp(int epochs, string ending)
    {
        var root = Yaml(DistillerSchedule.Write(Inputs(epochs: epochs)));
        Assert.All(((YamlSequenceNode)At(root, "policies")).Children, p => Assert.Equal(ending, Text(p, "ending_epoch")));
        Assert.Equal("AutomatedGradualPruner", Text(At(At(root, "pruners"), "stage1_pruner"), "class"));
    }

    [Fact]
    public void DistillerFixedScheduleUsesLevelAndStructurePrunersOverTheRun()
    {
        var text = DistillerSchedule.Write(Inputs(FineTuneSchedule.Fixed));
        var root = Yaml(text);
        var pruners = At(root, "pruners");

        var stage1 = At(pruners, "stage1_pruner");
        Assert.Equal("SparsityLevelParameterPruner", Text(stage1, "class"));
        var levels = (YamlMappingNode)At(stage1, "levels");
        Assert.Equal([("0.weight", "0.5"), ("3.weight", "0.5")], levels.Children.Select(l => (((YamlScalarNode)l.Key).Value, ((YamlScalarNode)l.Value).Value)));

        var stage2 = At(pruners, "stage2_pruner");
        Assert.Equal("L1RankedStructureParameterPruner", Text(stage2, "class"));
        Assert.Equal("0.25", Text(stage2, "desired_sparsity"));
        Assert.Equal("Filters", Text(stage2, "group_type"));
        Assert.All(((YamlSequenceNode)At(root, "policies")).Children, p => Assert.Equal("10", Text(p, "ending_epoch")));
    }

    [Fact]
    public void AOneEpochAgpRunIsWrittenAsFixedLevelsForDistiller()
    {
        var text = DistillerSchedule.Write(Inputs(epochs: 1));
        Assert.Equal("SparsityLevelParameterPruner", Text(At(At(Yaml(text), "pruners"), "stage1_pruner"), "class"));
        Assert.Contains("one-epoch AGP run", text, StringComparison.Ordinal);
    }

    [Fact]
    public void AnL2FilterStageGetsDistillersL2Pruner()
    {
        var plan = Plan().WithStageMethod("stage2", PruningMethod.FilterL2);
        Assert.Equal("L2RankedStructureParameterPruner_AGP", Text(At(At(Yaml(DistillerSchedule.Write(Inputs(plan: plan))), "pruners"), "stage2_pruner"), "class"));
        Assert.Equal("L2NormPruner", NniConfigList.PrunerFor(PruningMethod.FilterL2));
    }

    [Fact]
    public void APlanThatPrunesNothingGivesEmptyPrunersAndPolicies()
    {
        var root = Yaml(DistillerSchedule.Write(Inputs(plan: PruningPlan.Default(_network.Layers, PruningMethod.Element))));
        Assert.Empty(((YamlMappingNode)At(root, "pruners")).Children);
        Assert.Empty(((YamlSequenceNode)At(root, "policies")).Children);
        Assert.Empty(NniConfigList.Write(Inputs(plan: PruningPlan.Default(_network.Layers, PruningMethod.Element))));
    }

    private IReadOnlyList<DistillerLayerStats> Statistics() =>
        [.. _network.Layers.Select((l, i) => new DistillerLayerStats(l.Name,
            new DistillerTensorStats(-i, i + 1.5, -i / 2.0, i + 1.0, 0.25, 1.0 + i, "(64, 1, 28, 28)"),
            new DistillerTensorStats(-2 * i, 2 * i + 1, -i, i + 0.5, 0.5, 2.0, "(64, 8, 28, 28)")))];

    [Fact]
    public void DistillerPostTrainQuantizerCarriesModeMethodOverridesAndStatistics()
    {
        var choice = QuantizationChoice.Parse("asymmetric", "nstd:3", [KeyValuePair.Create("stage2.conv1", "aciq-laplace"), KeyValuePair.Create("stage3.conv1", "entropy")], ["stage1.conv1"]);
        var files = DialectWriter.Files(Inputs(quantization: new DialectQuantization(choice, Statistics())));
        var ptq = files.Single(f => f.Name == DialectWriter.DistillerQuantizationFile).Text;

        var quantizer = At(At(Yaml(ptq), "quantizers"), DistillerQuantization.QuantizerName);
        Assert.Equal("PostTrainLinearQuantizer", Text(quantizer, "class"));
        Assert.Equal(("8", "8", "32"), (Text(quantizer, "bits_activations"), Text(quantizer, "bits_parameters"), Text(quantizer, "bits_accum")));
        Assert.Equal("ASYMMETRIC_UNSIGNED", Text(quantizer, "mode"));
        Assert.Equal("true", Text(quantizer, "per_channel_wts"));
        Assert.Equal("N_STD", Text(quantizer, "clip_acts"));
        Assert.Equal("3.0", Text(quantizer, "clip_n_stds"));
        Assert.Equal(DialectWriter.DistillerStatsFile, Text(quantizer, "model_activation_stats"));

        var overrides = (YamlMappingNode)At(quantizer, "overrides");
        Assert.Equal(["0", "7", "14", "23"], overrides.Children.Keys.Select(k => ((YamlScalarNode)k).Value));
        Assert.Equal(("null", "null"), (Text(At(overrides, "0"), "bits_activations"), Text(At(overrides, "0"), "bits_weights"))); // kept in float
        Assert.Equal("LAPLACE", Text(At(overrides, "7"), "clip_acts"));
        Assert.Equal("NONE", Text(At(overrides, "14"), "clip_acts")); // entropy: Distiller has none
        Assert.Contains("ours: entropy", ptq, StringComparison.Ordinal);
        Assert.Equal("NONE", Text(At(overrides, "23"), "clip_acts")); // logits unclipped

        // The statistics under the PyTorch names, as strings (a bare 0: would be an integer key), with every number kept.
        var stats = files.Single(f => f.Name == DialectWriter.DistillerStatsFile).Text;
        Assert.Equal(["0", "3", "7", "10", "14", "17", "23"], Yaml(stats).Children.Keys.Select(k => ((YamlScalarNode)k).Value));
        Assert.All(Yaml(stats).Children.Keys, k => Assert.Equal(YamlDotNet.Core.ScalarStyle.SingleQuoted, ((YamlScalarNode)k).Style));
        var read = DistillerStatsYaml.Read(stats);
        Assert.Equal(Statistics().Select(s => s with { Layer = PyTorchNames.Of(_network).Module(s.Layer) }), read);
    }

    [Fact]
    public void WithoutStatisticsTheQuantizerNamesNoStatisticsFile()
    {
        var files = DialectWriter.Files(Inputs(quantization: new DialectQuantization(QuantizationChoice.AllLayers(ClippingMethod.Parse("max")))));
        var quantizer = At(At(Yaml(files.Single(f => f.Name == DialectWriter.DistillerQuantizationFile).Text), "quantizers"), DistillerQuantization.QuantizerName);
        Assert.False(Has(quantizer, "model_activation_stats"));
        Assert.Equal(("SYMMETRIC", "NONE"), (Text(quantizer, "mode"), Text(quantizer, "clip_acts")));
        Assert.DoesNotContain(files, f => f.Name == DialectWriter.DistillerStatsFile);
    }

    [Fact]
    public void SparseMlRecipeHasAGmPruningModifierPerStageAndAQuantizationModifierWhenCalibrated()
    {
        var root = Yaml(SparseMlRecipe.Write(Inputs(quantization: new DialectQuantization(QuantizationChoice.AllLayers(ClippingMethod.Parse("avg"))))));
        Assert.Equal("1.1.0", Text(root, "version"));
        var modifiers = ((YamlSequenceNode)At(root, "modifiers")).Children;
        Assert.Equal(["!EpochRangeModifier", "!GMPruningModifier", "!GMPruningModifier", "!GMPruningModifier", "!GMPruningModifier", "!QuantizationModifier"],
            modifiers.Select(m => m.Tag.Value));
        Assert.Equal(("0.0", "10.0"), (Text(modifiers[0], "start_epoch"), Text(modifiers[0], "end_epoch")));

        var pruning = modifiers.Where(m => m.Tag.Value == "!GMPruningModifier").ToArray();
        Assert.Equal([["0.weight", "3.weight"], ["7.weight", "10.weight"], ["14.weight"], ["17.weight"]], pruning.Select(m => Strings(m, "params")));
        Assert.Equal(["0.5", "0.25", "0.5", "0.7"], pruning.Select(m => Text(m, "final_sparsity")));
        Assert.Equal(["unstructured", "filter", "unstructured", "unstructured"], pruning.Select(m => Text(m, "mask_type")));
        Assert.All(pruning, m =>
        {
            Assert.Equal(("0.0", "0.0", "7.5", "0.1"), (Text(m, "init_sparsity"), Text(m, "start_epoch"), Text(m, "end_epoch"), Text(m, "update_frequency")));
            Assert.Equal("cubic", Text(m, "inter_func"));
        });
        Assert.Equal("7.5", Text(modifiers[^1], "start_epoch"));
    }

    [Fact]
    public void SparseMlFixedHoldsTheLevelFromTheStartAndHasNoQuantizationWithoutACalibration()
    {
        var modifiers = ((YamlSequenceNode)At(Yaml(SparseMlRecipe.Write(Inputs(FineTuneSchedule.Fixed))), "modifiers")).Children;
        Assert.DoesNotContain(modifiers, m => m.Tag.Value == "!QuantizationModifier");
        var stage1 = modifiers[1];
        Assert.Equal(("0.5", "0.5", "1.0"), (Text(stage1, "init_sparsity"), Text(stage1, "final_sparsity"), Text(stage1, "end_epoch")));
    }

    [Fact]
    public void NniGivesOneConfigListPerPrunerWithPyTorchModuleNamesAndTheExclusion()
    {
        var lists = NniConfigList.Write(Inputs()).ToDictionary(l => l.Pruner, l => JsonDocument.Parse(l.Json).RootElement);
        Assert.Equal(["LevelPruner", "L1NormPruner"], lists.Keys);

        // Joined, so that the tuples compare by content.
        static (double, string, string) Entry(JsonElement e) => (e.GetProperty("sparsity_per_layer").GetDouble(),
            string.Join(",", e.GetProperty("op_types").EnumerateArray().Select(t => t.GetString())), string.Join(",", e.GetProperty("op_names").EnumerateArray().Select(t => t.GetString())));
        var level = lists["LevelPruner"].EnumerateArray().ToArray();
        Assert.Equal(4, level.Length);
        Assert.Equal((0.5, "Conv2d", "0,3"), Entry(level[0]));
        Assert.Equal((0.5, "Conv2d", "14"), Entry(level[1]));
        Assert.Equal((0.7, "Conv2d", "17"), Entry(level[2]));
        Assert.True(level[3].GetProperty("exclude").GetBoolean());
        Assert.Equal(["23"], level[3].GetProperty("op_names").EnumerateArray().Select(n => n.GetString()));

        var filters = lists["L1NormPruner"].EnumerateArray().ToArray();
        Assert.Equal((0.25, "Conv2d", "7,10"), Entry(filters[0]));
        Assert.True(filters[1].GetProperty("exclude").GetBoolean());
    }

    [Fact]
    public void NniNamesLinearLayersAsLinear()
    {
        using var lenet = ModelZoo.Create(ModelZoo.Lenet5);
        var inputs = DialectInputs.For(lenet, PruningPlan.Default(lenet.Layers, PruningMethod.Element, 0.3), new PruningScheduleSettings(FineTuneSchedule.Agp, 4));
        var entries = JsonDocument.Parse(NniConfigList.Write(inputs).Single().Json).RootElement.EnumerateArray().ToArray();
        Assert.Equal(["7", "9"], entries[^2].GetProperty("op_names").EnumerateArray().Select(n => n.GetString())); // classifier.fc1, fc2
        Assert.Equal(["Linear"], entries[^2].GetProperty("op_types").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(["11"], entries[^1].GetProperty("op_names").EnumerateArray().Select(n => n.GetString())); // classifier.fc excluded
    }

    [Fact]
    public void NestedNamingWritesOurOwnNames()
    {
        var inputs = DialectInputs.For(_network, Plan(), new PruningScheduleSettings(FineTuneSchedule.Agp, 10), naming: PyTorchNaming.Nested);
        Assert.Equal(["stage1.conv1.weight", "stage1.conv2.weight"], Strings(At(At(Yaml(DistillerSchedule.Write(inputs)), "pruners"), "stage1_pruner"), "weights"));
    }

    [Fact]
    public void WriteReturnsEveryFileItWrote()
    {
        var folder = Directory.CreateTempSubdirectory("clab-dialects-").FullName;
        try
        {
            var paths = DialectWriter.Write(Inputs(quantization: new DialectQuantization(QuantizationChoice.AllLayers(ClippingMethod.Parse("avg")), Statistics())), folder);
            Assert.Equal(["pytorch_model.py", "distiller_schedule.yaml", "sparseml_recipe.yaml", "nni_config_list.levelpruner.json", "nni_config_list.l1normpruner.json",
                "distiller_ptq.yaml", "distiller_activation_stats.yaml"], paths.Select(Path.GetFileName));
            Assert.All(paths, p => Assert.True(new FileInfo(p).Length > 0, p));
            Assert.Equal(paths.Order(), Directory.GetFiles(folder).Order());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void ABadScheduleIsRefusedNamingTheSetting()
    {
        var error = Assert.Throws<CompressionLab.Core.Jobs.InvalidRequestException>(() => DialectWriter.Files(Inputs(epochs: 0)));
        Assert.Equal("Epochs", error.Setting);
    }
}
