namespace CompressionLab.Core.Data;

/// <summary>The three parts every training and analysis uses.</summary>
public enum SplitPart
{
    Train,
    Validation,
    Test,
}

/// <summary>
/// A dataset split into train, validation and test. Validation is a seeded, class-stratified hold-out from
/// the official train part; train is the rest of it; test is the official test part, untouched.
/// </summary>
/// <param name="ValidationIndices">Indices into the official train part that went to validation (ascending).</param>
/// <param name="TrainIndices">Indices into the official train part that stayed in train (ascending).</param>
public sealed record DatasetSplit(
    string DatasetName,
    LabeledImages Train,
    LabeledImages Validation,
    LabeledImages Test,
    IReadOnlyList<int> TrainIndices,
    IReadOnlyList<int> ValidationIndices,
    int Seed)
{
    public LabeledImages Part(SplitPart part) => part switch
    {
        SplitPart.Train => Train,
        SplitPart.Validation => Validation,
        SplitPart.Test => Test,
        _ => throw new ArgumentOutOfRangeException(nameof(part), part, "Unknown split part."),
    };
}

public static class DatasetSplits
{
    public const int DefaultValidationSize = 5_000;
    public const int DefaultSeed = 1;

    /// <summary>
    /// Splits <paramref name="dataset"/>; the same dataset, size and seed always give the same split.
    /// The validation size must leave at least one image in train.
    /// </summary>
    public static DatasetSplit Create(Dataset dataset, int validationSize = DefaultValidationSize, int seed = DefaultSeed)
    {
        var official = dataset.Train;
        if (validationSize < 0 || validationSize >= official.Count)
            throw new ArgumentOutOfRangeException(nameof(validationSize), validationSize,
                $"Dataset {dataset.Name}: a validation hold-out of {validationSize} images must be between 0 and {official.Count - 1} (the train part has {official.Count}).");

        var validation = StratifiedSubset.Indices(official.Labels, official.ClassCount, validationSize, seed, official.Name);
        var held = new bool[official.Count];
        foreach (var i in validation) held[i] = true;
        var train = Enumerable.Range(0, official.Count).Where(i => !held[i]).ToArray();

        return new DatasetSplit(
            dataset.Name,
            official.Subset(train, $"{dataset.Name}/train"),
            official.Subset(validation, $"{dataset.Name}/validation"),
            dataset.Test,
            train,
            validation,
            seed);
    }

    /// <summary>Parses a part name as typed on a command line: train, val, validation or test.</summary>
    public static SplitPart ParsePart(string name) => name.Trim().ToLowerInvariant() switch
    {
        "train" => SplitPart.Train,
        "val" or "validation" => SplitPart.Validation,
        "test" => SplitPart.Test,
        _ => throw new ArgumentException($"Unknown split '{name}'; expected train, val (validation) or test.", nameof(name)),
    };
}
