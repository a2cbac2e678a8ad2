using CompressionLab.Cli;
using CompressionLab.Core.Data;

namespace CompressionLab.Tests;

/// <summary>
/// Finds Fashion-MNIST the way the product does: the CLI's settings (environment variables such as
/// <c>Datasets__Folders__0</c>) and <see cref="DatasetCatalog"/>'s search (<c>shared/</c> beside the checkout in
/// development and CI, Debian's <c>dataset-fashion-mnist</c> package, the per-user download cache), so the suite runs
/// wherever the CLI and dashboard would find the data, and test.sh's check (the CLI's <c>datasets</c>) agrees with it.
/// </summary>
public static class TestData
{
    private static readonly Lazy<string> Folder = new(Locate);
    private static readonly Lazy<Dataset> Fashion = new(() => IdxDataset.LoadFashionMnist(Folder.Value));

    public static string FashionMnistFolder => Folder.Value;

    /// <summary>The full dataset, loaded once per test run (about 0.5 s).</summary>
    public static Dataset FashionMnist => Fashion.Value;

    private static string Locate()
    {
        var listing = new DatasetCatalog(CliSettings.Load(configFile: null).Datasets).List();
        if (listing.Datasets.FirstOrDefault(d => d.Name == IdxDataset.FashionMnistName) is { Path: { } path })
            return path;
        var searched = string.Join("; ", listing.Locations.Select(l => $"{l.Path}: {l.Detail}"));
        throw new InvalidOperationException(
            $"Fashion-MNIST not found where the product looks ({searched}). Run ./test.sh, which installs Debian's dataset-fashion-mnist, or: sudo apt-get install dataset-fashion-mnist");
    }
}
