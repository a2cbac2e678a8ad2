using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Data;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// A temporary folder for CLI tests: settings files in appsettings.json's shape, tiny Fashion-MNIST-shaped datasets
/// (4×4 images) that a settings file points the CLI at, and a random lenet-300-100 checkpoint.
/// </summary>
internal sealed class CliFolder : IDisposable
{
    public CliFolder(string prefix) => Root = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Root { get; }

    public string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>Writes <paramref name="settings"/> as JSON (e.g. <c>new { Datasets = new { Folders = new[] { dir } } }</c>) and returns its path.</summary>
    public string WriteSettings(object settings, string name = "settings.json")
    {
        var path = PathOf(name);
        File.WriteAllText(path, JsonSerializer.Serialize(settings));
        return path;
    }

    /// <summary>A valid tiny dataset in <c>Root/name</c>: 60 train and 20 test images (label i mod 10).</summary>
    public string WriteTinyDataset(string name, int trainCount = 60, int testCount = 20) =>
        IdxFiles.WriteDataset(PathOf(name), trainCount, testCount);

    /// <summary>A settings file whose <c>Datasets:Folders</c> lists <paramref name="datasetFolder"/>.</summary>
    public string SettingsWithDatasets(string datasetFolder, string name = "settings.json") =>
        WriteSettings(new { Datasets = new { Folders = new[] { datasetFolder } } }, name);

    /// <summary>A random lenet-300-100 (28×28 Fashion-MNIST input) saved as a checkpoint.</summary>
    public string WriteLenetCheckpoint(string name = "lenet.ckpt")
    {
        var path = PathOf(name);
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        Checkpoint.Save(network, path, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        return path;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
