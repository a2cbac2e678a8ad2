using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Tests.Distillation;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Recipes;

/// <summary>
/// One exported recipe shared by the recipe tests: a random vgg-tiny (BatchNorm off its defaults), a plan file for its
/// weights (element, filter-L2 and element stages), its calibration file (mse on 64 validation images), and the recipe
/// exported from them, measured on 300 validation images. Also a second vgg-tiny (other weights) and a lenet-5.
/// </summary>
public sealed class RecipeFixture : IDisposable
{
    public const int Images = 300;

    public RecipeFixture()
    {
        Folder = Directory.CreateTempSubdirectory("clab-recipe-").FullName;
        Catalog = DistillationTestData.Catalog();
        Model = DistillationTestData.SaveRandom(Folder, ModelZoo.VggTiny, 21, "tiny.ckpt");
        OtherWeights = DistillationTestData.SaveRandom(Folder, ModelZoo.VggTiny, 22, "tiny-other.ckpt");
        OtherArchitecture = DistillationTestData.SaveRandom(Folder, ModelZoo.Lenet5, 23, "lenet5.ckpt");
        PlanFilePath = WritePlan(Model, "plan.json");
        CalibrationFilePath = WriteCalibration(Model, "calibration.json", Catalog);
        OutputFolder = Path.Combine(Folder, "out");
        Export = RecipeExportJob.Run(new RecipeExportRequest(new CheckpointFile(Model), OutputFolder, PlanFilePath, CalibrationFilePath, SubsetSize: Images),
            Catalog, null, new RecordingProgress(), CancellationToken.None);
        YamlFile = Path.Combine(OutputFolder, RecipeFile.YamlFileName);
        JsonFile = Path.Combine(OutputFolder, RecipeFile.JsonFileName);
    }

    public string Folder { get; }
    public DatasetCatalog Catalog { get; }
    public string Model { get; }
    public string OtherWeights { get; }
    public string OtherArchitecture { get; }
    public string PlanFilePath { get; }
    public string CalibrationFilePath { get; }
    public string OutputFolder { get; }
    public RecipeExportOutcome Export { get; }
    public string YamlFile { get; }
    public string JsonFile { get; }

    /// <summary>stage1 element 0.5, stage2 filter-l2 0.25, stage3 element 0.7; the output layer excluded.</summary>
    public static PruningPlan Plan(IReadOnlyList<LayerInfo> layers) =>
        PruningPlan.Default(layers, PruningMethod.Element)
            .WithStageRate("stage1", 0.5)
            .WithStageMethod("stage2", PruningMethod.FilterL2).WithStageRate("stage2", 0.25)
            .WithStageRate("stage3", 0.7);

    public string WritePlan(string model, string name)
    {
        using var checkpoint = Checkpoint.Load(model);
        var path = Path.Combine(Folder, name);
        PlanFile.Write(path, new PlanDocument(new PlanModel(checkpoint.Metadata.Architecture, checkpoint.Metadata.ContentHash), Plan(checkpoint.Model.Layers)), checkpoint.Model.Layers);
        return path;
    }

    public string WriteCalibration(string model, string name, DatasetCatalog catalog)
    {
        var outcome = CalibrationJob.Run(new CalibrationRequest(new CheckpointFile(model), Method: "mse", SubsetSize: 64), catalog, null, null, null,
            new RecordingProgress(), CancellationToken.None);
        var path = Path.Combine(Folder, name);
        CalibrationFile.Write(path, QuantizationThresholds.For(outcome.Profile, QuantizationChoice.AllLayers(ClippingMethod.Parse("mse"))), outcome.Profile);
        return path;
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
