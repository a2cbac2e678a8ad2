using CompressionLab.Core.Data;

namespace CompressionLab.Cli;

/// <summary>A dataset the CLI can use, and where it is.</summary>
public sealed record DatasetLocation(string Name, string Path, bool Synthetic);

/// <summary>
/// Where the CLI finds datasets and how it holds out validation images. Stand-in until Core's dataset
/// catalog and splits land: each concern is one small function so it can be swapped in one place.
/// </summary>
public static class DatasetSource
{
    public const int ValidationSize = 5_000;
    public const int ValidationSeed = 1;

    /// <summary>
    /// Fashion-MNIST in <c>shared/datasets/fashion-mnist</c> beside any ancestor of the working directory or
    /// of the binary (the layout of development checkouts and CI), then in the Debian package's folder.
    /// </summary>
    public static IReadOnlyList<DatasetLocation> Find()
    {
        var roots = new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory };
        var candidates = roots
            .SelectMany(Ancestors)
            .Select(dir => System.IO.Path.Combine(dir, "shared", "datasets", IdxDataset.FashionMnistName))
            .Append("/usr/share/datasets/fashion-mnist");
        var found = candidates.FirstOrDefault(IdxDataset.IsPresent);
        return found is null ? [] : [new DatasetLocation(IdxDataset.FashionMnistName, System.IO.Path.GetFullPath(found), Synthetic: false)];
    }

    /// <summary>Loads the dataset named on the command line; <paramref name="argument"/> is named in errors.</summary>
    public static Dataset Load(string name, string argument = "--dataset")
    {
        var location = Find().FirstOrDefault(d => d.Name == name);
        if (location is null)
        {
            var known = Find().Select(d => d.Name).ToArray();
            throw new UsageException(argument, name == IdxDataset.FashionMnistName
                ? "fashion-mnist was not found (looked in shared/datasets/fashion-mnist above the working directory and the program, and /usr/share/datasets/fashion-mnist)"
                : $"unknown dataset '{name}' (available: {(known.Length == 0 ? "none" : string.Join(", ", known))})");
        }
        return IdxDataset.Load(location.Name, location.Path, IdxDataset.FashionMnistClasses);
    }

    /// <summary>
    /// Splits the official train part into (train, validation): a seeded random hold-out of
    /// <see cref="ValidationSize"/> images, the same on every run; train keeps the rest in original order.
    /// </summary>
    public static (LabeledImages Train, LabeledImages Validation) SplitTrain(Dataset dataset)
    {
        var official = dataset.Train;
        var size = Math.Min(ValidationSize, official.Count / 10);
        var order = Enumerable.Range(0, official.Count).ToArray();
        new Random(ValidationSeed).Shuffle(order);
        var held = order.Take(size).Order().ToArray();
        var heldSet = held.ToHashSet();
        var rest = Enumerable.Range(0, official.Count).Where(i => !heldSet.Contains(i)).ToArray();
        return (official.Subset(rest, $"{dataset.Name}/train"), official.Subset(held, $"{dataset.Name}/val"));
    }

    private static IEnumerable<string> Ancestors(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent) yield return dir.FullName;
    }
}
