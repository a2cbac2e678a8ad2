using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CompressionLab.Core.Pruning;

/// <summary>Writes a sweep result as files other tools read. Pure functions of the result.</summary>
public static class SensitivityExport
{
    public const string DistillerCsvHeader = "parameter,sparsity,top1,top5,loss";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>
    /// Distiller's sensitivity CSV: one row per (weight tensor, level), parameter named
    /// <c>&lt;layer&gt;.weight</c>, top-1 and top-5 in percent as Distiller writes them (the one file outside the screen
    /// that holds percent), numbers in invariant culture.
    /// </summary>
    public static string ToDistillerCsv(SensitivityResult result)
    {
        var csv = new StringBuilder();
        csv.Append(DistillerCsvHeader).Append('\n');
        foreach (var cell in result.Cells)
        {
            csv.Append(cell.Layer).Append(".weight,")
                .Append(Number(cell.Sparsity)).Append(',')
                .Append(Percent(cell.Top1)).Append(',')
                .Append(Percent(cell.Top5)).Append(',')
                .Append(Number(cell.Loss)).Append('\n');
        }
        return csv.ToString();
    }

    /// <summary>
    /// The whole result as an indented JSON document: what was measured (<c>model</c>: name, architecture,
    /// weights hash; <c>data</c>: dataset, split, subset key, size and seed; when the result says), the
    /// <c>units</c> of its numbers, the settings as run (<c>norm</c> only for filter sweeps; layers the criterion
    /// left out, with the reason), the baseline, and every cell.
    /// </summary>
    /// <remarks>
    /// Accuracies and drops are fractions (0..1), as in the engine's records and the CLI's <c>sweep --json</c> line; the
    /// <c>units</c> field says so. Documents written before (percent, and saying so, or with no <c>units</c> at all) are
    /// read back by <see cref="FromJson"/> in fractions.
    /// </remarks>
    public static string ToJson(SensitivityResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var settings = result.Settings;
        var source = result.Source;
        var document = new SweepDocument(
            result.Architecture,
            source is null ? null : new ModelDocument(source.ModelName, source.Architecture, source.WeightsHash),
            source is null ? null : new DataDocument(source.Dataset, "validation", source.Subset, source.SubsetSize, source.SubsetSeed),
            result.Samples,
            result.Seconds,
            result.CellsComputed,
            result.CellsFromStore,
            UnitsDocument.Fraction,
            new SettingsDocument(
                PruningCriterionText.Name(settings.Criterion),
                settings.Criterion == PruningCriterion.Filter ? PruningCriterionText.Name(settings.Norm) : null,
                settings.Levels,
                settings.Layers ?? [],
                result.LeftOut.Count == 0 ? null : result.LeftOut.Select(l => new LeftOutDocument(l.Layer, l.Reason)).ToArray(),
                settings.BatchSize,
                settings.FoldBatchNorm,
                settings.Mode == SweepMode.Cached ? "cached" : "naive"),
            new MetricsDocument(result.Baseline.Top1, result.Baseline.Top5, result.Baseline.Loss),
            result.Cells.Select(c => new CellDocument(c.Layer, c.Layer + ".weight", c.Sparsity, c.ActualSparsity, c.Top1, c.Top5, c.Loss, c.Top1Drop)).ToArray());
        return JsonSerializer.Serialize(document, JsonOptions);
    }

    /// <summary>Reads a document written by <see cref="ToJson"/> back (e.g. to reopen an earlier sweep).</summary>
    public static SensitivityResult FromJson(string json)
    {
        var document = JsonSerializer.Deserialize<SweepDocument>(json, JsonOptions)
            ?? throw new InvalidDataException("The sweep document is empty.");
        var s = document.Settings ?? throw new InvalidDataException("The sweep document has no settings.");
        var baseline = document.Baseline ?? throw new InvalidDataException("The sweep document has no baseline.");
        var settings = new SweepSettings
        {
            Criterion = PruningCriterionText.ParseCriterion(s.Criterion),
            Norm = s.Norm is null ? FilterNorm.L1 : PruningCriterionText.ParseNorm(s.Norm),
            Levels = s.Levels,
            Layers = s.Layers,
            BatchSize = s.BatchSize,
            FoldBatchNorm = s.FoldBatchNorm,
            Mode = s.Mode == "naive" ? SweepMode.Naive : SweepMode.Cached,
        };
        // Documents from before fractions hold percent (and say so, or predate the units field).
        var perUnit = document.Units?.Top1 == UnitsDocument.Fraction.Top1 ? 1.0 : 100.0;
        var cells = (document.Cells ?? []).Select(c => new SweepCell(c.Layer, c.Sparsity, c.ActualSparsity, c.Top1 / perUnit, c.Top5 / perUnit, c.Loss, c.Top1Drop / perUnit)).ToArray();
        SweepSource? source = document is { Model: { } model, Data: { } data }
            ? new SweepSource(model.Name, model.Architecture, model.WeightsHash, data.Dataset, data.Subset, data.SubsetSize, data.SubsetSeed)
            : null;
        return new SensitivityResult(document.Architecture, settings, document.Samples, new SweepMetrics(baseline.Top1 / perUnit, baseline.Top5 / perUnit, baseline.Loss),
            cells, document.Seconds, document.CellsComputed, document.CellsFromStore)
        {
            Source = source,
            LeftOut = (s.LeftOut ?? []).Select(l => new LeftOutLayer(l.Layer, l.Reason)).ToArray(),
        };
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// A fraction in percent rounded to 10 decimals (far below one image in a hundred million), so the float noise of
    /// the product does not show (0.938·100 prints 93.8, not 93.80000000000001).
    /// </summary>
    private static string Percent(double fraction) => (fraction * 100).ToString("0.##########", CultureInfo.InvariantCulture);

    private sealed record SweepDocument(
        string Architecture,
        ModelDocument? Model,
        DataDocument? Data,
        int Samples,
        double Seconds,
        int CellsComputed,
        int CellsFromStore,
        UnitsDocument? Units,
        SettingsDocument? Settings,
        MetricsDocument? Baseline,
        IReadOnlyList<CellDocument>? Cells);

    private sealed record ModelDocument(string Name, string Architecture, string WeightsHash);

    /// <param name="Split">The part of the dataset the subset is drawn from (always the validation hold-out of training).</param>
    private sealed record DataDocument(string Dataset, string Split, string Subset, int SubsetSize, int SubsetSeed);

    /// <summary>What the numbers of the document are measured in.</summary>
    private sealed record UnitsDocument(string Top1, string Top5, string Top1Drop, string Loss, string Sparsity)
    {
        public static UnitsDocument Fraction { get; } = new(
            "fraction", "fraction", "fraction (0.01 = one percentage point)", "mean cross-entropy in nats",
            "fraction of the layer's weights (element) or output filters (filter); actualSparsity is what rounding to whole units gave");
    }

    private sealed record SettingsDocument(
        string Criterion, string? Norm, IReadOnlyList<double> Levels, IReadOnlyList<string> Layers, IReadOnlyList<LeftOutDocument>? LeftOut,
        int BatchSize, bool FoldBatchNorm, string Mode);

    private sealed record LeftOutDocument(string Layer, string Reason);

    private sealed record MetricsDocument(double Top1, double Top5, double Loss);

    private sealed record CellDocument(string Layer, string Parameter, double Sparsity, double ActualSparsity, double Top1, double Top5, double Loss, double Top1Drop);
}
