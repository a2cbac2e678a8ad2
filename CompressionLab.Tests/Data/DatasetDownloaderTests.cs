using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CompressionLab.Core.Data;

namespace CompressionLab.Tests.Data;

public sealed class DatasetDownloaderTests : IDisposable
{
    /// <summary>The four shared files as a server would send them (read once per test run, 31 MB).</summary>
    private static readonly Lazy<IReadOnlyDictionary<string, byte[]>> SharedFiles = new(() =>
        DatasetDownloader.FashionMnistFiles.ToDictionary(f => f.Name, f => File.ReadAllBytes(Path.Combine(TestData.FashionMnistFolder, f.Name))));

    private readonly string _root = Directory.CreateTempSubdirectory("download-tests-").FullName;
    private readonly HttpClient _http = new();

    public void Dispose()
    {
        _http.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private string CacheRoot => Path.Combine(_root, "cache");
    private string CacheFolder => Path.Combine(CacheRoot, "fashion-mnist");

    private DatasetOptions Options(Uri baseUrl) => new() { CacheFolder = CacheRoot, DownloadBaseUrl = baseUrl.ToString() };

    private string[] CacheFiles() => Directory.Exists(CacheFolder) ? Directory.GetFiles(CacheFolder).Select(f => Path.GetFileName(f)).ToArray() : [];

    /// <summary>Reports synchronously on the downloading thread (<see cref="Progress{T}"/> would post them later).</summary>
    private sealed class Recorder(Action<DownloadProgress>? onReport = null) : IProgress<DownloadProgress>
    {
        public List<DownloadProgress> Reports { get; } = [];

        public void Report(DownloadProgress value)
        {
            lock (Reports) Reports.Add(value);
            onReport?.Invoke(value);
        }
    }

    [Fact]
    public async Task DownloadsVerifiesAndIsThenFoundByTheCatalog()
    {
        await using var server = await LocalFileServer.StartAsync(SharedFiles.Value);
        var options = Options(server.BaseUrl);
        var progress = new Recorder();

        var result = await new DatasetDownloader(options, _http).DownloadFashionMnistAsync(progress);

        Assert.Equal(CacheFolder, result.Folder);
        Assert.All(result.Files, f => Assert.False(f.AlreadyPresent));
        foreach (var file in DatasetDownloader.FashionMnistFiles)
        {
            var path = Path.Combine(CacheFolder, file.Name);
            Assert.Equal(file.Sha256, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
            Assert.Equal(file.Length, new FileInfo(path).Length);
        }
        Assert.Equal(DatasetDownloader.FashionMnistFiles.Select(f => f.Name).Order(), CacheFiles().Order());

        // Progress covers every file, never goes back, and ends at 1.
        Assert.Equal(DatasetDownloader.FashionMnistFiles.Select(f => f.Name), progress.Reports.Select(r => r.File).Distinct());
        Assert.Equal(progress.Reports.Select(r => r.Fraction).Order(), progress.Reports.Select(r => r.Fraction));
        Assert.Equal(1.0, progress.Reports[^1].Fraction, precision: 12);
        Assert.Contains(progress.Reports, r => r.File == "train-images-idx3-ubyte.gz" && r.Bytes > 0 && r.Bytes < r.Total);
        Assert.All(progress.Reports.Where(r => r.Total is not null), r => Assert.InRange(r.Bytes, 0, r.Total!.Value));

        var catalog = new DatasetCatalog(options, new DatasetSearchRoots([Path.Combine(_root, "elsewhere")], Path.Combine(_root, "no-system")));
        var fashion = catalog.List().Datasets.Single(d => d.Name == "fashion-mnist");
        Assert.Equal((CacheFolder, 60_000, 10_000), (fashion.Path, fashion.TrainCount, fashion.TestCount));
        Assert.Contains("download cache", fashion.Source);

        // A second run finds every file verified in place and asks the server for nothing.
        var again = await new DatasetDownloader(options, _http).DownloadFashionMnistAsync();
        Assert.All(again.Files, f => Assert.True(f.AlreadyPresent));
        Assert.All(server.Requests.Values, n => Assert.Equal(1, n));
    }

    [Fact]
    public async Task CorruptedFileIsRejectedNamedAndNotLeftInTheCache()
    {
        var files = new Dictionary<string, byte[]>(SharedFiles.Value);
        var corrupted = files["train-labels-idx1-ubyte.gz"].ToArray();
        corrupted[1000] ^= 0x40;
        files["train-labels-idx1-ubyte.gz"] = corrupted;
        await using var server = await LocalFileServer.StartAsync(files);

        var e = await Assert.ThrowsAsync<DatasetDownloadException>(() => new DatasetDownloader(Options(server.BaseUrl), _http).DownloadFashionMnistAsync());

        Assert.Contains("train-labels-idx1-ubyte.gz", e.Message);
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(corrupted)), e.Message);
        Assert.Contains("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", e.Message);
        // The verified file before it stays; the corrupted one and every temporary file are gone.
        Assert.Equal(["train-images-idx3-ubyte.gz"], CacheFiles());
        var catalog = new DatasetCatalog(Options(server.BaseUrl), new DatasetSearchRoots([Path.Combine(_root, "elsewhere")], Path.Combine(_root, "no-system")));
        Assert.Null(catalog.FindFashionMnist());
    }

