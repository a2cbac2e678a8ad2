using CompressionLab.Core.Data;

namespace CompressionLab.Core.Models;

/// <summary>
/// The first models a new workspace needs: a teacher (vgg-small) and its student (vgg-tiny, same stages at
/// about a tenth of the parameters), which pruning, distillation and quantization then work on.
/// </summary>
public static class StarterPair
{
    public const string Teacher = ModelZoo.VggSmall;
    public const string Student = ModelZoo.VggTiny;

    /// <summary>Fashion-MNIST when the catalog found it, else the synthetic dataset (always there).</summary>
    public static string Dataset(DatasetListing listing)
    {
        ArgumentNullException.ThrowIfNull(listing);
        return listing.Datasets.Any(d => d.Name == IdxDataset.FashionMnistName) ? IdxDataset.FashionMnistName : SyntheticDataset.Name;
    }

    /// <summary>Teacher first, then student, each with its architecture's default epochs.</summary>
    public static IReadOnlyList<TrainingRequest> Requests(string dataset, int seed = 1) =>
    [
        new(Teacher, dataset, Seed: seed, DisplayName: $"Teacher {Teacher}"),
        new(Student, dataset, Seed: seed, DisplayName: $"Student {Student}"),
    ];

    /// <summary>
    /// Measures both architectures on <paramref name="dataset"/> (a few batches each; see <see cref="TrainingTimeEstimate.Measure"/>),
    /// teacher first. Run it as a job (<see cref="StarterPairEstimateJob"/>): it keeps the cores busy while it measures.
    /// </summary>
    /// <param name="measuring">Told which request (and its index) is about to be measured.</param>
    /// <param name="cancellationToken">Honoured before each architecture.</param>
    public static IReadOnlyList<TrainingTimeEstimate> Estimate(
        Dataset dataset,
        Action<int, TrainingRequest>? measuring = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var split = TrainingJob.Split(dataset);
        var requests = Requests(dataset.Name);
        var estimates = new List<TrainingTimeEstimate>(requests.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var request = requests[i];
            measuring?.Invoke(i, request);
            estimates.Add(TrainingTimeEstimate.Measure(request.Architecture, split.Train, split.Validation.Count, dataset.Test.Count, request.Settings(),
                cancellationToken: cancellationToken));
        }

        return estimates;
    }
}
