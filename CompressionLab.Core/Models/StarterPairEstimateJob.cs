using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Serialization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;

namespace CompressionLab.Core.Models;

/// <summary>An estimate job's result: how long training the starter pair on <see cref="Dataset"/> would take on this machine.</summary>
/// <param name="Estimates">Teacher, then student.</param>
/// <param name="Seconds">How long the measurement itself took.</param>
public sealed record StarterPairEstimate(string Dataset, IReadOnlyList<TrainingTimeEstimate> Estimates, double Seconds)
{
    /// <summary>Both trainings, one after the other (as the worker runs them).</summary>
    [JsonIgnore]
    public TimeSpan Total => TimeSpan.FromTicks(Estimates.Sum(e => e.Total.Ticks));

    public static StarterPairEstimate FromJson(string json) => ModelJobJson.Read<StarterPairEstimate>(json);
}

/// <summary>
/// Times a few real training and evaluation batches of each starter architecture (<see cref="StarterPair.Estimate"/>)
/// as a job, so the measurement waits its turn behind other work instead of competing with it for the cores
/// (which would make both slower and the estimate wrong).
/// </summary>
public static class StarterPairEstimateJob
{
    public const string Kind = "estimate";

    public static string Title(string dataset) => $"Estimate the starter pair's training time on {dataset}";

    public static JobWork Create(string dataset, DatasetCatalog catalog)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataset);
        ArgumentNullException.ThrowIfNull(catalog);
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(dataset, catalog, job.Progress, cancellationToken)));
    }

    public static StarterPairEstimate Run(string dataset, DatasetCatalog catalog, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataset);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        var clock = Stopwatch.StartNew();

        progress.Report(0, $"Loading {dataset}");
        var data = catalog.Load(dataset);
        var count = StarterPair.Requests(data.Name).Count;
        var estimates = StarterPair.Estimate(data, (index, request) => progress.Report((double)index / count,
            $"Timing a few training batches of {request.Architecture} ({(request.Architecture == StarterPair.Teacher ? "teacher" : "student")})"),
            cancellationToken);

        var seconds = clock.Elapsed.TotalSeconds;
        progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"Timed {estimates.Count} architectures in {seconds:0.0} s"));
        return new StarterPairEstimate(data.Name, estimates, seconds);
    }
}
