using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Services;

namespace CompressionLab.Tests.Web;

/// <summary>The app's backend finds the workspace's stored profile by weights, dataset and subset size, without loading the dataset.</summary>
[Collection(CompressionLab.Tests.Models.SerialCollection.Name)] // builds networks (TorchSharp's global RNG)
public sealed class WorkspaceQuantizationBackendTests : IDisposable
{
    private readonly PageWorkspace workspace = new();

    public void Dispose() => workspace.Dispose();

    [Fact]
    public void AStoredProfileIsFoundForItsModelDatasetAndSizeOnly()
    {
        var database = workspace.Workspace.OpenDatabase();
        var profiles = new CalibrationProfileStore(database);
        var scheduler = new FakeJobScheduler();
        var backend = new WorkspaceQuantizationBackend(new CalibrationJobs(scheduler, workspace.Catalog, workspace.Store, profiles),
            new QuantizationJobs(scheduler, workspace.Catalog, workspace.Store, profiles, new Int8EvaluationStore(database)));
        var model = Import("a");
        var other = Import("b");
        Assert.Null(backend.FindProfile(model, 512));

        // Keyed by the weights hash of the checkpoint's header (what the calibration job records), not the file's hash.
        var weightsHash = Checkpoint.ReadMetadata(model.FilePath).ContentHash;
        Assert.NotEqual(model.ContentHash, weightsHash);
        var seeded = SeededCalibration.Profile(weightsHash, 512) with { Dataset = model.Dataset, SubsetKey = "validation/stratified-512/0123456789ab" };
        profiles.Save(seeded);

        var found = backend.FindProfile(model, 512);
        Assert.NotNull(found);
        Assert.Equal(seeded.SubsetKey, found.SubsetKey);
        Assert.Equal(seeded.Layers.Select(l => l.Layer), found.Layers.Select(l => l.Layer));
        Assert.Null(backend.FindProfile(model, 51)); // "stratified-51/" is not a prefix of "stratified-512/"
        Assert.Null(backend.FindProfile(model, 256));
        Assert.Null(backend.FindProfile(other, 512));
    }

    private ModelRecord Import(string name)
    {
        var file = Path.Combine(workspace.Workspace.Root, $"{name}.ckpt");
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var metadata = Checkpoint.Save(network, file, SyntheticDataset.Name, [.. Enumerable.Range(0, 10).Select(i => $"c{i}")]);
        return workspace.Store.Import(file, new ModelEntry(name, ModelZoo.Lenet300100, SyntheticDataset.Name, null, metadata.ParameterCount));
    }
}
