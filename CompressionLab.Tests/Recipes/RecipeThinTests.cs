using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Export;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Tests.Cli;
using CompressionLab.Tests.Distillation;
using CompressionLab.Tests.Models;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Recipes;

/// <summary>
/// A filter recipe exported thinned: a random vgg-tiny, a plan pruning every stage by filter (L1, L2, L1), its calibration
/// (mse on 64 validation images), and the recipe exported from them on 200 validation images.
/// </summary>
public sealed class ThinRecipeFixture : IDisposable
{
    public ThinRecipeFixture()
    {
        Folder = Directory.CreateTempSubdirectory("clab-recipe-thin-").FullName;
        Catalog = DistillationTestData.Catalog();
        Model = DistillationTestData.SaveRandom(Folder, ModelZoo.VggTiny, 31, "tiny.ckpt");
        using (var checkpoint = Checkpoint.Load(Model))
        {
            var plan = PruningPlan.Default(checkpoint.Model.Layers, PruningMethod.FilterL1)
                .WithStageRate("stage1", 0.5)
                .WithStageMethod("stage2", PruningMethod.FilterL2).WithStageRate("stage2", 0.25)
                .WithStageRate("stage3", 0.5);
            PlanFilePath = Path.Combine(Folder, "plan.json");
            PlanFile.Write(PlanFilePath, new PlanDocument(new PlanModel(checkpoint.Metadata.Architecture, checkpoint.Metadata.ContentHash), plan), checkpoint.Model.Layers);
        }
        var calibration = CalibrationJob.Run(new CalibrationRequest(new CheckpointFile(Model), Method: "mse", SubsetSize: 64), Catalog, null, null, null,
            new RecordingProgress(), CancellationToken.None);
        CalibrationFilePath = Path.Combine(Folder, "calibration.json");
        CalibrationFile.Write(CalibrationFilePath, QuantizationThresholds.For(calibration.Profile, QuantizationChoice.AllLayers(ClippingMethod.Parse("mse"))), calibration.Profile);
        OutputFolder = Path.Combine(Folder, "out");
        Export = RecipeExportJob.Run(new RecipeExportRequest(new CheckpointFile(Model), OutputFolder, PlanFilePath, CalibrationFilePath, SubsetSize: 200),
            Catalog, null, new RecordingProgress(), CancellationToken.None);
        Recipe = RecipeFile.Read(Path.Combine(OutputFolder, RecipeFile.YamlFileName));
    }

    public string Folder { get; }
    public DatasetCatalog Catalog { get; }
    public string Model { get; }
    public string PlanFilePath { get; }
    public string CalibrationFilePath { get; }
    public string OutputFolder { get; }
    public RecipeExportOutcome Export { get; }
    public CompressionRecipe Recipe { get; }

    public string File(string name) => Path.Combine(OutputFolder, name);

