using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>plan allocate --model FILE --dataset NAME --target-sparsity S | --target-params F | --target-macs F | --max-drop D
/// [--criterion element|filter] [--norm l1|l2] [--plan FILE] [--limit N] [--levels LIST] [--out PLAN.json]
/// [--uniform-out PLAN.json] [--workspace DIR] [--json]</c>: <see cref="PlanAllocationJob.Run"/> on a checkpoint file —
/// per-layer levels by AIMET's iso-accuracy allocation and the uniform baseline, both predicted from the workspace's
/// sweep curves; the missing sweep is run first (through the sweep job's body) when a layer has no curve.
/// </summary>
public sealed class PlanAllocateCommand : CliCommand
{
    private readonly Option<string> _model = PlanInputs.Model();
    private readonly Option<string> _dataset = PlanInputs.Dataset();
    private readonly Option<double?> _sparsity = new("--target-sparsity") { Description = "overall conv and linear weight sparsity to reach, e.g. 0.7", HelpName = "S" };
    private readonly Option<double?> _params = new("--target-params") { Description = "keep at most this fraction of the dense model's parameters, e.g. 0.4", HelpName = "F" };
    private readonly Option<double?> _macs = new("--target-macs") { Description = "keep at most this fraction of the dense model's MACs per image, e.g. 0.6", HelpName = "F" };
    private readonly Option<double?> _maxDrop = new("--max-drop") { Description = "prune as much as a predicted top-1 drop of at most D allows (a fraction: 0.01 is one point)", HelpName = "D" };
    private readonly Option<string?> _criterion = PlanInputs.Criterion("element (default) or filter: how every stage is pruned and swept");
    private readonly Option<string?> _norm = PlanInputs.Norm();
    private readonly Option<string?> _plan = new("--plan") { Description = "allocate into this plan file's stages, methods and exclusions (default: the zoo's stages, output layer excluded)", HelpName = "FILE" };
    private readonly Option<int?> _limit = PlanInputs.Limit();
    private readonly Option<string?> _levels = new("--levels") { Description = "levels of a sweep run for layers without a curve (default 0,0.05,...,0.95)", HelpName = "LIST" };
    private readonly Option<string?> _out = new("--out") { Description = "save the allocated plan as a plan file (for plan evaluate --plan)", HelpName = "FILE" };
    private readonly Option<string?> _uniformOut = new("--uniform-out") { Description = "save the uniform plan too", HelpName = "FILE" };
    private readonly Option<string?> _workspace = PlanInputs.Workspace();
    private readonly Option<bool> _json = JsonOption();

    public PlanAllocateCommand() : base("allocate", "propose per-layer levels for a target from the sweep curves (iso-accuracy), beside the uniform plan")
    {
        foreach (var option in new Option[] { _model, _dataset, _sparsity, _params, _macs, _maxDrop, _criterion, _norm, _plan, _limit, _levels, _out, _uniformOut, _workspace, _json })
            Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Plan;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(PlanAllocationRequest.Model)] = "--model",
        [nameof(PlanAllocationRequest.Dataset)] = "--dataset",
        [nameof(PlanAllocationRequest.SubsetSize)] = "--limit",
        [nameof(PlanAllocationRequest.Levels)] = "--levels",
        [nameof(SweepRequest.Layers)] = "--plan",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var (target, targetOption) = Target(parse);
        var model = PlanInputs.ModelFile(parse.GetRequiredValue(_model));
        var method = PlanInputs.Method(parse.GetValue(_criterion), parse.GetValue(_norm));
        PruningPlan? plan = null;
        if (parse.GetValue(_plan) is { } planFile)
        {
            plan = PlanInputs.ReadPlan(planFile, model).Plan;
            if (method is { } replaced) plan = PlanInputs.WithMethod(plan, replaced);
            if (plan.Problems(model.Layers) is { Count: > 0 } problems)
                throw new UsageException("--plan", CliApp.OneLine(string.Join(" ", problems.Select(p => p.Message))));
        }
        var request = new PlanAllocationRequest(model.Source, target, parse.GetRequiredValue(_dataset), method ?? PruningMethod.Element,
            parse.GetValue(_limit) ?? AnalysisSubset.DefaultSize, plan, CommandInputs.Levels(parse.GetValue(_levels)));
        try
        {
            request.Validate();
        }
        catch (InvalidRequestException e) when (e.Setting == nameof(PlanAllocationRequest.Target))
        {
            throw new UsageException(targetOption, e.Message);
        }
        var output = parse.GetValue(_out) is { } outPath ? WritableOutput.File("--out", outPath) : null;
        var uniformOutput = parse.GetValue(_uniformOut) is { } uniformPath ? WritableOutput.File("--uniform-out", uniformPath) : null;
        using var database = CommandInputs.OpenWorkspace(parse.GetValue(_workspace), context);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var progress = new ConsoleProgress(context.Err, partial => Describe(partial, database.Folder));
        PlanAllocationOutcome outcome;
            outcome = PlanAllocationJob.Run(request, DatasetSource.Catalog(context.Settings), new ModelStore(database), new SqliteSweepCellStore(database),
                new SweepHistory(database), new JobContext(Guid.CreateVersion7(), progress), context.CancellationToken);
        if (output is not null) PlanInputs.WritePlan("--out", output, model, outcome.Allocated.Plan);
        if (uniformOutput is not null) PlanInputs.WritePlan("--uniform-out", uniformOutput, model, outcome.Uniform.Plan);

        var json = PlanAllocateJson.From(outcome, output, uniformOutput);
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

