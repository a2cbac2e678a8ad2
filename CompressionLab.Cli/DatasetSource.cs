using CompressionLab.Core.Data;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli;

/// <summary>
/// The CLI's view of the dataset catalog: the same search order and the same train/validation split as
/// the dashboard, so a model trained or evaluated here means the same as one from the browser.
/// </summary>
public static class DatasetSource
{
    private static readonly Lazy<DatasetCatalog> Catalog = new(() => new DatasetCatalog(new DatasetOptions()));

    /// <summary>Every dataset available (Fashion-MNIST where found, and the synthetic one).</summary>
    public static IReadOnlyList<DatasetInfo> Find() => Catalog.Value.List().Datasets;

    /// <summary>Loads the dataset named on the command line; <paramref name="argument"/> is named in errors.</summary>
    public static Dataset Load(string name, string argument = "--dataset")
    {
        try
        {
            return Catalog.Value.Load(name);
        }
        catch (DatasetNotFoundException e)
        {
            throw new UsageException(argument, e.Message);
        }
    }

    /// <summary>The split every model job uses: a seeded, class-stratified validation hold-out of the official train part.</summary>
    public static (LabeledImages Train, LabeledImages Validation) SplitTrain(Dataset dataset)
    {
        var split = TrainingJob.Split(dataset);
        return (split.Train, split.Validation);
    }
}
