using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

public sealed class CheckpointImportTests : IDisposable
{
    private readonly ModelJobTestBench _bench = new();
    private readonly byte[] _valid;

    public CheckpointImportTests()
    {
        manual_seed(31);
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        var path = Path.Combine(_bench.Workspace.Root, "source.ckpt");
        Checkpoint.Save(network, path, "fashion-mnist", IdxDataset.FashionMnistClasses, top1: 0.87);
        _valid = File.ReadAllBytes(path);
    }

    public void Dispose() => _bench.Dispose();

    [Fact]
    public async Task AValidUploadIsStoredWithItsMetadataOnceAndAgainIsRecognised()
    {
        var first = await CheckpointImport.ImportAsync(_bench.Store, new MemoryStream(_valid), "my lenet.ckpt");

        Assert.False(first.AlreadyPresent);
        Assert.Equal(("my lenet", "lenet-5", "fashion-mnist", 0.87), (first.Model.DisplayName, first.Model.Architecture, first.Model.Dataset, first.Model.Top1));
        Assert.Equal(_valid, File.ReadAllBytes(first.Model.FilePath));
        using (var network = ModelZoo.Create(ModelZoo.Lenet5)) Assert.Equal(network.ParameterCount, first.Model.ParameterCount);

        var again = await CheckpointImport.ImportAsync(_bench.Store, new MemoryStream(_valid), "copy.ckpt");

        Assert.True(again.AlreadyPresent);
        Assert.Equal(first.Model, again.Model);
        Assert.Single(_bench.Store.List());
        Assert.Equal([$"{first.Model.ContentHash}.ckpt"], _bench.ModelFiles());
    }

    [Fact]
    public async Task ACorruptUploadIsRejectedByNameAndChangesNothing()
    {
        var corrupt = (byte[])_valid.Clone();
        corrupt[^10] ^= 0xFF; // inside the weights: the recorded hash no longer matches

        var error = await Assert.ThrowsAsync<CheckpointException>(() => CheckpointImport.ImportAsync(_bench.Store, new MemoryStream(corrupt), "broken.ckpt"));

        Assert.StartsWith("Checkpoint broken.ckpt: the weights are corrupt (SHA-256 ", error.Message, StringComparison.Ordinal);
        Assert.Empty(_bench.Store.List());
        Assert.Empty(_bench.ModelFiles());
    }

    [Fact]
    public async Task AFileThatIsNoCheckpointIsRejectedInWords()
    {
        var error = await Assert.ThrowsAsync<CheckpointException>(() =>
            CheckpointImport.ImportAsync(_bench.Store, new MemoryStream("hello, not a model"u8.ToArray()), "notes.txt"));

        Assert.Contains("not a CompressionLab checkpoint", error.Message, StringComparison.Ordinal);
        Assert.Equal("notes.txt", error.FilePath);
        Assert.Empty(_bench.Store.List());
        Assert.Empty(_bench.ModelFiles());
    }

    [Fact]
    public void AWeightsSectionOfAnotherArchitectureIsRejectedBeforeImport()
    {
        // A hand-built file: lenet-5's header, vgg-tiny's weights, with a matching hash so only the shape check can catch it.
        using var tiny = ModelZoo.Create(ModelZoo.VggTiny);
        var tinyPath = Path.Combine(_bench.Workspace.Root, "tiny.ckpt");
        var tinyMetadata = Checkpoint.Save(tiny, tinyPath, "fashion-mnist", IdxDataset.FashionMnistClasses);
        var tinyBytes = File.ReadAllBytes(tinyPath);
        var weights = tinyBytes[^(int)tinyMetadata.WeightsLength..];
        var header = System.Text.Encoding.UTF8.GetString(tinyBytes, 12, tinyBytes.Length - 12 - weights.Length).Replace("\"vgg-tiny\"", "\"lenet-5\"", StringComparison.Ordinal);
        var headerBytes = System.Text.Encoding.UTF8.GetBytes(header);
        var forged = Path.Combine(_bench.Workspace.Root, "forged.ckpt");
        File.WriteAllBytes(forged, [.. "CLABCKPT"u8, .. BitConverter.GetBytes(headerBytes.Length), .. headerBytes, .. weights]);

        var error = Assert.Throws<CheckpointException>(() => CheckpointImport.Import(_bench.Store, forged));

        Assert.Contains("the weights do not fit lenet-5", error.Message, StringComparison.Ordinal);
        Assert.Empty(_bench.Store.List());
    }
}
