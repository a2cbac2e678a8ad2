using System.Text.Json;
using CompressionLab.Core.Export;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Tests.Models;
using Google.Protobuf;
using Onnx;
using YamlDotNet.RepresentationModel;

namespace CompressionLab.Tests.Recipes;

/// <summary>
/// The recipe export wired to the dialect writers and the state dict, and <c>export onnx --recipe</c>: the recipe's masks
/// and its recorded INT8 parameters in the ONNX file, and a recipe of another model refused.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class RecipeWireTests(RecipeFixture fixture) : IClassFixture<RecipeFixture>
{
    [Fact]
    public void ExportWritesEveryDialectFileBesideTheRecipeAndEachParses()
    {
        var files = fixture.Export.Files;
        var names = files.Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        // The fixture's plan prunes by element (stages 1, 3) and filter-L2 (stage 2); its calibration has no statistics.
        Assert.Equal(new[]
        {
            DialectWriter.DistillerQuantizationFile, DialectWriter.DistillerScheduleFile, "nni_config_list.l2normpruner.json", "nni_config_list.levelpruner.json",
            DialectWriter.PyTorchModelFile, RecipeExportJob.StateDictFile, RecipeExportJob.PrunedStateDictFile, RecipeFile.JsonFileName, RecipeFile.YamlFileName,
            DialectWriter.SparseMlFile, RecipeExportJob.PrunedCheckpointFile,
        }.Order(StringComparer.Ordinal), names);
        Assert.Equal(files.Select(Path.GetFullPath).Order(StringComparer.Ordinal), Directory.GetFiles(fixture.OutputFolder).Order(StringComparer.Ordinal));

        foreach (var file in files.Where(f => f.EndsWith(".yaml", StringComparison.Ordinal)))
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(file)));
            Assert.IsType<YamlMappingNode>(stream.Documents.Single().RootNode);
        }
        foreach (var file in files.Where(f => f.EndsWith(".json", StringComparison.Ordinal)))
            using (JsonDocument.Parse(File.ReadAllText(file))) { }

        using var checkpoint = Checkpoint.Load(fixture.Model);
        var names2 = PyTorchNames.Of(checkpoint.Model, PyTorchNaming.Sequential);
        Assert.Contains("def build", File.ReadAllText(Path.Combine(fixture.OutputFolder, DialectWriter.PyTorchModelFile)), StringComparison.Ordinal);

        // The schedule prunes stage1.conv1 under its PyTorch name; the quantizer is Distiller's, with no statistics file.
        var schedule = File.ReadAllText(Path.Combine(fixture.OutputFolder, DialectWriter.DistillerScheduleFile));
        Assert.Contains(names2.Weight("stage1.conv1"), schedule, StringComparison.Ordinal);
        var ptq = File.ReadAllText(Path.Combine(fixture.OutputFolder, DialectWriter.DistillerQuantizationFile));
        Assert.Contains("class: PostTrainLinearQuantizer", ptq, StringComparison.Ordinal);
        Assert.DoesNotContain("model_activation_stats:", ptq, StringComparison.Ordinal);
        var recipe = RecipeFile.Read(fixture.YamlFile);
        Assert.Contains(recipe.Gaps, g => g.Section == "dialects" && g.Message.Contains(DialectWriter.DistillerStatsFile, StringComparison.Ordinal));

        // The state dicts: every tensor under PyTorch's names; the pruned one has exactly the recipe's pruned weights at zero
        // (random weights have no exact zeros of their own).
        var dense = File.ReadAllBytes(Path.Combine(fixture.OutputFolder, RecipeExportJob.StateDictFile));
        var denseHeader = Safetensors.ReadHeader(dense);
        Assert.Equal(names2.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal), denseHeader.Entries.Select(e => e.Name).Order(StringComparer.Ordinal));
        Assert.Equal(recipe.Provenance.WeightsHash, denseHeader.Metadata["source_weights_hash"]);
        var pruned = File.ReadAllBytes(Path.Combine(fixture.OutputFolder, RecipeExportJob.PrunedStateDictFile));
        var prunedHeader = Safetensors.ReadHeader(pruned);
        var layer = recipe.Pruning!.Layers.First(l => l.Name == "stage1.conv1");
        int Zeros(byte[] file, SafetensorsHeader header) => Safetensors.Floats(file, header, header.Entries.Single(e => e.Name == names2.Weight("stage1.conv1"))).Count(v => v == 0);
        Assert.Equal(0, Zeros(dense, denseHeader));
        Assert.Equal(layer.PrunedUnits, Zeros(pruned, prunedHeader));
    }

    [Fact]
    public void TheMaskedCheckpointHoldsTheRecipesMasksAndARecipeBuiltFromItFindsTheSameMasksInItsLineage()
    {
        // The fixture's plan mixes element and filter stages, so it is not thinned: the masked model is a checkpoint.
        var recipe = RecipeFile.Read(fixture.YamlFile);
        var file = Path.Combine(fixture.OutputFolder, RecipeExportJob.PrunedCheckpointFile);
        using (var pruned = Checkpoint.Load(file))
        {
            var lineage = Assert.IsType<CheckpointLineage>(pruned.Metadata.Lineage);
            Assert.Equal((RecipeExportJob.PruneOperation, recipe.Provenance.WeightsHash, recipe.Pruning!.PlanHash), (lineage.Operation, lineage.ParentWeightsHash, lineage.PlanHash));
            Assert.Equal(recipe.Pruning.Layers.Select(l => (l.Name, l.Level, l.Method)), lineage.Levels!.Select(l => (l.Layer, l.Level, l.Method)));
            // Random weights have no zeros of their own: the element layer's zeros are exactly the recipe's pruned weights.
            using var weight = pruned.Model.state_dict()["stage1.conv1.weight"];
            var zeros = weight.data<float>().ToArray().Count(v => v == 0);
            Assert.Equal(recipe.Pruning.Layers.Single(l => l.Name == "stage1.conv1").PrunedUnits, zeros);
        }

        // Exported again with no plan, the masked checkpoint's recipe ranks the same units from its lineage, and since they
        // are already zero, applying them changes no image's answer.
        var again = RecipeExportJob.Run(new RecipeExportRequest(new CheckpointFile(file), Path.Combine(fixture.Folder, "pruned-again"), SubsetSize: RecipeFixture.Images),
            fixture.Catalog, null, new RecordingProgress(), CancellationToken.None).Recipe;
        var pruning = Assert.IsType<RecipePruning>(again.Pruning);
        Assert.Equal("lineage", pruning.Source);
        Assert.Equal(recipe.Pruning.Layers.Select(l => l.MaskSha256), pruning.Layers.Select(l => l.MaskSha256));
        Assert.Equal(again.Results!.Baseline.CorrectPerClass, again.Results.Result.CorrectPerClass);
        Assert.NotEqual(recipe.Provenance.WeightsHash, again.Provenance.WeightsHash);
    }

    [Fact]
    public void WithTheCalibrationsStatisticsTheExportWritesDistillersStatisticsUnderPyTorchNamesAndLeavesNoGap()
    {
        // What calibrate --stats-yaml writes beside the calibration file (the dashboard writes the same from the workspace's profile).
        var stats = Path.Combine(fixture.Folder, "wire-stats.yaml");
        var calibrated = CalibrationJob.Run(new CalibrationRequest(new CheckpointFile(fixture.Model), Method: "mse", SubsetSize: 64, StatsYamlFile: stats), fixture.Catalog,
            null, null, null, new RecordingProgress(), CancellationToken.None);
        var calibration = Path.Combine(fixture.Folder, "wire-stats-calibration.json");
        CalibrationFile.Write(calibration, QuantizationThresholds.For(calibrated.Profile, QuantizationChoice.AllLayers(ClippingMethod.Parse("mse"))), calibrated.Profile);
        var folder = Path.Combine(fixture.Folder, "out-stats");

        var export = RecipeExportJob.Run(new RecipeExportRequest(new CheckpointFile(fixture.Model), folder, CalibrationFile: calibration, SubsetSize: 50, StatsYamlFile: stats),
            fixture.Catalog, null, new RecordingProgress(), CancellationToken.None);

        var file = Path.Combine(folder, DialectWriter.DistillerStatsFile);
        Assert.Contains(file, export.Files);
        Assert.DoesNotContain(export.Recipe.Gaps, g => g.Section == "dialects");
        using var checkpoint = Checkpoint.Load(fixture.Model);
        var names = PyTorchNames.Of(checkpoint.Model, PyTorchNaming.Sequential);
        var ours = DistillerStatsYaml.Read(File.ReadAllText(stats));
        var written = DistillerStatsYaml.Read(File.ReadAllText(file));
        Assert.Equal(checkpoint.Model.Layers.Count, ours.Count);
        Assert.Equal(ours.Select(l => names.Module(l.Layer)), written.Select(l => l.Layer));
        Assert.Equal(ours.Select(l => (l.Input, l.Output)), written.Select(l => (l.Input, l.Output)));
        var statsLine = Assert.Single(File.ReadAllLines(Path.Combine(folder, DialectWriter.DistillerQuantizationFile)), l => l.Contains("model_activation_stats:", StringComparison.Ordinal));
        Assert.Contains(DialectWriter.DistillerStatsFile, statsLine, StringComparison.Ordinal);
    }

    [Fact]
    public void StatisticsWithoutACalibrationOrOfAnotherNetworkAreRefusedNamingTheSettingAndNothingIsWritten()
    {
        var stats = Path.Combine(fixture.Folder, "wire-stranger-stats.yaml");
        var tensor = new DistillerTensorStats(0, 1, 0, 1, 0.5, 0.1, "(1, 2)");
        File.WriteAllText(stats, DistillerStatsYaml.Write([new DistillerLayerStats("hidden.fc1", tensor, tensor)]));
        var folder = Path.Combine(fixture.Folder, "out-refused");

        var alone = Assert.Throws<InvalidRequestException>(() => new RecipeExportRequest(new CheckpointFile(fixture.Model), folder, StatsYamlFile: stats).Validate());
        Assert.Equal(nameof(RecipeExportRequest.StatsYamlFile), alone.Setting);
        var stranger = Assert.Throws<InvalidRequestException>(() => RecipeExportJob.Run(
            new RecipeExportRequest(new CheckpointFile(fixture.Model), folder, CalibrationFile: fixture.CalibrationFilePath, SubsetSize: 50, StatsYamlFile: stats),
            fixture.Catalog, null, new RecordingProgress(), CancellationToken.None));
        Assert.Equal(nameof(RecipeExportRequest.StatsYamlFile), stranger.Setting);
        Assert.Contains("names layer 'hidden.fc1', which vgg-tiny does not have", stranger.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public void OnnxInt8FromARecipeUsesItsRecordedScalesAndMasks()
    {
        var recipe = new OnnxRecipe(RecipeFile.Read(fixture.YamlFile), RecipeFile.YamlFileName);
        var output = Path.Combine(fixture.Folder, "wire-int8.onnx");
        var outcome = OnnxExportJob.Run(new OnnxExportRequest(new CheckpointFile(fixture.Model), output, Int8: recipe.Choice, Images: new Int8Images(EvaluationSize: 100), Recipe: recipe),
            fixture.Catalog, null, null, null, new RecordingProgress(), CancellationToken.None);
        var quantization = recipe.Recipe.Quantization!;
        Assert.Equal(quantization.ChoiceKey, outcome.Quantization);
        Assert.Equal(100, outcome.Check.Images);

        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(output)).Graph;
        TensorProto Initializer(string name) => graph.Initializer.Single(i => i.Name == name);
        NodeProto Producer(string tensor) => graph.Node.Single(n => n.Output.Contains(tensor));
        using var checkpoint = Checkpoint.Load(fixture.Model);
        var checkedLayers = 0;
        foreach (var layer in quantization.Layers.Where(l => !l.KeptFloat))
        {
            var kind = checkpoint.Model.Layers.Single(l => l.Name == layer.Name).Kind;
            var op = graph.Node.Single(n => n.Name == $"{layer.Name}/{(kind == LayerKind.Conv ? "Conv" : "Gemm")}");
            var weightDq = Producer(op.Input[1]);
            var scales = new float[layer.WeightChannels!.Count];
            Buffer.BlockCopy(Initializer(weightDq.Input[1]).RawData.ToByteArray(), 0, scales, 0, scales.Length * 4);
            Assert.Equal(layer.WeightChannels.Select(c => (float)c.Scale), scales);
            var inputQ = Producer(Producer(op.Input[0]).Input[0]);
            Assert.Equal("QuantizeLinear", inputQ.OpType);
            Assert.Equal((float)layer.Input!.Scale, BitConverter.ToSingle(Initializer(inputQ.Input[1]).RawData.ToByteArray()));
            checkedLayers++;
        }
        Assert.True(checkedLayers > 0);

        // The mask is in the weights: at least the recipe's pruned weights of stage1.conv1 are 0 in int8 (rounding adds others).
        var conv1 = graph.Node.Single(n => n.Name == "stage1.conv1/Conv");
        var q = Initializer(Producer(conv1.Input[1]).Input[0]).RawData.ToByteArray();
        var prunedUnits = recipe.Recipe.Pruning!.Layers.First(l => l.Name == "stage1.conv1").PrunedUnits;
        Assert.InRange(q.Count(b => b == 0), prunedUnits, q.Length);
    }

    [Fact]
    public void OnnxExportRefusesARecipeOfAnotherModelNamingWhatDiffersAndWritesNothing()
    {
        var recipe = new OnnxRecipe(RecipeFile.Read(fixture.YamlFile), RecipeFile.YamlFileName);
        foreach (var (model, differs) in new[] { (fixture.OtherWeights, "weights hash"), (fixture.OtherArchitecture, "architecture") })
        {
            var output = Path.Combine(fixture.Folder, $"refused-{Path.GetFileNameWithoutExtension(model)}.onnx");
            var error = Assert.Throws<InvalidRequestException>(() => OnnxExportJob.Run(
                new OnnxExportRequest(new CheckpointFile(model), output, Int8: recipe.Choice, Images: new Int8Images(EvaluationSize: 50), Recipe: recipe),
                fixture.Catalog, null, null, null, new RecordingProgress(), CancellationToken.None));
            Assert.Equal(nameof(OnnxExportRequest.Recipe), error.Setting);
            Assert.Contains(differs, error.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(output));
        }
    }
}
