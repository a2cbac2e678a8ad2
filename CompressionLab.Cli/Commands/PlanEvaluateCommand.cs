using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>plan evaluate --model FILE --dataset NAME --rates stage1=0.5,stage3.conv2=0.3 | --plan FILE [--criterion element|filter]
/// [--norm l1|l2] [--limit N] [--out PLAN.json] [--workspace DIR] [--json]</c>: the dashboard's plan evaluation job
/// (<see cref="PlanEvaluationJob.Run"/>) on a checkpoint file: every layer's mask at once, measured on the validation subset,
/// beside the prediction from the workspace's sweeps. A plan measured before on the same weights and images is read back.
/// </summary>
public sealed class PlanEvaluateCommand : CliCommand
{
    private readonly Option<string> _model = PlanInputs.Model();
    private readonly Option<string> _dataset = PlanInputs.Dataset();
    private readonly Option<string?> _rates = new("--rates")
    {
        Description = "stage rates and layer levels, e.g. stage1=0.5,stage2=0.7,stage3.conv2=0.3 (stages not named stay at 0, or as in --plan)",
        HelpName = "LIST",
    };
    private readonly Option<string?> _plan = new("--plan") { Description = "a plan file (plan allocate --out); --rates then changes it", HelpName = "FILE" };
    private readonly Option<string?> _criterion = PlanInputs.Criterion("element (default) or filter: how every stage is pruned (with --plan: replaces its stages' methods)");
    private readonly Option<string?> _norm = PlanInputs.Norm();
    private readonly Option<int?> _limit = PlanInputs.Limit();
    private readonly Option<string?> _out = new("--out") { Description = "also save the plan evaluated as a plan file", HelpName = "FILE" };
    private readonly Option<string?> _workspace = PlanInputs.Workspace();
    private readonly Option<bool> _json = JsonOption();

    public PlanEvaluateCommand() : base("evaluate", "measure a pruning plan (all its masks at once) on the validation subset, beside its prediction")
    {
        foreach (var option in new Option[] { _model, _dataset, _rates, _plan, _criterion, _norm, _limit, _out, _workspace, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Plan;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(PlanEvaluationRequest.Model)] = "--model",
        [nameof(PlanEvaluationRequest.Dataset)] = "--dataset",
        [nameof(PlanEvaluationRequest.SubsetSize)] = "--limit",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = PlanInputs.ModelFile(parse.GetRequiredValue(_model));
        var method = PlanInputs.Method(parse.GetValue(_criterion), parse.GetValue(_norm));
        var (rates, planFile) = (parse.GetValue(_rates), parse.GetValue(_plan));
        if (rates is null && planFile is null)
            throw new UsageException("--rates", "give the rates (e.g. --rates stage1=0.5,stage2=0.7,stage3.conv2=0.3) or a plan file (--plan FILE)");
        var plan = planFile is not null ? PlanInputs.ReadPlan(planFile, model).Plan : PruningPlan.Default(model.Layers, method ?? PruningMethod.Element);
        if (planFile is not null && method is { } replaced) plan = PlanInputs.WithMethod(plan, replaced);
        if (rates is not null) plan = PlanInputs.ApplyRates(plan, model, rates);
        var planOption = rates is not null ? "--rates" : "--plan";
        if (plan.Problems(model.Layers) is { Count: > 0 } problems)
            throw new UsageException(planOption, CliApp.OneLine(string.Join(" ", problems.Select(p => p.Message))));

        var request = new PlanEvaluationRequest(model.Source, plan, parse.GetRequiredValue(_dataset), parse.GetValue(_limit) ?? AnalysisSubset.DefaultSize);
        request.Validate();
        var output = parse.GetValue(_out) is { } outPath ? WritableOutput.File("--out", outPath) : null;
        using var database = CommandInputs.OpenWorkspace(parse.GetValue(_workspace), context);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var progress = new ConsoleProgress(context.Err, Describe);
        PlanEvaluationOutcome outcome;
            outcome = PlanEvaluationJob.Run(request, DatasetSource.Catalog(context.Settings), new ModelStore(database), new SqliteSweepCellStore(database),
                new PlanEvaluationStore(database), new JobContext(Guid.CreateVersion7(), progress), context.CancellationToken);
        if (output is not null) PlanInputs.WritePlan("--out", output, model, plan);

        var json = PlanEvaluateJson.From(outcome, output);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
        }
        else
        {
            WriteTable(context.Out, outcome, json);
        }
        return CliApp.Success;
    }