    /// <summary>Channels each layer keeps by the recipe: its units less the pruned ones (every unit of a layer it does not prune).</summary>
    public IReadOnlyDictionary<string, int> KeptWidths(IReadOnlyList<LayerInfo> layers) =>
        layers.Take(layers.Count - 1).ToDictionary(l => l.Name,
            l => Recipe.Pruning!.Layers.FirstOrDefault(p => p.Name == l.Name) is { } pruned ? pruned.Units - pruned.PrunedUnits : (int)l.OutputChannels);

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

/// <summary>
/// <c>recipe export</c> of a filter recipe writes the thinned checkpoint, its PyTorch twin and state dict, and these compute
/// what the masked model computes; <c>export onnx --recipe</c> exports the thinned network; element recipes are not thinned.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class RecipeThinTests(ThinRecipeFixture fixture) : IClassFixture<ThinRecipeFixture>
{
    private static readonly LabeledImages Images = AnalysisSubset.Of(TestData.FashionMnist, SplitPart.Validation, 130).Images; // 3 batches, the last partial

    [Fact]
    public void ExportListsTheThinFilesAfterTheMaskedOnesAndEveryFileIsInTheFolder()
    {
        var names = fixture.Export.Files.Select(Path.GetFileName).ToArray();
        Assert.Equal([RecipeExportJob.StateDictFile, RecipeExportJob.PrunedStateDictFile, RecipeThinning.CheckpointFile, RecipeThinning.PyTorchModelFile, RecipeThinning.StateDictFile],
            names.TakeLast(5));
        Assert.Equal(fixture.Export.Files.Order(StringComparer.Ordinal), Directory.GetFiles(fixture.OutputFolder).Order(StringComparer.Ordinal));
        Assert.Equal("filter", fixture.Recipe.Pruning!.Criterion);
        Assert.DoesNotContain(fixture.Recipe.Gaps, g => g.Section == "thinning");
    }

    [Fact]
    public void OnlyRecipesThatPruneEveryLayerByFilterAreThinned()
    {
        var recipe = fixture.Recipe;
        var pruning = recipe.Pruning!;
        Assert.True(RecipeThinning.Thins(recipe));
        Assert.False(RecipeThinning.Thins(recipe with { Pruning = null }));
        Assert.False(RecipeThinning.Thins(recipe with { Pruning = pruning with { Layers = [] } }));
        Assert.False(RecipeThinning.Thins(recipe with { Pruning = pruning with { Layers = [.. pruning.Layers.Select((l, i) => i == 0 ? l with { Method = "element" } : l)] } }));
    }

    [Fact]
    public void MasksThatCannotBeCutOutGiveTheReasonInsteadOfAThinNetwork()
    {
        using var checkpoint = Checkpoint.Load(fixture.Model);
        var layer = checkpoint.Model.Layer("stage2.conv1");
        // Every filter of a layer removed: the layer would have no output, which thinning refuses.
        var all = PruningMask.FromUnits(layer.Name, PruningCriterion.Filter, layer.WeightShape, Enumerable.Range(0, (int)layer.OutputChannels));
        var (thin, problem) = RecipeThinning.TryThin(fixture.Recipe, checkpoint.Model, [all]);
        Assert.Null(thin);
        Assert.Contains("stage2.conv1", problem, StringComparison.Ordinal);
        var (none, notFilter) = RecipeThinning.TryThin(fixture.Recipe with { Pruning = null }, checkpoint.Model, []);
        Assert.Null(none);
        Assert.NotNull(notFilter);
    }

    [Fact]
    public void ThinStateDictHasTheKeptWidthsUnderPyTorchNamesAndReloadsIntoAModelComputingTheMaskedLogits()
    {
        var bytes = System.IO.File.ReadAllBytes(fixture.File(RecipeThinning.StateDictFile));
        var header = Safetensors.ReadHeader(bytes);
        var widths = JsonSerializer.Deserialize<Dictionary<string, int>>(header.Metadata["widths"])!;
        Assert.Equal(fixture.Recipe.Provenance.WeightsHash, header.Metadata["source_weights_hash"]);
        Assert.Equal(fixture.Recipe.Pruning!.PlanHash, header.Metadata["recipe_plan_hash"]);

        using var masked = Checkpoint.Load(fixture.Model);
        var expectedWidths = fixture.KeptWidths(masked.Model.Layers);
        Assert.Equal(expectedWidths.OrderBy(w => w.Key), widths.OrderBy(w => w.Key));
        Assert.True(widths["stage1.conv1"] < masked.Model.Layer("stage1.conv1").OutputChannels);

        // A model built from the header's widths alone, filled from the file by the twin's names.
        using var reloaded = ModelZoo.Create(header.Metadata["architecture"], masked.Model.ClassCount, masked.Model.InputHeight, masked.Model.InputWidth, widths);
        var names = PyTorchNames.Of(reloaded, PyTorchNaming.Sequential);
        Assert.Equal(names.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal), header.Entries.Select(e => e.Name).Order(StringComparer.Ordinal));
        // Shapes by name: the first conv has the kept filters of one input channel, the second reads the first's kept channels.
        var entries = header.Entries.ToDictionary(e => e.Name);
        Assert.Equal(new long[] { widths["stage1.conv1"], 1, 3, 3 }, entries[names.Weight("stage1.conv1")].Shape);
        Assert.Equal(new long[] { widths["stage1.conv2"], widths["stage1.conv1"], 3, 3 }, entries[names.Weight("stage1.conv2")].Shape);
        Assert.Equal(new long[] { widths["stage1.conv1"] }, entries[names.Parameter("stage1.bn1.running_var")].Shape);
        var state = reloaded.state_dict();
        using (no_grad())
        {
            foreach (var parameter in names.Parameters)
            {
                var entry = entries[parameter.Name];
                Assert.Equal(state[parameter.Source].shape, entry.Shape);
                if (entry.DataType != "F32") continue; // num_batches_tracked: a counter, unused in eval
                using var values = tensor(Safetensors.Floats(bytes, header, entry), [.. entry.Shape]);
                state[parameter.Source].copy_(values);
            }
        }
        reloaded.eval();

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = ImageTensors.Inputs(Images);
        var actual = reloaded.forward(inputs);
        Tensor expected;
        using (RecipeMasks.Apply(masked.Model, RecipeMasks.Reproduce(masked.Model, fixture.Recipe.Pruning)))
            expected = masked.Model.forward(inputs);
        Assert.Equal(expected.shape, actual.shape);
        Assert.InRange((actual - expected).abs().max().item<float>(), 0f, 1e-5f);
        // The comparison can fail: without the masks the dense model computes something else.
        Assert.True((masked.Model.forward(inputs) - actual).abs().max().item<float>() > 1e-3f);
    }

