using System.Collections.Concurrent;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;

namespace CompressionLab.Web.Services;

/// <summary>How long training the starter pair would take on this machine.</summary>
public interface IStarterPairEstimator
{
    /// <summary>Teacher then student; measured once per dataset and app run, then remembered.</summary>
    Task<IReadOnlyList<TrainingTimeEstimate>> EstimateAsync(string dataset);
}

/// <summary>
/// Times a few real training batches of each starter architecture (<see cref="StarterPair.Estimate"/>) on a
/// pool thread, once per dataset. A failed measurement is forgotten, so the next page visit tries again.
/// </summary>
public sealed class MeasuredStarterPairEstimator(DatasetCatalog catalog) : IStarterPairEstimator
{
    private readonly ConcurrentDictionary<string, Lazy<Task<IReadOnlyList<TrainingTimeEstimate>>>> measured = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<TrainingTimeEstimate>> EstimateAsync(string dataset)
    {
        var lazy = measured.GetOrAdd(dataset, name => new Lazy<Task<IReadOnlyList<TrainingTimeEstimate>>>(
            () => Task.Run(() => StarterPair.Estimate(catalog.Load(name)))));
        var task = lazy.Value;
        _ = task.ContinueWith(_ => measured.TryRemove(new KeyValuePair<string, Lazy<Task<IReadOnlyList<TrainingTimeEstimate>>>>(dataset, lazy)),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return task;
    }
}
