using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>sweep --model FILE --dataset NAME --criterion element|filter [--norm l1|l2] [--levels 0,0.1,...] [--layers A,B]
/// [--limit N] [--batch N] [--csv FILE] [--workspace DIR] [--json]</c>: the dashboard's sweep job (<see cref="SweepJob.Run"/>)
/// on a checkpoint file, with cells cached in the workspace (a repeated sweep is read back, an interrupted one resumes).
/// </summary>
public sealed class SweepCommand : CliCommand
{
    private readonly SweepOptions _sweep = new("checkpoint file",
        $"validation images per cell, a stratified subset (default {AnalysisSubset.DefaultSize})",
        $"images per forward pass (default {SweepRequest.DefaultBatchSize}, as eval; cells are cached per batch size, which can change the last float bits)", defaultCriterion: null);
    private readonly Option<string?> _csv = new("--csv") { Description = "also write Distiller's sensitivity CSV (parameter,sparsity,top1,top5,loss) here", HelpName = "FILE" };
    private readonly Option<string?> _workspace = new("--workspace") { Description = "workspace folder for the cell cache (default: the dashboard's, Workspace:Folder of the settings)", HelpName = "DIR" };
    private readonly Option<bool> _json = JsonOption();

    public SweepCommand() : base("sweep", "per-layer pruning sensitivity (top-1/top-5, loss); cells are cached in the workspace")
    {
        foreach (var option in _sweep.All.Append(_csv).Append(_workspace).Append(_json)) Options.Add(option);
    }

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions => SweepOptions.SettingOptions;

    public override int Execute(ParseResult parse, CliContext context)
    {
        var request = _sweep.Request(parse);
        // Where results go is proven writable before anything is loaded or computed.
        var csv = parse.GetValue(_csv) is { } csvPath ? WritableOutput.File("--csv", csvPath) : null;
        using var database = CommandInputs.OpenWorkspace(parse.GetValue(_workspace), context);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var progress = new ConsoleProgress(context.Err, partial => Describe(partial, database.Folder));
        var outcome = SweepJob.Run(request, Guid.CreateVersion7(), DatasetSource.Catalog(context.Settings), new ModelStore(database),
            new SqliteSweepCellStore(database), new SweepHistory(database), jobId: null, progress, context.CancellationToken);
        var result = outcome.Result;

        if (csv is not null) File.WriteAllText(csv, SensitivityExport.ToDistillerCsv(result));
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, SweepJson.From(outcome, csv));
        }
        else
        {
            WriteTable(context.Out, result, outcome.Sweep.Layers);
        }
        return CliApp.Success;
    }

    /// <summary>
    /// The plan when the sweep starts, with the layers it leaves out, then one line per computed cell (cells read from the
    /// workspace are counted, not listed).
    /// </summary>
    private static IEnumerable<string> Describe(JobPartial partial, string workspace)
    {
        switch (partial)
        {
            case SweepStarted { Sweep: var sweep } started:
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"{sweep.Architecture}: {sweep.Criterion} sweep of {sweep.Layers.Count} layers × {sweep.Levels.Count} levels on {sweep.SubsetSize:N0} validation images of {sweep.Dataset} (cells cached in {workspace}); {ThreadsAndRuntimeSettings}");
                foreach (var layer in started.LeftOut) yield return $"{layer.Layer} is left out: {layer.Reason}.";
                break;
            case SweepCellFinished { FromStore: false, Cell.Sparsity: > 0 } cell:
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"{SweepJob.Describe(cell.Cell)} · cell {cell.CellsDone}/{cell.CellsTotal} · {100.0 * cell.CellsDone / cell.CellsTotal:0}%");
                break;
        }
    }

    private static void WriteTable(TextWriter output, SensitivityResult result, IReadOnlyList<SweepLayer> layers)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{result.Architecture} {result.Settings.CriterionKey}: baseline top-1 {result.Baseline.Top1 * 100:0.00}%, loss {result.Baseline.Loss:0.0000} on {result.Samples} images; {result.Cells.Count} cells ({result.CellsFromStore} cached) in {result.Seconds:0.0} s"));
        var unit = result.Settings.Criterion == PruningCriterion.Filter ? "filters" : "weights";
        output.WriteLine($"{"layer",-20} {"sparsity",8} {"pruned " + unit,-22} {"top1 %",8} {"top5 %",8} {"loss",8} {"drop",7}");
        foreach (var c in result.Cells)
        {
            var units = layers.Single(l => l.Name == c.Layer).Units(result.Settings.Criterion);
            var pruned = string.Create(CultureInfo.InvariantCulture, $"{PruningRanking.PrunedCount(c.Sparsity, units)}/{units}");
            // Percent on screen only; the engine and the JSON keep fractions.
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{c.Layer,-20} {SweepLevels.Format(c.Sparsity),8} {pruned,-22} {c.Top1 * 100,8:0.00} {c.Top5 * 100,8:0.00} {c.Loss,8:0.0000} {c.Top1Drop * 100,7:0.00}"));
        }
        foreach (var layer in result.LeftOut)
            output.WriteLine($"{layer.Layer} is left out: {layer.Reason}.");
    }
}

/// <summary><c>sweep --json</c>: the sweep's identity, baseline and every layer's points, accuracies as fractions.</summary>
internal sealed record SweepJson(
    MetricsJson Baseline,
    int Cells,
    double Seconds,
    IReadOnlyList<SweepLayerJson> Layers,
    int CellsComputed,
    int CellsCached,
    string AccuracyUnit,
    string Architecture,
    string? Model,
    string? WeightsHash,
    string Criterion,
    IReadOnlyList<LeftOutJson> LeftOut,
    string Dataset,
    string Subset,
    int Samples,
    Guid SweepId,
    string? Csv)
{
    public static SweepJson From(SweepOutcome outcome, string? csv)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var result = outcome.Result;
        return new SweepJson(
            MetricsJson.From(result.Baseline),
            result.Cells.Count,
            CliJson.Round(result.Seconds, 3),
            result.Settings.Layers!.Select(layer => new SweepLayerJson(layer, result.CellsOf(layer).Select(SweepPointJson.From).ToArray())).ToArray(),
            result.CellsComputed,
            result.CellsFromStore,
            "fraction",
            result.Architecture,
            result.Source?.ModelName,
            result.Source?.WeightsHash,
            result.Settings.CriterionKey,
            result.LeftOut.Select(l => new LeftOutJson(l.Layer, l.Reason)).ToArray(),
            outcome.Summary.Dataset,
            outcome.Summary.Subset,
            result.Samples,
            outcome.Sweep.Id,
            csv);
    }
}

internal sealed record MetricsJson(double Top1, double Top5, double Loss)
{
    public static MetricsJson From(SweepMetrics metrics) =>
        new(CliJson.Round(metrics.Top1, 8), CliJson.Round(metrics.Top5, 8), CliJson.Round(metrics.Loss));
}

internal sealed record SweepLayerJson(string Name, IReadOnlyList<SweepPointJson> Points);

/// <param name="ActualSparsity">What the level became once rounded to whole weights or filters (never all of them).</param>
internal sealed record SweepPointJson(double Sparsity, double ActualSparsity, double Top1, double Top5, double Loss)
{
    public static SweepPointJson From(SweepCell cell)
    {
        var metrics = MetricsJson.From(cell.Metrics);
        return new SweepPointJson(cell.Sparsity, cell.ActualSparsity, metrics.Top1, metrics.Top5, metrics.Loss);
    }
}

internal sealed record LeftOutJson(string Name, string Reason);
