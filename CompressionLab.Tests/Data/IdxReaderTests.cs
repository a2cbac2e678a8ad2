using System.IO.Compression;
using CompressionLab.Core.Data;

namespace CompressionLab.Tests.Data;

public sealed class IdxReaderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("idx-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static byte[] Header(byte dims, params int[] sizes)
    {
        var header = new List<byte> { 0, 0, 0x08, dims };
        foreach (var s in sizes) header.AddRange([(byte)(s >> 24), (byte)(s >> 16), (byte)(s >> 8), (byte)s]);
        return [.. header];
    }

    private string Write(string name, byte[] bytes, bool gzip = false)
    {
        var path = Path.Combine(_folder, name);
        if (!gzip) File.WriteAllBytes(path, bytes);
        else
        {
            using var file = File.Create(path);
            using var z = new GZipStream(file, CompressionLevel.Fastest);
            z.Write(bytes);
        }
        return path;
    }

    [Fact]
    public void ReadsRawAndGzipImagesWithBigEndianDimensions()
    {
        byte[] body = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        var raw = IdxReader.ReadImages(Write("a-idx3", [.. Header(3, 3, 2, 2), .. body]));
        var gz = IdxReader.ReadImages(Write("a-idx3.gz", [.. Header(3, 3, 2, 2), .. body], gzip: true));
        Assert.Equal([3, 2, 2], raw.Dimensions);
        Assert.Equal(body, raw.Data);
        Assert.Equal(raw.Data, gz.Data);
    }

    [Fact]
    public void TruncatedDataNamesFileAndByteCounts()
    {
        var path = Write("short-idx3", [.. Header(3, 2, 2, 2), 1, 2, 3]);
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadImages(path));
        Assert.Contains("short-idx3", e.Message);
        Assert.Contains("need 8 bytes, found 3", e.Message);
    }

    [Fact]
    public void TrailingBytesAreRejected()
    {
        var path = Write("long-idx1", [.. Header(1, 2), 1, 2, 3]);
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadLabels(path));
        Assert.Contains("1 bytes after", e.Message);
    }

    [Fact]
    public void LabelsFileGivenAsImagesIsRejectedByDimensionCount()
    {
        var path = Write("labels-idx1", [.. Header(1, 2), 1, 2]);
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadImages(path));
        Assert.Contains("expected images", e.Message);
    }

    [Fact]
    public void WrongMagicAndWrongTypeAreRejected()
    {
        Assert.Contains("not an IDX file", Assert.Throws<IdxFormatException>(() => IdxReader.ReadLabels(Write("png", [0x89, 0x50, 0x4e, 0x47, 0, 0]))).Message);
        Assert.Contains("element type 0x0d", Assert.Throws<IdxFormatException>(() => IdxReader.ReadLabels(Write("floats", [0, 0, 0x0d, 1, 0, 0, 0, 0]))).Message);
        Assert.Contains("at least 4", Assert.Throws<IdxFormatException>(() => IdxReader.ReadLabels(Write("tiny", [0, 0]))).Message);
    }

    [Fact]
    public void CorruptGzipIsRejected()
    {
        var good = Path.Combine(_folder, "good.gz");
        Write("good.gz", [.. Header(1, 1000), .. new byte[1000]], gzip: true);
        var bytes = File.ReadAllBytes(good);
        var truncated = Write("cut.gz", bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadLabels(truncated));
        Assert.Contains("cut.gz", e.Message);
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadLabels(Path.Combine(_folder, "nope.gz")));
        Assert.Contains("file not found", e.Message);
    }

    [Fact]
    public void LoadsTheSharedFashionMnistTestSplit()
    {
        var folder = TestData.FashionMnistFolder;
        var dataset = IdxDataset.LoadFashionMnist(folder);
        Assert.Equal(60_000, dataset.Train.Count);
        Assert.Equal(10_000, dataset.Test.Count);
        Assert.Equal((28, 28), (dataset.Test.Height, dataset.Test.Width));
        // Fashion-MNIST's test split is balanced: 1,000 images per class.
        Assert.All(dataset.Test.Labels.GroupBy(l => l), g => Assert.Equal(1000, g.Count()));
    }

    [Fact]
    public void LabelCountMismatchIsRejected()
    {
        Write("train-images-idx3-ubyte", [.. Header(3, 2, 1, 1), 0, 0]);
        Write("train-labels-idx1-ubyte", [.. Header(1, 3), 0, 0, 0]);
        Write("t10k-images-idx3-ubyte", [.. Header(3, 1, 1, 1), 0]);
        Write("t10k-labels-idx1-ubyte", [.. Header(1, 1), 0]);
        var e = Assert.Throws<IdxFormatException>(() => IdxDataset.LoadFashionMnist(_folder));
        Assert.Contains("3 labels but", e.Message);
    }
}