    [Fact]
    public void ThinCheckpointHasTheWidthsTheStateDictsWeightsAndALineageNamingTheRecipe()
    {
        using var thin = Checkpoint.Load(fixture.File(RecipeThinning.CheckpointFile));
        var bytes = System.IO.File.ReadAllBytes(fixture.File(RecipeThinning.StateDictFile));
        var header = Safetensors.ReadHeader(bytes);
        Assert.Equal(JsonSerializer.Deserialize<Dictionary<string, int>>(header.Metadata["widths"])!.OrderBy(w => w.Key), thin.Metadata.Widths!.OrderBy(w => w.Key));
        Assert.Equal(thin.Metadata.ContentHash, header.Metadata["thin_weights_hash"]);
        var lineage = thin.Metadata.Lineage!;
        Assert.Equal("thin", lineage.Operation);
        Assert.Equal("recipe", lineage.Selection);
        Assert.Equal(fixture.Recipe.Provenance.WeightsHash, lineage.ParentWeightsHash);
        Assert.Equal(fixture.Recipe.Pruning!.PlanHash, lineage.PlanHash);
        Assert.Equal(fixture.Recipe.Pruning.Layers.Select(l => (l.Name, l.Level, l.Method)), lineage.Levels!.Select(l => (l.Layer, l.Level, l.Method)));

        var names = PyTorchNames.Of(thin.Model, PyTorchNaming.Sequential);
        var conv = header.Entries.Single(e => e.Name == names.Weight("stage2.conv1"));
        using var weight = thin.Model.state_dict()["stage2.conv1.weight"].contiguous();
        Assert.Equal(weight.data<float>().ToArray(), Safetensors.Floats(bytes, header, conv));

        // The twin's definition is at the thin widths: the first conv makes the kept number of channels.
        var python = System.IO.File.ReadAllText(fixture.File(RecipeThinning.PyTorchModelFile));
        Assert.Contains($"nn.Conv2d(1, {thin.Metadata.Widths!["stage1.conv1"]}, kernel_size=3, padding=1, bias=False),  # 0: stage1.conv1", python, StringComparison.Ordinal);
        Assert.Equal(names.PythonSource(), python);
    }

    [Fact]
    public void OnnxFromAFilterRecipeIsTheThinnedNetworkAndComputesTheMaskedModelsLogits()
    {
        var output = Path.Combine(fixture.Folder, "thin-float.onnx");
        var recipe = new OnnxRecipe(fixture.Recipe, RecipeFile.YamlFileName);
        var outcome = OnnxExportJob.Run(new OnnxExportRequest(new CheckpointFile(fixture.Model), output, Images: new Int8Images(EvaluationSize: 130), Recipe: recipe),
            fixture.Catalog, null, null, null, new RecordingProgress(), CancellationToken.None);
        using var masked = Checkpoint.Load(fixture.Model);
        var widths = fixture.KeptWidths(masked.Model.Layers);
        Assert.Equal(widths.OrderBy(w => w.Key), outcome.Widths!.OrderBy(w => w.Key));
        Assert.True(outcome.WithinTolerance);
        Assert.InRange(outcome.Check.MaxAbsDiff, 0, OnnxValidation.FloatTolerance);

        var graph = ModelProto.Parser.ParseFrom(System.IO.File.ReadAllBytes(output)).Graph;
        var conv = graph.Node.Single(n => n.Name == "stage1.conv2/Conv");
        Assert.Equal(new long[] { widths["stage1.conv2"], widths["stage1.conv1"], 3, 3 }, graph.Initializer.Single(i => i.Name == conv.Input[1]).Dims);

        // Independently of the job's check: ORT on the file against the masked model's own forward (BatchNorm not folded).
        using var onnx = OnnxInference.Load(output);
        using var masks = RecipeMasks.Apply(masked.Model, RecipeMasks.Reproduce(masked.Model, fixture.Recipe.Pruning!));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var expected = masked.Model.forward(ImageTensors.Inputs(Images));
        var actual = tensor(onnx.Logits(Images, 0, Images.Count), [Images.Count, Images.ClassCount]);
        Assert.InRange((actual - expected).abs().max().item<float>(), 0f, (float)OnnxValidation.FloatTolerance);
    }

