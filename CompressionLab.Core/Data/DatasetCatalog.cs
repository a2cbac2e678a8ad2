namespace CompressionLab.Core.Data;

/// <summary>A dataset the catalog can load.</summary>
/// <param name="Path">The folder it is loaded from; null for the synthetic dataset.</param>
/// <param name="Source">Where it comes from, in words (location kind and folder, or "generated in code").</param>
public sealed record DatasetInfo(string Name, string? Path, int TrainCount, int TestCount, bool IsSynthetic, string Source);

/// <summary>The kinds of place Fashion-MNIST is looked for, in order of precedence.</summary>
public enum DatasetLocationKind
{
    /// <summary>A folder from <see cref="DatasetOptions.Folders"/>.</summary>
    Configured,

    /// <summary><c>shared/datasets/fashion-mnist</c> beside the checkout (development and CI).</summary>
    Development,

    /// <summary><c>/usr/share/datasets/fashion-mnist</c> (Debian/Ubuntu package <c>dataset-fashion-mnist</c>).</summary>
    System,

    /// <summary>The per-user download cache.</summary>
    Cache,
}

/// <summary>One place the catalog looked, and what it found there.</summary>
/// <param name="Found">The four files are there and their headers are valid.</param>
/// <param name="Used">This is the location datasets are loaded from (the first found).</param>
/// <param name="Detail">What was found, in words: the counts, or why the place does not qualify.</param>
public sealed record DatasetLocation(DatasetLocationKind Kind, string Path, bool Found, bool Used, string Detail);

/// <summary>Every dataset available and every place searched (so the UI can say "looked here, not found").</summary>
public sealed record DatasetListing(IReadOnlyList<DatasetInfo> Datasets, IReadOnlyList<DatasetLocation> Locations);

/// <summary>
/// The starting points of the search besides the configured folders: the folders whose ancestors may have
/// <c>shared/datasets/fashion-mnist</c> beside them, and the system-wide folder. Explicit so tests can use temporary folders.
/// </summary>
public sealed record DatasetSearchRoots(IReadOnlyList<string> AncestorRoots, string SystemFolder)
{
    public const string DebianFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The current directory and the application's folder; the Debian package's folder.</summary>
    public static DatasetSearchRoots Default => new([Directory.GetCurrentDirectory(), AppContext.BaseDirectory], DebianFolder);
}

/// <summary>A dataset name that is unknown, or known but not found on this machine.</summary>
public sealed class DatasetNotFoundException(string name, string message) : Exception(message)
{
    public string DatasetName { get; } = name;
}

/// <summary>
/// Finds and loads datasets. Fashion-MNIST is searched in this order: configured folders, a
/// <c>shared/datasets/fashion-mnist</c> folder beside an ancestor of the current or application directory,
/// the system folder, the download cache; the first complete copy wins. The synthetic dataset is always there.
/// Listing reads only file headers; loaded datasets are kept in memory (thread-safe).
/// </summary>
public sealed class DatasetCatalog(DatasetOptions options, DatasetSearchRoots? roots = null)
{
    private static readonly string[] SharedFolder = ["shared", "datasets", IdxDataset.FashionMnistName];

    private readonly DatasetSearchRoots _roots = roots ?? DatasetSearchRoots.Default;
    private readonly Lock _cacheLock = new();
    private readonly Dictionary<string, (string Key, Lazy<Dataset> Value)> _loaded = new(StringComparer.Ordinal);

    public static IReadOnlyList<string> KnownNames { get; } = [IdxDataset.FashionMnistName, SyntheticDataset.Name];

    public DatasetOptions Options { get; } = options;

    public DatasetListing List()
    {
        var probes = Search();
        var datasets = new List<DatasetInfo>();
        if (probes.FirstOrDefault(p => p.Location.Used) is { Summary: { } summary } used)
        {
            datasets.Add(new DatasetInfo(IdxDataset.FashionMnistName, used.Location.Path, summary.TrainCount, summary.TestCount,
                IsSynthetic: false, Source: $"{Describe(used.Location.Kind)}: {used.Location.Path}"));
        }
        datasets.Add(SyntheticInfo());
        return new DatasetListing(datasets, probes.Select(p => p.Location).ToArray());
    }

    /// <summary>The folder Fashion-MNIST is loaded from, or null when no searched place has it.</summary>
    public string? FindFashionMnist() => Search().FirstOrDefault(p => p.Location.Used)?.Location.Path;

    /// <summary>
    /// Loads a dataset by name (case-insensitive): <c>fashion-mnist</c> or <c>synthetic</c>. Loaded datasets are
    /// kept, so later calls return the same instance (until Fashion-MNIST is found in a different folder).
    /// </summary>
    public Dataset Load(string name)
    {
        var key = name.Trim().ToLowerInvariant();
        return key switch
        {
            SyntheticDataset.Name => Cached(key, $"{Options.SyntheticSeed}/{Options.SyntheticTrainCount}/{Options.SyntheticTestCount}",
                () => SyntheticDataset.Generate(Options.SyntheticSeed, Options.SyntheticTrainCount, Options.SyntheticTestCount)),
            IdxDataset.FashionMnistName => LoadFashionMnist(),
            _ => throw new DatasetNotFoundException(name, $"Unknown dataset '{name}'. Known datasets: {string.Join(", ", KnownNames)}."),
        };
    }

