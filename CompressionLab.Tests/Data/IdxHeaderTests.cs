using CompressionLab.Core.Data;

namespace CompressionLab.Tests.Data;

public sealed class IdxHeaderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("idx-header-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsDimensionsOfRawAndGzipFiles(bool gzip)
    {
        var path = Path.Combine(_folder, "images");
        IdxFiles.Write(path, [.. IdxFiles.Header(3, 2, 5), .. new byte[30]], gzip);
        var header = IdxReader.ReadHeader(path, expectedDimensions: 3);
        Assert.Equal([3, 2, 5], header.Dimensions);
        Assert.Equal(3, header.Count);
        Assert.Equal(16, header.Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DoesNotReadTheData(bool gzip)
    {
        // The header promises 1,000,000 images of 28×28 that are not there: only a full read may notice.
        var path = Path.Combine(_folder, "promise");
        IdxFiles.Write(path, [.. IdxFiles.Header(1_000_000, 28, 28), 1, 2, 3], gzip);
        Assert.Equal(1_000_000, IdxReader.ReadHeader(path).Count);
        Assert.Contains("data is truncated", Assert.Throws<IdxFormatException>(() => IdxReader.ReadImages(path)).Message);
    }

    [Fact]
    public void WrongKindAndTruncatedHeaderAreNamed()
    {
        var labels = Path.Combine(_folder, "labels-idx1");
        IdxFiles.Write(labels, [.. IdxFiles.Header(2), 0, 1], gzip: true);
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadHeader(labels, expectedDimensions: 3));
        Assert.Contains("labels-idx1", e.Message);
        Assert.Contains("expected images", e.Message);

        var cut = Path.Combine(_folder, "cut-header");
        IdxFiles.Write(cut, [0, 0, 8, 3, 0, 0, 0, 9, 0, 0], gzip: true);
        Assert.Contains("header is truncated: 10 bytes, 16 needed", Assert.Throws<IdxFormatException>(() => IdxReader.ReadHeader(cut)).Message);

        var notGzip = Path.Combine(_folder, "broken.gz");
        File.WriteAllBytes(notGzip, [0x1f, 0x8b, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]);
        Assert.Contains("broken.gz", Assert.Throws<IdxFormatException>(() => IdxReader.ReadHeader(notGzip)).Message);
    }

    [Fact]
    public void SummaryOfTheSharedFashionMnistComesFromHeaders()
    {
        var summary = IdxDataset.ReadSummary(TestData.FashionMnistFolder);
        Assert.Equal(new IdxDatasetSummary(60_000, 10_000, 28, 28), summary);
    }

    [Fact]
    public void SummaryRejectsLabelCountThatDiffersFromImages()
    {
        IdxFiles.WriteDataset(_folder, trainCount: 5, testCount: 3);
        IdxFiles.Write(Path.Combine(_folder, "t10k-labels-idx1-ubyte.gz"), [.. IdxFiles.Header(4), 0, 1, 2, 3], gzip: true);
        var e = Assert.Throws<IdxFormatException>(() => IdxDataset.ReadSummary(_folder));
        Assert.Contains("t10k-labels-idx1-ubyte.gz", e.Message);
        Assert.Contains("4 labels but t10k-images-idx3-ubyte.gz has 3 images", e.Message);
    }
}
