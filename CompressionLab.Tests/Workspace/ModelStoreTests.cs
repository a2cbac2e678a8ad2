using System.Security.Cryptography;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Tests.Workspace;

public sealed class ModelStoreTests : IDisposable
{
    private readonly TempWorkspace _workspace = new();
    private readonly ManualClock _clock = new();
    private readonly ModelStore _store;

    public ModelStoreTests()
    {
        _store = new ModelStore(_workspace.OpenDatabase(), _clock);
    }

    public void Dispose() => _workspace.Dispose();

    private static ModelEntry Teacher(double? top1 = 0.931) =>
        new("VGG small teacher", "vgg-small", "fashion-mnist", top1, 300_042, """{"epochs":8,"seed":1}""");

    [Fact]
    public void ImportStoresTheFileUnderItsSha256AndRecordsTheMetadata()
    {
        var bytes = RandomBytes(seed: 1, length: 100_000);
        var source = WriteSource("teacher.ckpt", bytes);

        var record = _store.Import(source, Teacher());

        var expectedHash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        Assert.Equal(expectedHash, record.ContentHash);
        Assert.Equal(Path.Combine(_workspace.Folder, "models", expectedHash + ".ckpt"), record.FilePath);
        Assert.Equal(bytes, File.ReadAllBytes(record.FilePath));
        Assert.Equal(("VGG small teacher", "vgg-small", "fashion-mnist", 0.931, 300_042L), (record.DisplayName, record.Architecture, record.Dataset, record.Top1, record.ParameterCount));
        Assert.Equal(_clock.GetUtcNow(), record.CreatedAt);
        Assert.Equal("""{"epochs":8,"seed":1}""", record.MetadataJson);
        Assert.Equal(record, _store.Get(record.Id));
        Assert.Equal(record, _store.FindByHash(expectedHash.ToUpperInvariant()));
        Assert.Equal([record], _store.List());
        Assert.True(File.Exists(source), "The source file must be copied, not moved.");
    }

    [Fact]
    public void ImportingTheSameBytesAgainReturnsTheFirstRecord()
    {
        var bytes = RandomBytes(seed: 2, length: 5_000);
        var first = _store.Import(WriteSource("a.ckpt", bytes), Teacher());
        _clock.Advance(TimeSpan.FromMinutes(1));

        var again = _store.Import(WriteSource("renamed-copy.ckpt", bytes), Teacher() with { DisplayName = "Another name" });

        Assert.Equal(first, again);
        Assert.Single(_store.List());
        Assert.Equal([first.FilePath], Directory.GetFiles(_store.ModelsFolder));
    }

    [Fact]
    public void DifferentBytesAreDifferentModelsListedNewestFirst()
    {
        var older = _store.Import(WriteSource("a.ckpt", RandomBytes(3, 1_000)), Teacher());
        _clock.Advance(TimeSpan.FromSeconds(1));
        var newer = _store.Import(WriteSource("b.ckpt", RandomBytes(4, 1_000)), Teacher() with { DisplayName = "Student", Architecture = "vgg-tiny" });

        Assert.NotEqual(older.ContentHash, newer.ContentHash);
        Assert.Equal([newer.Id, older.Id], _store.List().Select(m => m.Id));
        Assert.Equal(2, Directory.GetFiles(_store.ModelsFolder).Length);
    }

    [Fact]
    public void MissingSourceFileIsNamedAndNothingIsWritten()
    {
        var missing = Path.Combine(_workspace.Root, "no-such.ckpt");

        var error = Assert.Throws<FileNotFoundException>(() => _store.Import(missing, Teacher()));

        Assert.Contains(missing, error.Message);
        AssertNothingStored();
    }