    /// <summary>Exactly one target, as the request takes it, with the option it came from.</summary>
    private (AllocationRequestTarget Target, string Option) Target(ParseResult parse)
    {
        var given = new (string Option, AllocationGoal Goal, double? Value)[]
        {
            ("--target-sparsity", AllocationGoal.Sparsity, parse.GetValue(_sparsity)),
            ("--target-params", AllocationGoal.Parameters, parse.GetValue(_params)),
            ("--target-macs", AllocationGoal.Macs, parse.GetValue(_macs)),
            ("--max-drop", AllocationGoal.MaxDrop, parse.GetValue(_maxDrop)),
        }.Where(t => t.Value is not null).ToArray();
        return given switch
        {
            [] => throw new UsageException("--target-sparsity", "give one target: --target-sparsity S, --target-params F, --target-macs F or --max-drop D"),
            [var one] => (new AllocationRequestTarget(one.Goal, one.Value!.Value), one.Option),
            _ => throw new UsageException(given[1].Option, $"give one target, not both {given[0].Option} and {given[1].Option}"),
        };
    }

    private static IEnumerable<string> Describe(JobPartial partial, string workspace)
    {
        switch (partial)
        {
            case SweepStarted { Sweep: var sweep }:
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"no curve yet for {string.Join(", ", sweep.Layers.Select(l => l.Name))}: running the {sweep.Criterion} sweep ({sweep.Levels.Count} levels, {sweep.SubsetSize:N0} validation images; cells cached in {workspace})");
                break;
            case SweepCellFinished { FromStore: false, Cell.Sparsity: > 0 } cell:
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"{SweepJob.Describe(cell.Cell)} · cell {cell.CellsDone}/{cell.CellsTotal}");
                break;
        }
    }

    private static void WriteTable(TextWriter output, PlanAllocationOutcome outcome, PlanAllocateJson json)
    {
        output.WriteLine($"{"layer",-16} {"allocated",10} {"uniform",10}");
        foreach (var (allocated, uniform) in json.Layers.Zip(json.Uniform.Layers))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{allocated.Name,-16} {(allocated.Excluded ? "excluded" : SweepLevels.Format(allocated.Sparsity)),10} {(uniform.Excluded ? "excluded" : SweepLevels.Format(uniform.Sparsity)),10}"));
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{outcome.Architecture} for {outcome.Target}: allocated sparsity {json.Sparsity:P2}, predicted top-1 {json.PredictedTop1:P2}; uniform sparsity {json.Uniform.Sparsity:P2}, predicted {json.Uniform.PredictedTop1:P2} (baseline {json.BaselineTop1:P2}; predictions add the layers' swept drops)"));
        if (!json.Met) output.WriteLine("the target is out of reach of the swept levels: these are the most the curves allow");
    }
}

/// <summary>One proposal in <c>plan allocate --json</c>.</summary>
/// <param name="FittedDrop">The allocator's summed drop on the monotone fits of the curves (<see cref="PredictedTop1"/> uses the measured curves).</param>
internal sealed record ProposalJson(
    IReadOnlyList<PlanLayerJson> Layers,
    double PredictedTop1,
    double Sparsity,
    long Params,
    long Macs,
    SizeBytesJson SizeBytes,
    bool Met,
    double FittedDrop,
    double? UniformLevel,
    IReadOnlyList<string> LayersWithoutCurve,
    string? Out)
{
    public static ProposalJson From(ProposedPlan proposal, string? output)
    {
        var (allocation, prediction) = (proposal.Allocation, proposal.Prediction);
        return new ProposalJson(PlanJson.Layers(allocation.Plan, allocation.Size, prediction), CliJson.Round(prediction.PredictedTop1),
            CliJson.Round(allocation.Size.Sparsity), allocation.Size.Network.Parameters, allocation.Size.Network.MacsPerSample,
            SizeBytesJson.From(allocation.Size.Bytes), allocation.Met, CliJson.Round(allocation.FittedDrop), allocation.UniformLevel,
            allocation.LayersWithoutCurve, output);
    }
}

/// <summary><c>plan allocate --json</c>: the iso-accuracy proposal's fields at the top level and the uniform one under <c>uniform</c>.</summary>
internal sealed record PlanAllocateJson(
    IReadOnlyList<PlanLayerJson> Layers,
    double PredictedTop1,
    ProposalJson Uniform,
    double Sparsity,
    long Params,
    long Macs,
    SizeBytesJson SizeBytes,
    bool Met,
    double FittedDrop,
    TargetJson Target,
    double BaselineTop1,
    DenseJson Dense,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string Subset,
    int Samples,
    int CellsSwept,
    string? Out)
{
    public static PlanAllocateJson From(PlanAllocationOutcome outcome, string? output, string? uniformOutput)
    {
        var allocated = ProposalJson.From(outcome.Allocated, output);
        return new PlanAllocateJson(allocated.Layers, allocated.PredictedTop1, ProposalJson.From(outcome.Uniform, uniformOutput), allocated.Sparsity,
            allocated.Params, allocated.Macs, allocated.SizeBytes, allocated.Met, allocated.FittedDrop, new TargetJson(outcome.Target.Goal, outcome.Target.Value),
            CliJson.Round(outcome.Allocated.Prediction.BaselineTop1), DenseJson.From(outcome.Allocated.Prediction.Dense), outcome.Architecture,
            outcome.Identity.ModelHash, outcome.Identity.Dataset, outcome.Identity.Subset, outcome.SubsetSize,
            outcome.SweepsRun.Sum(s => s.Result.CellsComputed), output);
    }
}

/// <param name="Value">As the allocator took it: a sparsity or drop fraction, or a parameter or MAC count (a budget's fraction of the dense model, rounded down).</param>
internal sealed record TargetJson(AllocationGoal Goal, double Value);
