using System.Collections.Concurrent;
using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli;

/// <summary>
/// The CLI's view of the dataset catalog: the dashboard's <c>Datasets</c> settings (<see cref="CliSettings"/>), so the
/// same search order, and the same train/validation split, so a model trained or evaluated here means the same as one
/// from the browser.
/// </summary>
public static class DatasetSource
{
    /// <summary>One catalog per distinct settings, so repeated in-process runs (tests) keep loaded datasets in memory.</summary>
    private static readonly ConcurrentDictionary<string, DatasetCatalog> Catalogs = new(StringComparer.Ordinal);

    public static DatasetCatalog Catalog(CliSettings settings) =>
        Catalogs.GetOrAdd(JsonSerializer.Serialize(settings.Datasets), _ => new DatasetCatalog(settings.Datasets));

    /// <summary>Every dataset available (Fashion-MNIST where found, and the synthetic one).</summary>
    public static IReadOnlyList<DatasetInfo> Find(CliContext context) => Catalog(context.Settings).List().Datasets;

    /// <summary>Loads the dataset named on the command line; <paramref name="argument"/> is named in errors.</summary>
    public static Dataset Load(CliContext context, string name, string argument = "--dataset")
    {
        try
        {
            return Catalog(context.Settings).Load(name);
        }
        catch (DatasetNotFoundException e)
        {
            throw new UsageException(argument, e.Message);
        }
        catch (Exception e) when (e is IdxFormatException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            // Listing reads only the files' headers, so a copy with good headers and bad data is found but fails here.
            throw new InputFileException(argument, $"{name} cannot be loaded: {CliApp.OneLine(e.Message)}", e);
        }
    }
}
