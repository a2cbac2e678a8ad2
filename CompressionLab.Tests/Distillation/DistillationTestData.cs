using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Pruning;

namespace CompressionLab.Tests.Distillation;

/// <summary>What the distillation tests share: random zoo checkpoints to compare and teach with, and a catalog of the test data.</summary>
internal static class DistillationTestData
{
    /// <summary>A random <paramref name="architecture"/> (BatchNorm statistics off their defaults) saved as <paramref name="folder"/>/<paramref name="name"/>.</summary>
    public static string SaveRandom(string folder, string architecture, int seed, string name)
    {
        using var network = PruningTestModels.RandomZooModel(architecture, seed);
        var path = Path.Combine(folder, name);
        Checkpoint.Save(network, path, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        return path;
    }

    public static DatasetCatalog Catalog() => new(new DatasetOptions { Folders = [TestData.FashionMnistFolder] });
}