    private static IEnumerable<string> Describe(JobPartial partial)
    {
        if (partial is not PlanPredicted predicted) yield break;
        var prediction = predicted.Prediction;
        yield return prediction is null
            ? string.Create(CultureInfo.InvariantCulture,
                $"plan {predicted.Key.PlanHash[..12]}: {predicted.Pruned.Sparsity:P1} of the weights pruned; no sweep of these weights on these images in the workspace, so no prediction")
            : string.Create(CultureInfo.InvariantCulture,
                $"plan {predicted.Key.PlanHash[..12]}: {predicted.Pruned.Sparsity:P1} of the weights pruned, predicted top-1 {prediction.PredictedTop1:P2} (baseline {prediction.BaselineTop1:P2})");
        if (prediction is { LayersWithoutCurve.Count: > 0 })
            yield return $"no sweep curve for {string.Join(", ", prediction.LayersWithoutCurve)}: the prediction leaves them out";
    }

    private static void WriteTable(TextWriter output, PlanEvaluationOutcome outcome, PlanEvaluateJson json)
    {
        output.WriteLine($"{"layer",-16} {"method",-10} {"level",7} {"weights gone",13} {"predicted drop",15}");
        foreach (var layer in json.Layers)
        {
            var drop = layer.PredictedDrop is { } d ? (d * 100).ToString("0.00", CultureInfo.InvariantCulture) + " pt" : layer.Excluded ? "excluded" : "-";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{layer.Name,-16} {layer.Method,-10} {SweepLevels.Format(layer.Sparsity),7} {layer.WeightSparsity,13:P1} {drop,15}"));
        }
        var predicted = json.PredictedTop1 is { } p ? p.ToString("P2", CultureInfo.InvariantCulture) : "none (no sweep)";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{outcome.Architecture}: sparsity {json.Sparsity:P2}, {json.Params:N0} parameters (dense {json.Dense.Params:N0}), {json.Macs:N0} MACs (dense {json.Dense.Macs:N0}), CSR {json.SizeBytes.Csr:N0} bytes (dense {json.Dense.SizeBytes.Dense:N0})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"top-1 {json.Top1:P2} measured on {json.Samples:N0} validation images, predicted {predicted}{(json.FromWorkspace ? " (measurement read from the workspace)" : "")}"));
    }
}

/// <summary><c>plan evaluate --json</c>: counts and sizes of the pruned model, measured and predicted top-1 (fractions), each layer's setting.</summary>
/// <param name="PredictedTop1">From the workspace's sweep curves of these weights and images; null when there is no sweep (see <see cref="LayersWithoutCurve"/>).</param>
/// <param name="FromWorkspace">The measurement was read back (this plan was measured before on these weights and images).</param>
internal sealed record PlanEvaluateJson(
    double Sparsity,
    long Params,
    long Macs,
    SizeBytesJson SizeBytes,
    double? PredictedTop1,
    double Top1,
    double Top5,
    double Loss,
    double? BaselineTop1,
    IReadOnlyList<string> LayersWithoutCurve,
    IReadOnlyList<PlanLayerJson> Layers,
    DenseJson Dense,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string Subset,
    int Samples,
    string PlanHash,
    bool FromWorkspace,
    double Seconds,
    string? Out)
{
    public static PlanEvaluateJson From(PlanEvaluationOutcome outcome, string? output)
    {
        var (measured, prediction) = (outcome.Measured, outcome.Prediction);
        return new PlanEvaluateJson(
            CliJson.Round(outcome.Pruned.Sparsity),
            outcome.Pruned.Network.Parameters,
            outcome.Pruned.Network.MacsPerSample,
            SizeBytesJson.From(outcome.Pruned.Bytes),
            prediction is null ? null : CliJson.Round(prediction.PredictedTop1),
            CliJson.Round(measured.Top1),
            CliJson.Round(measured.Top5),
            CliJson.Round(measured.Loss),
            prediction is null ? null : CliJson.Round(prediction.BaselineTop1),
            prediction?.LayersWithoutCurve ?? [.. PlanContent.Levels(outcome.Plan).Select(l => l.Layer)],
            PlanJson.Layers(outcome.Plan, outcome.Pruned, prediction),
            DenseJson.From(outcome.Dense),
            outcome.Architecture,
            outcome.Key.ModelHash,
            outcome.Key.Dataset,
            outcome.Key.Subset,
            outcome.SubsetSize,
            outcome.Key.PlanHash,
            outcome.FromStore,
            CliJson.Round(measured.Seconds, 3),
            output);
    }
}