    private Dataset LoadFashionMnist()
    {
        var probes = Search();
        var used = probes.FirstOrDefault(p => p.Location.Used)
            ?? throw new DatasetNotFoundException(IdxDataset.FashionMnistName,
                $"Fashion-MNIST was not found. Searched: {string.Join("; ", probes.Select(p => $"{p.Location.Path} ({p.Location.Detail})"))}. " +
                $"Download it into {Options.FashionMnistCacheFolder()}, install the Debian package dataset-fashion-mnist, " +
                $"or add its folder to {DatasetOptions.SectionName}:{nameof(DatasetOptions.Folders)} in appsettings.json.");
        var folder = used.Location.Path;
        return Cached(IdxDataset.FashionMnistName, folder, () => IdxDataset.LoadFashionMnist(folder));
    }

    private Dataset Cached(string name, string key, Func<Dataset> load)
    {
        Lazy<Dataset> lazy;
        lock (_cacheLock)
        {
            if (!_loaded.TryGetValue(name, out var entry) || entry.Key != key)
            {
                entry = (key, new Lazy<Dataset>(load, LazyThreadSafetyMode.ExecutionAndPublication));
                _loaded[name] = entry;
            }
            lazy = entry.Value;
        }
        try
        {
            return lazy.Value;
        }
        catch
        {
            // A failed load (say, a corrupt file since replaced) must not be remembered.
            lock (_cacheLock)
            {
                if (_loaded.TryGetValue(name, out var entry) && entry.Value == lazy) _loaded.Remove(name);
            }
            throw;
        }
    }

    private DatasetInfo SyntheticInfo() =>
        new(SyntheticDataset.Name, Path: null, Options.SyntheticTrainCount, Options.SyntheticTestCount, IsSynthetic: true,
            Source: SyntheticDataset.Describe(Options.SyntheticSeed));

    private sealed record Probe(DatasetLocation Location, IdxDatasetSummary? Summary);

    /// <summary>Every place checked, in order of precedence; the first found one is marked used.</summary>
    private List<Probe> Search()
    {
        var probes = new List<Probe>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(Probe probe)
        {
            if (seen.Add(probe.Location.Path)) probes.Add(probe);
        }

        foreach (var configured in Options.Folders.Where(f => !string.IsNullOrWhiteSpace(f)))
        {
            var folder = DatasetOptions.ResolvePath(configured);
            var nested = Path.Combine(folder, IdxDataset.FashionMnistName);
            var candidate = !IdxDataset.IsPresent(folder) && Directory.Exists(nested) ? nested : folder;
            Add(Check(DatasetLocationKind.Configured, candidate));
        }

        foreach (var root in _roots.AncestorRoots.Where(r => !string.IsNullOrWhiteSpace(r)).Select(Path.GetFullPath).Distinct())
        {
            var any = false;
            for (var dir = new DirectoryInfo(root); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine([dir.FullName, .. SharedFolder]);
                if (!Directory.Exists(candidate)) continue;
                any = true;
                var probe = Check(DatasetLocationKind.Development, candidate);
                Add(probe);
                if (probe.Location.Found) break;
            }
            if (!any)
                Add(new Probe(new DatasetLocation(DatasetLocationKind.Development, root, Found: false, Used: false,
                    $"no {string.Join('/', SharedFolder)} beside this folder or any folder above it"), null));
        }

        Add(Check(DatasetLocationKind.System, Path.GetFullPath(_roots.SystemFolder)));
        Add(Check(DatasetLocationKind.Cache, Options.FashionMnistCacheFolder()));

        var first = probes.FindIndex(p => p.Location.Found);
        if (first >= 0) probes[first] = probes[first] with { Location = probes[first].Location with { Used = true } };
        return probes;
    }

    private static Probe Check(DatasetLocationKind kind, string folder)
    {
        if (!Directory.Exists(folder))
            return new Probe(new DatasetLocation(kind, folder, Found: false, Used: false, "folder does not exist"), null);
        var missing = IdxDataset.MissingFiles(folder);
        if (missing.Count > 0)
            return new Probe(new DatasetLocation(kind, folder, Found: false, Used: false,
                $"missing {string.Join(", ", missing.Select(m => m + "(.gz)"))}"), null);
        try
        {
            var summary = IdxDataset.ReadSummary(folder);
            return new Probe(new DatasetLocation(kind, folder, Found: true, Used: false,
                $"Fashion-MNIST: {summary.TrainCount:N0} train and {summary.TestCount:N0} test images of {summary.Height}×{summary.Width}"), summary);
        }
        catch (Exception e) when (e is IdxFormatException or IOException or UnauthorizedAccessException)
        {
            return new Probe(new DatasetLocation(kind, folder, Found: false, Used: false, $"unreadable: {e.Message}"), null);
        }
    }

    private static string Describe(DatasetLocationKind kind) => kind switch
    {
        DatasetLocationKind.Configured => "configured folder",
        DatasetLocationKind.Development => "shared folder beside the checkout",
        DatasetLocationKind.System => "system package dataset-fashion-mnist",
        DatasetLocationKind.Cache => "download cache",
        _ => kind.ToString(),
    };
}
