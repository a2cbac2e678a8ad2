using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using static TorchSharp.torch;

namespace CompressionLab.Tests.EndToEnd;

/// <summary>Puts models into a running app's workspace, as an upload on the Models &amp; data page would.</summary>
internal static class WorkspaceSeed
{
    /// <summary>
    /// A lenet-300-100 labelled for Fashion-MNIST, trained one epoch on the first <paramref name="trainingImages"/>
    /// training images (3,000 take a second or two; 0 leaves its seeded random weights), imported as a checkpoint.
    /// </summary>
    public static ModelRecord ImportLenet(string workspaceFolder, int trainingImages) =>
        Import(workspaceFolder, ModelZoo.Lenet300100, trainingImages);

    /// <summary>As <see cref="ImportLenet"/>, for any architecture of the zoo.</summary>
    public static ModelRecord Import(string workspaceFolder, string architecture, int trainingImages)
    {
        var folder = Directory.CreateTempSubdirectory("clab-e2e-seed-").FullName;
        try
        {
            manual_seed(7);
            using var network = ModelZoo.Create(architecture);
            if (trainingImages > 0)
            {
                var settings = TrainingSettings.ForArchitecture(architecture) with { Epochs = 1, Seed = 7 };
                Trainer.Train(network, TestData.FashionMnist.Train.Take(trainingImages), settings);
            }
            var file = Path.Combine(folder, architecture == ModelZoo.Lenet300100 ? "lenet-quick.ckpt" : $"{architecture}.ckpt");
            Checkpoint.Save(network, file, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
            using var database = new WorkspaceDatabase(new WorkspaceOptions { Folder = workspaceFolder });
            return CheckpointImport.Import(new ModelStore(database), file).Model;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// An element sweep of <paramref name="model"/> on its first <paramref name="subsetSize"/> validation images at
    /// <paramref name="levels"/>, run by the sweep job's own body into the app's workspace (cells and history), as a
    /// finished sweep on the Sensitivity page would leave them.
    /// </summary>
    public static SweepOutcome Sweep(string workspaceFolder, ModelRecord model, IReadOnlyList<double> levels, int subsetSize)
    {
        using var database = new WorkspaceDatabase(new WorkspaceOptions { Folder = workspaceFolder });
        var catalog = new DatasetCatalog(new DatasetOptions { Folders = [TestData.FashionMnistFolder], CacheFolder = Path.Combine(workspaceFolder, "cache") });
        return SweepJob.Run(new SweepRequest(model.Id, IdxDataset.FashionMnistName, Levels: levels, SubsetSize: subsetSize), Guid.NewGuid(), catalog,
            new ModelStore(database), new SqliteSweepCellStore(database), new SweepHistory(database), jobId: null, new SilentProgress(), CancellationToken.None);
    }

    /// <summary>
    /// A plan evaluation of <paramref name="model"/> (every layer's weights pruned at <paramref name="rate"/> by magnitude) on its
    /// first <paramref name="subsetSize"/> validation images, run by the plan evaluation job's own body into the app's
    /// workspace, as an evaluated plan on the Pruning plan page would leave it.
    /// </summary>
    public static PlanEvaluationOutcome EvaluatePlan(string workspaceFolder, ModelRecord model, double rate, int subsetSize)
    {
        using var database = new WorkspaceDatabase(new WorkspaceOptions { Folder = workspaceFolder });
        var catalog = new DatasetCatalog(new DatasetOptions { Folders = [TestData.FashionMnistFolder], CacheFolder = Path.Combine(workspaceFolder, "cache") });
        using var network = ModelZoo.Create(model.Architecture);
        var plan = PruningPlan.Default(network.Layers, PruningMethod.Element, rate);
        return PlanEvaluationJob.Run(new PlanEvaluationRequest(model.Id, plan, IdxDataset.FashionMnistName, subsetSize), catalog, new ModelStore(database),
            new SqliteSweepCellStore(database), new PlanEvaluationStore(database), new JobContext(Guid.NewGuid(), new SilentProgress()), CancellationToken.None);
    }

    /// <summary>
    /// A calibration profile of <paramref name="model"/> on its first <paramref name="subsetSize"/> validation images,
    /// collected by the calibration job's own body into the app's workspace, as Collect on the Quantization page leaves it.
    /// </summary>
    public static CalibrationOutcome Calibrate(string workspaceFolder, ModelRecord model, int subsetSize)
    {
        using var database = new WorkspaceDatabase(new WorkspaceOptions { Folder = workspaceFolder });
        var catalog = new DatasetCatalog(new DatasetOptions { Folders = [TestData.FashionMnistFolder], CacheFolder = Path.Combine(workspaceFolder, "cache") });
        return CalibrationJob.Run(new CalibrationRequest(model.Id, IdxDataset.FashionMnistName, Method: "mse", SubsetSize: subsetSize), catalog, new ModelStore(database),
            new CalibrationProfileStore(database), jobId: null, new SilentProgress(), CancellationToken.None);
    }

    private sealed class SilentProgress : IJobProgress
    {
        public void Report(double fraction, string message)
        {
        }

        public void Publish(JobPartial partial)
        {
        }
    }
}
