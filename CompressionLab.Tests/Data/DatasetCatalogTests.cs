using CompressionLab.Core.Data;
using Microsoft.Extensions.Configuration;

namespace CompressionLab.Tests.Data;

/// <summary>
/// Each test lays out its own temporary machine: a checkout folder (the ancestor root), a shared folder beside it,
/// a "system" folder, a configured folder and a cache, so nothing on the real machine is found.
/// </summary>
public sealed class DatasetCatalogTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("catalog-tests-").FullName;

    public DatasetCatalogTests()
    {
        Directory.CreateDirectory(Checkout);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Checkout => Path.Combine(_root, "work", "checkout", "bin");
    private string Shared => Path.Combine(_root, "work", "shared", "datasets", "fashion-mnist");
    private string System => Path.Combine(_root, "usr", "share", "datasets", "fashion-mnist");
    private string Configured => Path.Combine(_root, "configured");
    private string CacheRoot => Path.Combine(_root, "cache");
    private string Cache => Path.Combine(CacheRoot, "fashion-mnist");

    private DatasetCatalog Catalog(params string[] folders) =>
        new(new DatasetOptions { Folders = [.. folders], CacheFolder = CacheRoot, SyntheticTrainCount = 200, SyntheticTestCount = 50 },
            new DatasetSearchRoots([Checkout], System));

    [Fact]
    public void WithNoDataOnlySyntheticIsListedAndEveryPlaceIsReported()
    {
        var listing = Catalog(Configured).List();

        var only = Assert.Single(listing.Datasets);
        Assert.Equal(new DatasetInfo("synthetic", null, 200, 50, true, SyntheticDataset.Describe(SyntheticDataset.DefaultSeed)), only);
        Assert.Equal(
            [DatasetLocationKind.Configured, DatasetLocationKind.Development, DatasetLocationKind.System, DatasetLocationKind.Cache],
            listing.Locations.Select(l => l.Kind));
        Assert.All(listing.Locations, l => Assert.False(l.Found || l.Used));
        Assert.Equal([Configured, Checkout, System, Cache], listing.Locations.Select(l => l.Path));
        Assert.Equal("folder does not exist", listing.Locations[2].Detail);
        Assert.Contains("shared/datasets/fashion-mnist", listing.Locations[1].Detail);
    }

    [Fact]
    public void LoadingMissingFashionMnistNamesThePlacesSearched()
    {
        var e = Assert.Throws<DatasetNotFoundException>(() => Catalog().Load("fashion-mnist"));
        Assert.Contains("not found", e.Message);
        Assert.Contains(System, e.Message);
        Assert.Contains(Cache, e.Message);
        Assert.Equal("fashion-mnist", e.DatasetName);
    }

    [Fact]
    public void UnknownNameListsTheKnownOnes()
    {
        var e = Assert.Throws<DatasetNotFoundException>(() => Catalog().Load("cifar-10"));
        Assert.Equal("Unknown dataset 'cifar-10'. Known datasets: fashion-mnist, synthetic.", e.Message);
    }

    [Theory]
    [InlineData("configured-itself", DatasetLocationKind.Configured)]
    [InlineData("configured-parent", DatasetLocationKind.Configured)]
    [InlineData("shared", DatasetLocationKind.Development)]
    [InlineData("system", DatasetLocationKind.System)]
    [InlineData("cache", DatasetLocationKind.Cache)]
    public void FindsEachKindOfLocation(string place, DatasetLocationKind kind)
    {
        var folder = place switch
        {
            "configured-itself" => Configured,
            "configured-parent" => Path.Combine(Configured, "fashion-mnist"),
            "shared" => Shared,
            "system" => System,
            _ => Cache,
        };
        IdxFiles.WriteDataset(folder, trainCount: 30, testCount: 12);

        var catalog = Catalog(Configured);
        var listing = catalog.List();

        var fashion = listing.Datasets.Single(d => d.Name == "fashion-mnist");
        Assert.Equal((folder, 30, 12, false), (fashion.Path, fashion.TrainCount, fashion.TestCount, fashion.IsSynthetic));
        Assert.Contains(folder, fashion.Source);
        var used = Assert.Single(listing.Locations, l => l.Used);
        Assert.Equal((kind, folder, true), (used.Kind, used.Path, used.Found));
        Assert.Contains("30 train and 12 test images of 4×4", used.Detail);
        Assert.Contains(listing.Datasets, d => d.IsSynthetic);
        Assert.Equal(folder, catalog.FindFashionMnist());

        var loaded = catalog.Load("fashion-mnist");
        Assert.Equal((30, 12, 4, 4), (loaded.Train.Count, loaded.Test.Count, loaded.Train.Height, loaded.Train.Width));
        Assert.Equal(folder, loaded.Source);
    }

    [Fact]
    public void PrecedenceIsConfiguredThenSharedThenSystemThenCache()
    {
        // Distinct train counts tell which copy was chosen.
        IdxFiles.WriteDataset(Configured, 40, 4);
        IdxFiles.WriteDataset(Shared, 30, 3);
        IdxFiles.WriteDataset(System, 20, 2);
        IdxFiles.WriteDataset(Cache, 10, 1);

        int Chosen() => Catalog(Configured).List().Datasets.Single(d => d.Name == "fashion-mnist").TrainCount;

        Assert.Equal(40, Chosen());
        var listing = Catalog(Configured).List();
        Assert.All(listing.Locations, l => Assert.True(l.Found));
        Assert.Single(listing.Locations, l => l.Used);

        Directory.Delete(Configured, recursive: true);
        Assert.Equal(30, Chosen());
        Directory.Delete(Shared, recursive: true);
        Assert.Equal(20, Chosen());
        Directory.Delete(System, recursive: true);
        Assert.Equal(10, Chosen());
    }

    [Fact]
    public void ConfiguredFoldersAreSearchedInTheirOrder()
    {
        var first = Path.Combine(_root, "first");
        var second = Path.Combine(_root, "second");
        IdxFiles.WriteDataset(second, 22, 2);
        Assert.Equal(second, Catalog(first, second).FindFashionMnist());
        IdxFiles.WriteDataset(first, 11, 1);
        Assert.Equal(first, Catalog(first, second).FindFashionMnist());
    }

    [Fact]
    public void IncompleteOrCorruptCopiesAreReportedAndSkipped()
    {
        IdxFiles.WriteDataset(Configured, 40, 4);
        File.Delete(Path.Combine(Configured, "t10k-labels-idx1-ubyte.gz"));
        IdxFiles.WriteDataset(Shared, 30, 3);
        File.WriteAllBytes(Path.Combine(Shared, "train-images-idx3-ubyte.gz"), [0x1f, 0x8b, 1, 2, 3]);
        IdxFiles.WriteDataset(System, 20, 2, gzip: false);

        var listing = Catalog(Configured).List();

        Assert.Equal(20, listing.Datasets.Single(d => d.Name == "fashion-mnist").TrainCount);
        var configured = listing.Locations.Single(l => l.Kind == DatasetLocationKind.Configured);
        Assert.False(configured.Found);
        Assert.Equal("missing t10k-labels-idx1-ubyte(.gz)", configured.Detail);
        var shared = listing.Locations.Single(l => l.Kind == DatasetLocationKind.Development);
        Assert.False(shared.Found);
        Assert.StartsWith("unreadable: train-images-idx3-ubyte.gz", shared.Detail);
        Assert.True(listing.Locations.Single(l => l.Kind == DatasetLocationKind.System).Used);
    }

    [Fact]
    public void CountsComeFromHeadersAndFullLoadStillChecksTheData()
    {
        // Headers say 1,000 train images; the pixels are not there. Listing is cheap and trusts the headers...
        IdxFiles.WriteDataset(Configured, 10, 5);
        IdxFiles.Write(Path.Combine(Configured, "train-images-idx3-ubyte.gz"), [.. IdxFiles.Header(1000, 4, 4), 1, 2, 3], gzip: true);
        IdxFiles.Write(Path.Combine(Configured, "train-labels-idx1-ubyte.gz"), [.. IdxFiles.Header(1000), .. new byte[1000]], gzip: true);
        var catalog = Catalog(Configured);
        Assert.Equal(1000, catalog.List().Datasets[0].TrainCount);
        // ...while loading reads everything and names the problem.
        var e = Assert.Throws<IdxFormatException>(() => catalog.Load("fashion-mnist"));
        Assert.Contains("train-images-idx3-ubyte.gz: data is truncated", e.Message);
    }

    [Fact]
    public void LoadedDatasetsAreKeptInMemory()
    {
        IdxFiles.WriteDataset(System, 20, 2);
        var catalog = Catalog();
        Assert.Same(catalog.Load("fashion-mnist"), catalog.Load("fashion-mnist"));
        var synthetic = catalog.Load("Synthetic");
        Assert.Same(synthetic, catalog.Load("synthetic"));
        Assert.True(synthetic.IsSynthetic);
        Assert.Equal((200, 50), (synthetic.Train.Count, synthetic.Test.Count));
    }

    [Fact]
    public void AFailedLoadIsNotRemembered()
    {
        IdxFiles.WriteDataset(System, 20, 2);
        File.WriteAllBytes(Path.Combine(System, "t10k-images-idx3-ubyte.gz"), [.. IdxFiles.Header(2, 4, 4), 1]);
        var catalog = Catalog();
        Assert.Throws<IdxFormatException>(() => catalog.Load("fashion-mnist"));
        IdxFiles.WriteDataset(System, 20, 2);
        Assert.Equal(2, catalog.Load("fashion-mnist").Test.Count);
    }

    [Fact]
    public void DefaultRootsFindTheSharedCopyBesideTheCheckoutElseTheDebianPackageElseTheCache()
    {
        var options = new DatasetOptions();
        var listing = new DatasetCatalog(options).List();
        var fashion = listing.Datasets.Single(d => d.Name == "fashion-mnist");
        Assert.Equal((60_000, 10_000), (fashion.TrainCount, fashion.TestCount));
        Assert.Equal(DatasetSearchRoots.DebianFolder, listing.Locations.Single(l => l.Kind == DatasetLocationKind.System).Path);

        // Independently of the catalog: a development checkout has shared/datasets/fashion-mnist beside an ancestor of
        // the test binaries (CI, a developer); a user's clone has none, and the data comes from Debian's package or,
        // failing that, the download cache.
        static bool Holds(string dir) => File.Exists(Path.Combine(dir, "train-images-idx3-ubyte.gz"));
        var besideCheckout = Ancestors(AppContext.BaseDirectory)
            .Select(dir => Path.Combine(dir, "shared", "datasets", "fashion-mnist"))
            .FirstOrDefault(Holds);
        var (kind, path) = besideCheckout is not null ? (DatasetLocationKind.Development, besideCheckout)
            : Holds(DatasetSearchRoots.DebianFolder) ? (DatasetLocationKind.System, DatasetSearchRoots.DebianFolder)
            : (DatasetLocationKind.Cache, options.FashionMnistCacheFolder());
        Assert.Equal(kind, listing.Locations.Single(l => l.Used).Kind);
        Assert.Equal(Path.GetFullPath(path), fashion.Path);
    }

    private static IEnumerable<string> Ancestors(string folder)
    {
        for (var dir = new DirectoryInfo(folder); dir is not null; dir = dir.Parent) yield return dir.FullName;
    }

    [Fact]
    public void OptionsBindFromTheDatasetsSection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Datasets:Folders:0"] = "/data/a",
            ["Datasets:Folders:1"] = "/data/b",
            ["Datasets:CacheFolder"] = "/tmp/cache",
            ["Datasets:DownloadBaseUrl"] = "http://mirror.local/fmnist/",
            ["Datasets:AllowDownload"] = "false",
        }).Build();
        var options = new DatasetOptions();
        configuration.GetSection(DatasetOptions.SectionName).Bind(options);
        Assert.Equal(["/data/a", "/data/b"], options.Folders);
        Assert.Equal("/tmp/cache/fashion-mnist", options.FashionMnistCacheFolder());
        Assert.Equal("http://mirror.local/fmnist/", options.DownloadBaseUrl);
        Assert.False(options.AllowDownload);
    }

    [Fact]
    public void DefaultsArePerUserCacheAndCanonicalAddress()
    {
        var options = new DatasetOptions();
        var local = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        Assert.Equal(Path.GetFullPath(Path.Combine(local, "CompressionLab", "datasets")), options.ResolvedCacheFolder());
        Assert.Equal("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", options.DownloadBaseUrl);
        Assert.True(options.AllowDownload);
        Assert.Empty(options.Folders);
    }
}
