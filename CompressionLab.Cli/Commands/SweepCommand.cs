using System.Globalization;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>sweep --model FILE --dataset NAME --criterion element|filter [--norm l1|l2] [--levels 0,0.1,...] [--layers A,B]
/// [--limit N] [--csv FILE] [--workspace DIR] [--json]</c>: per-layer pruning sensitivity of a checkpoint on the
/// stratified validation subset, with cells cached in the workspace (a repeated sweep is read back, an interrupted one resumes).
/// </summary>
public sealed class SweepCommand : ICliCommand
{
    public string Name => "sweep";
    public string Summary => "per-layer pruning sensitivity (top-1/top-5, loss); cells are cached in the workspace";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("model", "checkpoint file", Required: true, ValueName: "FILE"),
        new("dataset", "dataset name (fashion-mnist or synthetic)", Required: true, ValueName: "NAME"),
        new("criterion", "element (single weights by |w|) or filter (whole filters/neurons by norm)", Required: true, ValueName: "element|filter"),
        new("norm", "filter ranking norm, l1 (default) or l2", ValueName: "l1|l2"),
        new("levels", "sparsity levels in [0, 1), comma-separated (default 0,0.05,...,0.95)", ValueName: "LIST"),
        new("layers", "layer names, comma-separated (default: every conv and linear layer)", ValueName: "LIST"),
        new("limit", $"validation images per cell, a stratified subset (default {AnalysisSubset.DefaultSize})", ValueName: "N"),
        new("batch", "images per forward pass (default 64, as eval; cells are cached per batch size, which can change the last float bits)", ValueName: "N"),
        new("csv", "also write Distiller's sensitivity CSV (parameter,sparsity,top1,top5,loss) here", ValueName: "FILE"),
        new("workspace", "workspace folder for the cell cache (default: the dashboard's, Workspace:Folder of the settings)", ValueName: "DIR"),
        new("json", "print one JSON object as the last line", IsFlag: true),
    ];

    public int Run(ParsedOptions options, CliContext context)
    {
        var path = SweepInputs.ModelPath(options);
        // Where results go is proven writable before anything is loaded or computed.
        var csv = options.String("csv") is { } csvPath ? WritableOutput.File("--csv", csvPath) : null;
        using var database = SweepInputs.OpenWorkspace(options, context);
        var dataset = SweepInputs.LoadDataset(options, context);
        var subset = SweepInputs.Subset(dataset, options);

        TorchRuntime.Configure();
        using var checkpoint = SweepInputs.LoadCheckpoint(path, subset.Images);
        var network = checkpoint.Model;
        var settings = SweepInputs.Settings(options, network);

        var cells = new SqliteSweepCellStore(database);
        var identity = new SweepIdentity(checkpoint.Metadata.ContentHash, dataset.Name, subset.Key, settings.BatchSize);
        var stored = SweepInputs.FindStoredModel(new ModelStore(database), path);
        var history = new SweepHistory(database);
        var record = history.Begin(null, stored?.Id, stored?.DisplayName ?? Path.GetFileNameWithoutExtension(path), network.Architecture,
            identity, subset.Count, settings.CriterionKey, settings.Levels,
            settings.Layers!.Select(name => SweepLayer.From(network.Layer(name))).ToArray());

        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{network.Architecture}: {settings.CriterionKey} sweep of {settings.Layers!.Count} layers × {settings.Levels.Count} levels on {subset.Count:N0} validation images of {dataset.Name} (cells cached in {database.Folder})"));
        // Settings.Layers was resolved above, so ask for what the criterion leaves out of a sweep over every layer.
        var leftOut = options.String("layers") is null ? SweepCandidates.LeftOut(network, settings.Criterion) : [];
        foreach (var layer in leftOut)
            context.Err.WriteLine($"{layer.Layer} is left out: {layer.Reason}.");
        var result = SensitivitySweep.Run(network, subset.Images, settings, cells, identity, new Log(context.Err), context.CancellationToken) with
        {
            Source = new SweepSource(record.ModelName, network.Architecture, identity.ModelHash, dataset.Name, subset.Key, subset.Count),
            LeftOut = leftOut,
        };
        history.Finish(record.Id, SensitivityExport.ToJson(result));

        if (csv is not null) File.WriteAllText(csv, SensitivityExport.ToDistillerCsv(result));

        if (options.Flag("json"))
        {
            CliJson.WriteLine(context.Out, Json(result, subset, dataset.Name, csv, record.Id, record.Layers));
        }
        else
        {
            WriteTable(context.Out, result, record.Layers);
        }
        return CliApp.Success;
    }

    /// <summary>An accuracy as the engine keeps it (a fraction, like <c>train</c> and <c>eval</c> print), rounded for the JSON line.</summary>
    private static double Fraction(double fraction) => CliJson.Round(fraction, 8);

    /// <param name="layers">The swept layers with their unit counts, for each point's actual sparsity.</param>
    private static Dictionary<string, object?> Json(SensitivityResult result, AnalysisSubset subset, string dataset, string? csv, Guid sweepId, IReadOnlyList<SweepLayer> layers) => new()
    {
        ["baseline"] = new Dictionary<string, object>
        {
            ["top1"] = Fraction(result.Baseline.Top1),
            ["top5"] = Fraction(result.Baseline.Top5),
            ["loss"] = CliJson.Round(result.Baseline.Loss),
        },
        ["cells"] = result.Cells.Count,
        ["seconds"] = CliJson.Round(result.Seconds, 3),
        ["layers"] = result.Settings.Layers!.Select(layer => new Dictionary<string, object>
        {
            ["name"] = layer,
            ["points"] = result.CellsOf(layer).Select(c => new Dictionary<string, object>
            {
                ["sparsity"] = c.Sparsity,
                ["actual_sparsity"] = ActualSparsity(c, layers.Single(l => l.Name == layer), result.Settings.Criterion),
                ["top1"] = Fraction(c.Top1),
                ["top5"] = Fraction(c.Top5),
                ["loss"] = CliJson.Round(c.Loss),
            }).ToArray(),
        }).ToArray(),
        ["cells_computed"] = result.CellsComputed,
        ["cells_cached"] = result.CellsFromStore,
        ["accuracy_unit"] = "fraction",
        ["architecture"] = result.Architecture,
        ["model"] = result.Source?.ModelName,
        ["weights_hash"] = result.Source?.WeightsHash,
        ["criterion"] = result.Settings.CriterionKey,
        ["left_out"] = result.LeftOut.Select(l => new Dictionary<string, object> { ["name"] = l.Layer, ["reason"] = l.Reason }).ToArray(),
        ["dataset"] = dataset,
        ["subset"] = subset.Key,
        ["samples"] = result.Samples,
        ["sweep_id"] = sweepId,
        ["csv"] = csv,
    };

    /// <summary>
    /// Pruned units / units of the cell's layer: what the level became once rounded to whole weights or filters
    /// (never all of them). The stored cell has it too; the layer's unit count is the independent source.
    /// </summary>
    private static double ActualSparsity(SweepCell cell, SweepLayer layer, PruningCriterion criterion) =>
        PruningRanking.ActualSparsity(cell.Sparsity, layer.Units(criterion));

    private static void WriteTable(TextWriter output, SensitivityResult result, IReadOnlyList<SweepLayer> layers)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{result.Architecture} {result.Settings.CriterionKey}: baseline top-1 {result.Baseline.Top1 * 100:0.00}%, loss {result.Baseline.Loss:0.0000} on {result.Samples} images; {result.Cells.Count} cells ({result.CellsFromStore} cached) in {result.Seconds:0.0} s"));
        var unit = result.Settings.Criterion == PruningCriterion.Filter ? "filters" : "weights";
        output.WriteLine($"{"layer",-20} {"sparsity",8} {"pruned " + unit,-22} {"top1",8} {"top5",8} {"loss",8} {"drop",7}");
        foreach (var c in result.Cells)
        {
            var units = layers.Single(l => l.Name == c.Layer).Units(result.Settings.Criterion);
            var pruned = string.Create(CultureInfo.InvariantCulture, $"{PruningRanking.PrunedCount(c.Sparsity, units)}/{units}");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{c.Layer,-20} {SweepLevels.Format(c.Sparsity),8} {pruned,-22} {c.Top1 * 100,8:0.00} {c.Top5 * 100,8:0.00} {c.Loss,8:0.0000} {c.Top1Drop * 100,7:0.00}"));
        }
        foreach (var layer in result.LeftOut)
            output.WriteLine($"{layer.Layer} is left out: {layer.Reason}.");
    }

    /// <summary>One line per computed cell on stderr (cells read from the cache are counted, not listed).</summary>
    private sealed class Log(TextWriter err) : IProgress<SweepProgress>
    {
        public void Report(SweepProgress value)
        {
            if (value.FromStore || value.Cell.Sparsity == 0) return;
            err.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{SweepJob.Describe(value.Cell)} · cell {value.CellsDone}/{value.CellsTotal} · {value.Fraction * 100:0}%"));
        }
    }
}
