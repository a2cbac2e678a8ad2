using System.Security.Cryptography;

namespace CompressionLab.Core.Data;

/// <summary>Download progress of one file.</summary>
/// <param name="File">The file's name, e.g. <c>train-images-idx3-ubyte.gz</c>.</param>
/// <param name="Bytes">Bytes of this file received so far.</param>
/// <param name="Total">This file's length, when known.</param>
/// <param name="Fraction">Fraction of the whole download (all files) done, 0..1.</param>
public sealed record DownloadProgress(string File, long Bytes, long? Total, double Fraction);

/// <summary>A file of a published dataset with its published SHA-256 and length.</summary>
public sealed record DatasetFile(string Name, string Sha256, long Length);

/// <param name="AlreadyPresent">The file was already in the cache with the right checksum and was not downloaded again.</param>
public sealed record DownloadedFile(string Name, string Path, long Bytes, string Sha256, bool AlreadyPresent);

public sealed record DownloadResult(string Folder, IReadOnlyList<DownloadedFile> Files);

/// <summary>A download that failed: unreachable server, HTTP error, stalled transfer or wrong checksum.</summary>
public sealed class DatasetDownloadException(string message, Exception? innerException = null) : Exception(message, innerException);

/// <summary>
/// Downloads Fashion-MNIST's four files into the per-user cache (<see cref="DatasetOptions.FashionMnistCacheFolder"/>),
/// where <see cref="DatasetCatalog"/> finds them. Each file is written to a temporary file in the same folder,
/// checked against its published SHA-256 and only then renamed into place (an atomic move), so the cache never
/// holds a partial or unverified file. Files already there with the right checksum are kept.
/// </summary>
public sealed class DatasetDownloader(DatasetOptions options, HttpClient http)
{
    /// <summary>The release files and their SHA-256 sums (as published with Fashion-MNIST and in PLATFORM-NOTES.md).</summary>
    public static IReadOnlyList<DatasetFile> FashionMnistFiles { get; } =
    [
        new("train-images-idx3-ubyte.gz", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", 26_421_856),
        new("train-labels-idx1-ubyte.gz", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", 29_491),
        new("t10k-images-idx3-ubyte.gz", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", 4_422_079),
        new("t10k-labels-idx1-ubyte.gz", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", 5_125),
    ];

    private const string PartSuffix = ".part";
    private const int ProgressStep = 256 * 1024;

    // One download at a time in this process: two at once would write the same cache files.
    private static readonly SemaphoreSlim OneAtATime = new(1, 1);

    /// <summary>How long the server may send nothing before the download is abandoned.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public async Task<DownloadResult> DownloadFashionMnistAsync(IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!options.AllowDownload)
            throw new DatasetDownloadException($"Downloads are disabled ({DatasetOptions.SectionName}:{nameof(DatasetOptions.AllowDownload)} is false).");
        var baseUrl = BaseUri(options.DownloadBaseUrl);
        var folder = options.FashionMnistCacheFolder();

        await OneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Directory.CreateDirectory(folder);
            RemoveLeftoverParts(folder);
            var totalLength = FashionMnistFiles.Sum(f => f.Length);
            long done = 0;
            var results = new List<DownloadedFile>();
            foreach (var file in FashionMnistFiles)
            {
                var path = Path.Combine(folder, file.Name);
                var before = done;
                void Report(long bytes, long? total) =>
                    progress?.Report(new DownloadProgress(file.Name, bytes, total, Math.Min(1.0, (double)(before + bytes) / totalLength)));

                var present = File.Exists(path) ? await Sha256Async(path, cancellationToken).ConfigureAwait(false) : null;
                if (present == file.Sha256)
                {
                    var length = new FileInfo(path).Length;
                    Report(length, length);
                    results.Add(new DownloadedFile(file.Name, path, length, file.Sha256, AlreadyPresent: true));
                }
                else
                {
                    // A cached copy with the wrong checksum is worse than none: the catalog would try to load it.
                    if (present is not null) File.Delete(path);
                    var bytes = await DownloadFileAsync(new Uri(baseUrl, file.Name), file, path, Report, cancellationToken).ConfigureAwait(false);
                    results.Add(new DownloadedFile(file.Name, path, bytes, file.Sha256, AlreadyPresent: false));
                }
                done += file.Length;
            }
            return new DownloadResult(folder, results);
        }
        finally
        {
            OneAtATime.Release();
        }
    }

    private async Task<long> DownloadFileAsync(Uri url, DatasetFile file, string path, Action<long, long?> report, CancellationToken cancellationToken)
    {
        var temporary = Path.Combine(Path.GetDirectoryName(path)!, $".{file.Name}.{Guid.NewGuid():N}{PartSuffix}");
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            stall.CancelAfter(StallTimeout);
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw new DatasetDownloadException($"Downloading {file.Name}: {url} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            var total = response.Content.Headers.ContentLength;

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long bytes = 0;
            await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            await using (var input = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false))
            {
                var buffer = new byte[1 << 16];
                long reported = 0;
                report(0, total);
                while (true)
                {
                    stall.CancelAfter(StallTimeout);
                    var read = await input.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    if (read == 0) break;
                    bytes += read;
                    if (bytes > file.Length)
                        throw new DatasetDownloadException($"Downloading {file.Name}: {url} sent more than the {file.Length} bytes the published file has.");
                    hash.AppendData(buffer, 0, read);
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    if (bytes - reported >= ProgressStep || bytes == total)
                    {
                        report(bytes, total);
                        reported = bytes;
                    }
                }
            }

            var sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (sha256 != file.Sha256)
                throw new DatasetDownloadException(
                    $"{file.Name} from {url} is not the published file: its SHA-256 is {sha256}, expected {file.Sha256} ({bytes} bytes received). It was deleted.");
            File.Move(temporary, path, overwrite: true);
            report(bytes, total ?? bytes);
            return bytes;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException e)
        {
            // Our stall timer or the HttpClient's own timeout, not the caller's token.
            throw new DatasetDownloadException($"Downloading {file.Name}: {url} timed out (no data for {StallTimeout.TotalSeconds:0} s or the client's timeout of {http.Timeout.TotalSeconds:0} s passed); the download was abandoned.", e);
        }
        catch (HttpRequestException e)
        {
            var reason = e.HttpRequestError == HttpRequestError.ConnectionError ? "the server could not be reached" : e.Message;
            throw new DatasetDownloadException($"Downloading {file.Name}: {url} failed: {reason} ({e.Message}).", e);
        }
        catch (IOException e)
        {
            throw new DatasetDownloadException($"Downloading {file.Name} from {url} into {path} failed: {e.Message}", e);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static Uri BaseUri(string url)
    {
        var withSlash = url.EndsWith('/') ? url : url + "/";
        if (!Uri.TryCreate(withSlash, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new DatasetDownloadException($"{DatasetOptions.SectionName}:{nameof(DatasetOptions.DownloadBaseUrl)} '{url}' is not an absolute http or https address.");
        return uri;
    }

    /// <summary>Temporary files of a download that was killed (a crash, not a cancel, which cleans up).</summary>
    private static void RemoveLeftoverParts(string folder)
    {
        foreach (var file in FashionMnistFiles)
            foreach (var part in Directory.EnumerateFiles(folder, $".{file.Name}.*{PartSuffix}"))
                File.Delete(part);
    }

    private static async Task<string> Sha256Async(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }
}
