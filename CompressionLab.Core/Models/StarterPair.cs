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

    /// <summary>Measures both architectures on <paramref name="dataset"/> (a few batches each; see <see cref="TrainingTimeEstimate.Measure"/>).</summary>
    public static IReadOnlyList<TrainingTimeEstimate> Estimate(Dataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var split = TrainingJob.Split(dataset);
        return Requests(dataset.Name)
            .Select(r => TrainingTimeEstimate.Measure(r.Architecture, split.Train, split.Validation.Count, dataset.Test.Count, r.Settings()))
            .ToArray();
    }
}
