using CompressionLab.Core.Data;

namespace CompressionLab.Tests;

/// <summary>Finds the shared Fashion-MNIST copy beside the checkout (../shared/datasets/fashion-mnist), as CI lays it out.</summary>
public static class TestData
{
    private static readonly Lazy<string> Folder = new(Locate);
    private static readonly Lazy<Dataset> Fashion = new(() => IdxDataset.LoadFashionMnist(Folder.Value));

    public static string FashionMnistFolder => Folder.Value;

    /// <summary>The full dataset, loaded once per test run (about 0.5 s).</summary>
    public static Dataset FashionMnist => Fashion.Value;

    private static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "datasets", "fashion-mnist");
            if (IdxDataset.IsPresent(candidate)) return candidate;
        }
        throw new InvalidOperationException("Fashion-MNIST not found in a 'shared/datasets/fashion-mnist' folder above the test binaries.");
    }
}
