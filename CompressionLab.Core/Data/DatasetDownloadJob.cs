using System.Globalization;
using CompressionLab.Core.Jobs;

namespace CompressionLab.Core.Data;

/// <summary>Downloads Fashion-MNIST into the per-user cache as a job (see <see cref="DatasetDownloader"/>).</summary>
public static class DatasetDownloadJob
{
    public const string Kind = "download";
    public const string Title = "Download Fashion-MNIST";

    public static JobWork Create(DatasetDownloader downloader)
    {
        ArgumentNullException.ThrowIfNull(downloader);
        return async (job, cancellationToken) =>
        {
            var progress = job.Progress;
            progress.Report(0, "Connecting");
            var result = await downloader.DownloadFashionMnistAsync(new JobDownloadProgress(progress), cancellationToken).ConfigureAwait(false);
            progress.Report(1, $"Saved to {result.Folder}");
            return System.Text.Json.JsonSerializer.Serialize(new
            {
                folder = result.Folder,
                files = result.Files.Select(f => new { name = f.Name, bytes = f.Bytes, alreadyPresent = f.AlreadyPresent }),
            });
        };
    }

    /// <summary>"train-images-idx3-ubyte.gz: 12.3 of 26.4 MB".</summary>
    public static string Describe(DownloadProgress p)
    {
        ArgumentNullException.ThrowIfNull(p);
        const double mega = 1024 * 1024;
        return p.Total is long total
            ? string.Create(CultureInfo.InvariantCulture, $"{p.File}: {p.Bytes / mega:0.0} of {total / mega:0.0} MB")
            : string.Create(CultureInfo.InvariantCulture, $"{p.File}: {p.Bytes / mega:0.0} MB");
    }

    /// <summary>
    /// Forwards on the downloader's own thread: <see cref="Progress{T}"/> would post to the thread pool, and
    /// reports could then arrive out of order or after the job ended.
    /// </summary>
    private sealed class JobDownloadProgress(IJobProgress job) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => job.Report(value.Fraction, Describe(value));
    }
}
