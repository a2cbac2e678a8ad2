using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Data;

public sealed class DatasetDownloadJobTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("download-job-tests-").FullName;
    private readonly HttpClient _http = new();

    public void Dispose()
    {
        _http.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task ReportsProgressPerFileAndReturnsWhereTheFilesWent()
    {
        var files = DatasetDownloader.FashionMnistFiles.ToDictionary(f => f.Name, f => File.ReadAllBytes(Path.Combine(TestData.FashionMnistFolder, f.Name)));
        await using var server = await LocalFileServer.StartAsync(files);
        var options = new DatasetOptions { CacheFolder = Path.Combine(_root, "cache"), DownloadBaseUrl = server.BaseUrl.ToString() };
        var progress = new RecordingProgress();

        var json = await DatasetDownloadJob.Create(new DatasetDownloader(options, _http))(new JobContext(Guid.NewGuid(), progress), CancellationToken.None);

        using var result = JsonDocument.Parse(json!);
        Assert.Equal(options.FashionMnistCacheFolder(), result.RootElement.GetProperty("folder").GetString());
        Assert.Equal(DatasetDownloader.FashionMnistFiles.Select(f => f.Name),
            result.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("name").GetString()));
        Assert.True(IdxDataset.IsPresent(options.FashionMnistCacheFolder()));

        var fractions = progress.Reports.Select(r => r.Fraction).ToArray();
        Assert.Equal(fractions.Order(), fractions);
        Assert.Equal(1.0, fractions[^1], precision: 12);
        Assert.Contains(progress.Reports, r => r.Message.StartsWith("train-images-idx3-ubyte.gz: ", StringComparison.Ordinal) && r.Message.EndsWith(" of 25.2 MB", StringComparison.Ordinal));
    }

    [Fact]
    public void DescribesBytesInMegabytes()
    {
        Assert.Equal("a.gz: 1.5 of 3.0 MB", DatasetDownloadJob.Describe(new DownloadProgress("a.gz", 3 * 512 * 1024, 3 * 1024 * 1024, 0.5)));
        Assert.Equal("a.gz: 0.5 MB", DatasetDownloadJob.Describe(new DownloadProgress("a.gz", 512 * 1024, null, 0.1)));
    }
}