    [Fact]
    public void OnnxInt8FromAFilterRecipeKeepsTheRecordedScalesOfTheKeptChannels()
    {
        var output = Path.Combine(fixture.Folder, "thin-int8.onnx");
        var recipe = new OnnxRecipe(fixture.Recipe, RecipeFile.YamlFileName);
        var outcome = OnnxExportJob.Run(new OnnxExportRequest(new CheckpointFile(fixture.Model), output, Int8: recipe.Choice, Images: new Int8Images(EvaluationSize: 130), Recipe: recipe),
            fixture.Catalog, null, null, null, new RecordingProgress(), CancellationToken.None);
        Assert.NotNull(outcome.Widths);
        Assert.True(outcome.WithinTolerance, $"ORT {outcome.Check.OrtTop1}, simulated {outcome.Check.TorchSharpTop1}");

        using var checkpoint = Checkpoint.Load(fixture.Model);
        var mask = RecipeMasks.Reproduce(checkpoint.Model, fixture.Recipe.Pruning!).Single(m => m.LayerName == "stage1.conv1");
        var kept = Enumerable.Range(0, mask.UnitCount).Where(u => !mask.IsPruned(u)).ToArray();
        var recorded = fixture.Recipe.Quantization!.Layers.Single(l => l.Name == "stage1.conv1").WeightChannels!;
        var graph = ModelProto.Parser.ParseFrom(System.IO.File.ReadAllBytes(output)).Graph;
        var op = graph.Node.Single(n => n.Name == "stage1.conv1/Conv");
        var weightDq = graph.Node.Single(n => n.Output.Contains(op.Input[1]));
        var raw = graph.Initializer.Single(i => i.Name == weightDq.Input[1]).RawData.ToByteArray();
        var scales = new float[raw.Length / 4];
        Buffer.BlockCopy(raw, 0, scales, 0, raw.Length);
        Assert.Equal(kept.Select(c => (float)recorded[c].Scale), scales);
    }

    [Fact]
    public void ApplyReproducesAFilterRecipeOnItsModelAndNamesItsThinnedModelWhenGivenThat()
    {
        var document = RecipeFile.ReadDocument(fixture.File(RecipeFile.YamlFileName));
        var outcome = RecipeApplyJob.Run(new RecipeApplyRequest(new CheckpointFile(fixture.Model), document.Recipe, RecipeFile.YamlFileName, Lines: document.Lines),
            fixture.Catalog, null, null, new RecordingProgress(), CancellationToken.None);
        Assert.True(outcome.MatchesRecorded);

        var error = Assert.Throws<InvalidRequestException>(() => RecipeApplyJob.Run(
            new RecipeApplyRequest(new CheckpointFile(fixture.File(RecipeThinning.CheckpointFile)), document.Recipe, RecipeFile.YamlFileName, Lines: document.Lines),
            fixture.Catalog, null, null, new RecordingProgress(), CancellationToken.None));
        Assert.Contains("thinned by a recipe", error.Message, StringComparison.Ordinal);
        Assert.Contains("shape of stage1.conv1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CliJsonListsTheThinFilesAndExportOnnxReportsTheWidths()
    {
        var folder = Path.Combine(fixture.Folder, "cli");
        var export = InProcessCli.Run(["recipe", "export", "--model", fixture.Model, "--plan", fixture.PlanFilePath, "--out", folder, "--limit", "100", "--json"]);
        Assert.True(export.Code == CliApp.Success, export.Err);
        var files = InProcessCli.LastJsonLine(export.Out).GetProperty("files").EnumerateArray().Select(f => f.GetString()!).ToArray();
        foreach (var name in new[] { RecipeThinning.CheckpointFile, RecipeThinning.PyTorchModelFile, RecipeThinning.StateDictFile })
        {
            Assert.Contains(Path.Combine(folder, name), files);
            Assert.True(System.IO.File.Exists(Path.Combine(folder, name)), name);
        }

        var onnx = InProcessCli.Run(["export", "onnx", "--model", fixture.Model, "--recipe", Path.Combine(folder, RecipeFile.YamlFileName), "--limit", "100",
            "--out", Path.Combine(fixture.Folder, "cli.onnx"), "--json"]);
        Assert.True(onnx.Code == CliApp.Success, onnx.Err);
        var widths = InProcessCli.LastJsonLine(onnx.Out).GetProperty("widths");
        using var checkpoint = Checkpoint.Load(fixture.Model);
        Assert.Equal(fixture.KeptWidths(checkpoint.Model.Layers)["stage3.conv2"], widths.GetProperty("stage3.conv2").GetInt32());
    }
}