    [Fact]
    public async Task ACachedFileWithTheWrongChecksumIsReplaced()
    {
        await using var server = await LocalFileServer.StartAsync(SharedFiles.Value);
        Directory.CreateDirectory(CacheFolder);
        File.WriteAllBytes(Path.Combine(CacheFolder, "t10k-labels-idx1-ubyte.gz"), [1, 2, 3]);
        var result = await new DatasetDownloader(Options(server.BaseUrl), _http).DownloadFashionMnistAsync();
        Assert.False(result.Files.Single(f => f.Name == "t10k-labels-idx1-ubyte.gz").AlreadyPresent);
        Assert.Equal(SharedFiles.Value["t10k-labels-idx1-ubyte.gz"], File.ReadAllBytes(Path.Combine(CacheFolder, "t10k-labels-idx1-ubyte.gz")));
    }

    [Fact]
    public async Task CancellingMidFileLeavesNothingBehind()
    {
        await using var server = await LocalFileServer.StartAsync(SharedFiles.Value, stalling: "train-images-idx3-ubyte.gz");
        using var cancel = new CancellationTokenSource();
        var progress = new Recorder(r =>
        {
            if (r.Bytes > 0) cancel.Cancel();
        });
        // If cancelling did not work, the stall timeout would end the test with a different exception.
        var downloader = new DatasetDownloader(Options(server.BaseUrl), _http) { StallTimeout = TimeSpan.FromSeconds(30) };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => downloader.DownloadFashionMnistAsync(progress, cancel.Token));

        Assert.Contains(progress.Reports, r => r.Bytes > 0);
        Assert.Empty(CacheFiles());
    }

    [Fact]
    public async Task StalledServerIsAbandonedWithAClearError()
    {
        await using var server = await LocalFileServer.StartAsync(SharedFiles.Value, stalling: "train-images-idx3-ubyte.gz");
        var downloader = new DatasetDownloader(Options(server.BaseUrl), _http) { StallTimeout = TimeSpan.FromMilliseconds(300) };
        var e = await Assert.ThrowsAsync<DatasetDownloadException>(() => downloader.DownloadFashionMnistAsync());
        Assert.Contains("train-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("timed out", e.Message);
        Assert.Empty(CacheFiles());
    }

    [Fact]
    public async Task UnreachableServerGivesAClearError()
    {
        // A port that was free a moment ago: nothing listens there.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var options = Options(new Uri($"http://127.0.0.1:{port}/fmnist/"));

        var e = await Assert.ThrowsAsync<DatasetDownloadException>(() => new DatasetDownloader(options, _http).DownloadFashionMnistAsync());

        Assert.Contains($"http://127.0.0.1:{port}/fmnist/train-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("could not be reached", e.Message);
        Assert.Empty(CacheFiles());
    }

    [Fact]
    public async Task MissingFileOnTheServerGivesTheStatus()
    {
        var files = new Dictionary<string, byte[]>(SharedFiles.Value);
        files.Remove("t10k-images-idx3-ubyte.gz");
        await using var server = await LocalFileServer.StartAsync(files);
        var e = await Assert.ThrowsAsync<DatasetDownloadException>(() => new DatasetDownloader(Options(server.BaseUrl), _http).DownloadFashionMnistAsync());
        Assert.Contains("t10k-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("404", e.Message);
        Assert.DoesNotContain("t10k-images-idx3-ubyte.gz", CacheFiles());
    }

    [Fact]
    public async Task DisabledDownloadsAndBadAddressesAreRefused()
    {
        var disabled = new DatasetOptions { CacheFolder = CacheRoot, AllowDownload = false };
        Assert.Contains("Datasets:AllowDownload is false",
            (await Assert.ThrowsAsync<DatasetDownloadException>(() => new DatasetDownloader(disabled, _http).DownloadFashionMnistAsync())).Message);
        var ftp = new DatasetOptions { CacheFolder = CacheRoot, DownloadBaseUrl = "ftp://example.org/" };
        Assert.Contains("'ftp://example.org/' is not an absolute http or https address",
            (await Assert.ThrowsAsync<DatasetDownloadException>(() => new DatasetDownloader(ftp, _http).DownloadFashionMnistAsync())).Message);
        Assert.False(Directory.Exists(CacheRoot));
    }

    [Fact]
    public void ChecksumsAreThePublishedOnes()
    {
        // Independent check: the shared copy is the published release.
        foreach (var file in DatasetDownloader.FashionMnistFiles)
            Assert.Equal(file.Sha256, Convert.ToHexStringLower(SHA256.HashData(SharedFiles.Value[file.Name])));
    }
}