    [Fact]
    public void FolderAsSourceIsRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => _store.Import(_workspace.Root, Teacher()));

        Assert.Contains("is a folder", error.Message);
        AssertNothingStored();
    }

    [Fact]
    public void EmptyFileIsRefusedAndNothingIsWritten()
    {
        var empty = WriteSource("empty.ckpt", []);

        var error = Assert.Throws<InvalidDataException>(() => _store.Import(empty, Teacher()));

        Assert.Contains(empty, error.Message);
        Assert.Contains("empty", error.Message);
        AssertNothingStored();
    }

    [Fact]
    public void ReadFailureHalfwayLeavesNoPartialFileAndNoRow()
    {
        using var failing = new FailingStream(goodBytes: 100);

        var error = Assert.Throws<IOException>(() => _store.Import(failing, Teacher(), "upload.ckpt"));

        Assert.Contains("'upload.ckpt' after 100 bytes", error.Message);
        AssertNothingStored();
    }

    [Fact]
    public void InvalidMetadataIsRefusedBeforeAnythingIsWritten()
    {
        var source = WriteSource("a.ckpt", RandomBytes(5, 100));

        Assert.Contains("not valid JSON", Assert.Throws<ArgumentException>(() => _store.Import(source, Teacher() with { MetadataJson = "{epochs:" })).Message);
        Assert.Contains("0.93, not 93", Assert.Throws<ArgumentOutOfRangeException>(() => _store.Import(source, Teacher(top1: 93.1))).Message);
        Assert.Contains("architecture", Assert.Throws<ArgumentException>(() => _store.Import(source, Teacher() with { Architecture = " " })).Message);
        AssertNothingStored();
    }

    [Fact]
    public void DeleteRemovesTheRowAndTheFile()
    {
        var kept = _store.Import(WriteSource("a.ckpt", RandomBytes(6, 100)), Teacher());
        var removed = _store.Import(WriteSource("b.ckpt", RandomBytes(7, 100)), Teacher());

        Assert.True(_store.Delete(removed.Id));

        Assert.False(File.Exists(removed.FilePath));
        Assert.Null(_store.Get(removed.Id));
        Assert.Equal([kept], _store.List());
        Assert.False(_store.Delete(removed.Id));
    }

    [Fact]
    public void UpdateAccuracyChangesOnlyTop1()
    {
        var model = _store.Import(WriteSource("a.ckpt", RandomBytes(8, 100)), Teacher(top1: null));

        var measured = _store.UpdateAccuracy(model.Id, 0.9025);

        Assert.Equal(model with { Top1 = 0.9025 }, measured);
        Assert.Equal(measured, _store.Get(model.Id));
        Assert.Null(_store.UpdateAccuracy(model.Id, null)!.Top1);
        Assert.Null(_store.UpdateAccuracy(Guid.NewGuid(), 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => _store.UpdateAccuracy(model.Id, 1.5));
    }

    [Fact]
    public void ReimportRestoresAStoredFileThatWentMissing()
    {
        var bytes = RandomBytes(9, 2_000);
        var model = _store.Import(WriteSource("a.ckpt", bytes), Teacher());
        File.Delete(model.FilePath);

        var again = _store.Import(WriteSource("a-again.ckpt", bytes), Teacher());

        Assert.Equal(model.Id, again.Id);
        Assert.Equal(bytes, File.ReadAllBytes(model.FilePath));
    }

    private void AssertNothingStored()
    {
        Assert.Empty(_store.List());
        Assert.True(!Directory.Exists(_store.ModelsFolder) || Directory.GetFileSystemEntries(_store.ModelsFolder).Length == 0,
            "The models folder holds a leftover file.");
    }

    private string WriteSource(string name, byte[] bytes)
    {
        var path = Path.Combine(_workspace.Root, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] RandomBytes(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Gives some bytes, then fails like a dropped upload or a bad disk sector.</summary>
    private sealed class FailingStream(int goodBytes) : Stream
    {
        private int _given;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _given; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_given >= goodBytes)
            {
                throw new IOException("Connection reset by peer.");
            }

            var n = Math.Min(count, goodBytes - _given);
            buffer.AsSpan(offset, n).Fill(0xAB);
            _given += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
