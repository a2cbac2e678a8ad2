namespace CompressionLab.Core.Data;

/// <summary>Where datasets are looked for and downloaded to; bound from the <c>Datasets</c> section of appsettings.json.</summary>
public sealed class DatasetOptions
{
    public const string SectionName = "Datasets";

    /// <summary>The canonical Fashion-MNIST address (Zalando Research).</summary>
    public const string FashionMnistBaseUrl = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

    /// <summary>Extra folders searched first; each may hold the four files itself or in a <c>fashion-mnist/</c> subfolder.</summary>
    public List<string> Folders { get; set; } = [];

    /// <summary>Per-user folder that downloads go to (as <c>&lt;CacheFolder&gt;/fashion-mnist</c>); searched last.</summary>
    public string CacheFolder { get; set; } = DefaultCacheFolder;

    public string DownloadBaseUrl { get; set; } = FashionMnistBaseUrl;

    public bool AllowDownload { get; set; } = true;

    public int SyntheticSeed { get; set; } = SyntheticDataset.DefaultSeed;

    public int SyntheticTrainCount { get; set; } = SyntheticDataset.DefaultTrainCount;

    public int SyntheticTestCount { get; set; } = SyntheticDataset.DefaultTestCount;

    /// <summary><c>LocalApplicationData/CompressionLab/datasets</c> (on Linux: ~/.local/share/CompressionLab/datasets).</summary>
    public static string DefaultCacheFolder =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify),
            "CompressionLab", "datasets");

    /// <summary>The cache folder as an absolute path (the default when unset; <c>~</c> expanded).</summary>
    public string ResolvedCacheFolder() => ResolvePath(string.IsNullOrWhiteSpace(CacheFolder) ? DefaultCacheFolder : CacheFolder);

    /// <summary>The folder a download of Fashion-MNIST goes to, and where the catalog looks for it last.</summary>
    public string FashionMnistCacheFolder() => Path.Combine(ResolvedCacheFolder(), IdxDataset.FashionMnistName);

    /// <summary>Absolute path; a leading <c>~</c> is the user's home folder, relative paths are from the current directory.</summary>
    public static string ResolvePath(string path)
    {
        var trimmed = path.Trim();
        if (trimmed == "~" || trimmed.StartsWith("~/", StringComparison.Ordinal))
            trimmed = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), trimmed.TrimStart('~').TrimStart('/'));
        return Path.GetFullPath(trimmed);
    }
}
