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
    /// <c>&lt;layer&gt;.weight</c>, numbers in invariant culture with round-trip precision.
    /// </summary>
    public static string ToDistillerCsv(SensitivityResult result)
    {
        var csv = new StringBuilder();
        csv.Append(DistillerCsvHeader).Append('\n');
        foreach (var cell in result.Cells)
        {
            csv.Append(cell.Layer).Append(".weight,")
                .Append(Number(cell.Sparsity)).Append(',')
                .Append(Number(cell.Top1)).Append(',')
                .Append(Number(cell.Top5)).Append(',')
                .Append(Number(cell.Loss)).Append('\n');
        }
        return csv.ToString();
    }

    /// <summary>The whole result (baseline, settings as run, every cell) as an indented JSON document.</summary>
    public static string ToJson(SensitivityResult result)
    {
        var settings = result.Settings;
        var document = new SweepDocument(
            result.Architecture,
            result.Samples,
            result.Seconds,
            result.CellsComputed,
            result.CellsFromStore,
            new SettingsDocument(
                PruningCriterionText.Name(settings.Criterion),
                PruningCriterionText.Name(settings.Norm),
                settings.Levels,
                settings.Layers ?? [],
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
            Norm = PruningCriterionText.ParseNorm(s.Norm),
            Levels = s.Levels,
            Layers = s.Layers,
            BatchSize = s.BatchSize,
            FoldBatchNorm = s.FoldBatchNorm,
            Mode = s.Mode == "naive" ? SweepMode.Naive : SweepMode.Cached,
        };
        var cells = (document.Cells ?? []).Select(c => new SweepCell(c.Layer, c.Sparsity, c.ActualSparsity, c.Top1, c.Top5, c.Loss, c.Top1Drop)).ToArray();
        return new SensitivityResult(document.Architecture, settings, document.Samples, new SweepMetrics(baseline.Top1, baseline.Top5, baseline.Loss),
            cells, document.Seconds, document.CellsComputed, document.CellsFromStore);
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private sealed record SweepDocument(
        string Architecture,
        int Samples,
        double Seconds,
        int CellsComputed,
        int CellsFromStore,
        SettingsDocument? Settings,
        MetricsDocument? Baseline,
        IReadOnlyList<CellDocument>? Cells);

    private sealed record SettingsDocument(string Criterion, string Norm, IReadOnlyList<double> Levels, IReadOnlyList<string> Layers, int BatchSize, bool FoldBatchNorm, string Mode);

    private sealed record MetricsDocument(double Top1, double Top5, double Loss);

    private sealed record CellDocument(string Layer, string Parameter, double Sparsity, double ActualSparsity, double Top1, double Top5, double Loss, double Top1Drop);
}
