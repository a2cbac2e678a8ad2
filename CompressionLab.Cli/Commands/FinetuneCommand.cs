using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>finetune --model FILE --dataset NAME --rates LIST | --plan FILE [--criterion element|filter] [--norm l1|l2]
/// [--schedule agp|fixed] --epochs N [--lr F] [--seed S] [--batch N] [--limit N] [--val-limit N] --out FILE [--resume] [--json]</c>:
/// the dashboard's fine-tuning job (<see cref="FineTuneJob.Run"/>) on a checkpoint file, the new model written to
/// <c>FILE</c> with its lineage. After every epoch the run's state (masks included) goes to <c>FILE.resume</c>; the same
/// command with <c>--resume</c> continues a run that stopped, to the model an uninterrupted run makes.
/// </summary>
public sealed class FinetuneCommand : CliCommand
{
    private readonly Option<string> _model = PlanInputs.Model();
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets'): fine-tuned on its train part, validated on its hold-out", "NAME", required: true);
    private readonly Option<string?> _rates = new("--rates")
    {
        Description = "stage rates and layer levels, e.g. stage1=0.5,stage2=0.7,stage3.conv2=0.3 (stages not named stay at 0, or as in --plan)",
        HelpName = "LIST",
    };
    private readonly Option<string?> _plan = new("--plan") { Description = "a plan file (plan allocate --out) for this model; --rates then changes it", HelpName = "FILE" };
    private readonly Option<string?> _criterion = PlanInputs.Criterion("element (default) or filter: how every stage is pruned (with --plan: replaces its stages' methods)");
    private readonly Option<string?> _norm = PlanInputs.Norm();
    private readonly Option<string?> _schedule = new("--schedule") { Description = "agp (default): gradual pruning from the dense model to the plan's levels; fixed: the plan's masks from the start", HelpName = "agp|fixed" };
    private readonly Option<int?> _epochs = new("--epochs") { Description = $"epochs of fine-tuning, 1 to {TrainingRequest.MaxEpochs}", HelpName = "N", Required = true };
    private readonly Option<double?> _lr = new("--lr") { Description = $"peak learning rate of the one-cycle schedule (default {FineTuneRequest.DefaultLearningRate.ToString(CultureInfo.InvariantCulture)})", HelpName = "F" };
    private readonly Option<int?> _seed = IntOption("--seed", "seed for shuffling, flips, dropout and the --limit subset (default 1)", "S");
    private readonly Option<int?> _batch = IntOption("--batch", "training batch size (default 128)");
    private readonly Option<int?> _limit = IntOption("--limit", "fine-tune on a class-stratified subset of N training images drawn with --seed (quick runs)");
    private readonly Option<int?> _valLimit = IntOption("--val-limit", $"validation images for the recovery curve, the subset plan evaluate --limit N measures (default {AnalysisSubset.DefaultSize})");
    private readonly Option<string> _out = TextOption("--out", "checkpoint file to write; FILE.resume holds the run after every epoch until it succeeds", "FILE", required: true);
    private readonly Option<bool> _resume = new("--resume") { Description = "continue the run saved in FILE.resume (same options as the run that stopped)" };
    private readonly Option<bool> _json = JsonOption();
    private readonly Dictionary<string, string> _settingOptions = new()
    {
        [nameof(FineTuneRequest.Model)] = "--model",
        [nameof(FineTuneRequest.Dataset)] = "--dataset",
        [nameof(FineTuneRequest.Plan)] = "--plan",
        [nameof(FineTuneRequest.Schedule)] = "--schedule",
        [nameof(FineTuneRequest.Epochs)] = "--epochs",
        [nameof(FineTuneRequest.LearningRate)] = "--lr",
        [nameof(FineTuneRequest.Seed)] = "--seed",
        [nameof(FineTuneRequest.BatchSize)] = "--batch",
        [nameof(FineTuneRequest.TrainingImages)] = "--limit",
        [nameof(FineTuneRequest.SubsetSize)] = "--val-limit",
        [nameof(FineTuneRequest.OutputFile)] = "--out",
        [TrainingStateSlot.ResumeSetting] = "--resume",
    };

    public FinetuneCommand() : base("finetune", "fine-tune a pruning plan with its masks held (gradual AGP or fixed) and save the pruned model")
    {
        _schedule.AcceptOnlyFromAmong("agp", "fixed");
        foreach (var option in new Option[] { _model, _dataset, _rates, _plan, _criterion, _norm, _schedule, _epochs, _lr, _seed, _batch, _limit, _valLimit, _out, _resume, _json })
            Options.Add(option);
    }

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions => _settingOptions;

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = PlanInputs.ModelFile(parse.GetRequiredValue(_model));
        var method = PlanInputs.Method(parse.GetValue(_criterion), parse.GetValue(_norm));
        var (rates, planFile) = (parse.GetValue(_rates), parse.GetValue(_plan));
        if (rates is null && planFile is null)
            throw new UsageException("--rates", "give the rates (e.g. --rates stage1=0.5,stage2=0.7,stage3=0.8) or a plan file (--plan FILE)");
        // A plan file is checked against this model (architecture and weights hash) as it is read.
        var plan = planFile is not null ? PlanInputs.ReadPlan(planFile, model).Plan : PruningPlan.Default(model.Layers, method ?? PruningMethod.Element);
        if (planFile is not null && method is { } replaced) plan = PlanInputs.WithMethod(plan, replaced);
        if (rates is not null) plan = PlanInputs.ApplyRates(plan, model, rates);
        var planOption = rates is not null ? "--rates" : "--plan";
        _settingOptions[nameof(FineTuneRequest.Plan)] = planOption;
        if (plan.Problems(model.Layers) is { Count: > 0 } problems)
            throw new UsageException(planOption, CliApp.OneLine(string.Join(" ", problems.Select(p => p.Message))));

        // Checked before the data is loaded so a long run cannot end in an unwritable path.
        var output = WritableOutput.File("--out", parse.GetRequiredValue(_out), "--model", model.Source.Path);
        var request = new FineTuneRequest(model.Source, plan, parse.GetRequiredValue(_dataset),
            MaskSchedule.Parse(parse.GetValue(_schedule) ?? "agp"), parse.GetValue(_epochs) ?? 0, parse.GetValue(_lr) ?? FineTuneRequest.DefaultLearningRate,
            parse.GetValue(_seed) ?? 1, parse.GetValue(_batch) ?? 128, parse.GetValue(_limit), parse.GetValue(_valLimit) ?? AnalysisSubset.DefaultSize,
            OutputFile: output, PlanFor: model.PlanModel);
        request.Validate();
        // Refused before the data is loaded: an earlier run saved beside --out is never replaced unasked.
        var log = new FineTuneLog(ResumableRun.Slot(output, parse.GetValue(_resume)));
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var result = log.Run(context, slot => FineTuneJob.Run(request, DatasetSource.Catalog(context.Settings), store: null, new ConsoleProgress(context.Err, log.Describe),
                context.CancellationToken, slot));
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"validation top-1: dense {result.DenseTop1:P2}, pruned {result.Top1Before:P2}, fine-tuned {result.Top1After:P2}; test top-1 {result.TestTop1:P2}; {result.Seconds:F0} s in all"));

        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, FinetuneJson.From(result, output));
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{result.Architecture}: {result.Sparsity:P1} of the weights pruned, validation top-1 {result.Top1Before:P2} → {result.Top1After:P2} (dense {result.DenseTop1:P2}), test {result.TestTop1:P2}, saved to {output}"));
        }
        return CliApp.Success;
    }

    /// <summary>The lines a fine-tuning prints for its plan and each finished epoch, and how many epochs are saved so far.</summary>
    private sealed class FineTuneLog(TrainingStateSlot slot) : ResumableRun(slot)
    {
        public IEnumerable<string> Describe(JobPartial partial)
        {
            switch (partial)
            {
                case FineTuneStarted started:
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"fine-tuning {started.ModelName} ({started.Architecture}) on {started.TrainingImages:N0} images of {started.Dataset} for {started.Settings.Epochs} epochs, peak lr {started.Settings.MaxLearningRate}, seed {started.Settings.Seed}; {ThreadsAndRuntimeSettings}");
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"plan {started.PlanHash[..12]}: {started.Pruned.Sparsity:P1} of the weights, {1 - ((double)started.Pruned.Network.MacsPerSample / started.Dense.Network.MacsPerSample):P1} of the MACs pruned; schedule {started.Schedule}");
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"validation top-1 on {started.SubsetSize:N0} images: dense {started.DenseTop1:P2}, pruned without fine-tuning {started.PrunedTop1:P2}");
                    foreach (var line in StartLines(started.ResumedFrom, started.EpochsDone, started.Settings.Epochs)) yield return line;
                    break;
                case FineTuneEpochFinished { Epoch: var epoch } finished:
                    EpochsSaved = epoch.Epoch;
                    var pruned = finished.Levels.Count(l => l.Level > 0);
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"epoch {epoch.Epoch}/{finished.Epochs}: train loss {epoch.TrainLoss:F4}, validation top-1 {epoch.ValidationTop1:P2} loss {epoch.ValidationLoss:F4}; {pruned} layers masked, levels {string.Join(" ", finished.Levels.Select(l => SweepLevels.Format(l.Level)))} ({epoch.Seconds:F1} s)");
                    break;
            }
        }
    }
}

/// <summary><c>finetune --json</c>: accuracies as fractions; <c>top1_before</c> and <c>top1_after</c> on the same validation images.</summary>
/// <param name="Top1Before">The plan's masks on the parent, not fine-tuned.</param>
/// <param name="ValidationTop1">The recovery curve: validation top-1 after each epoch.</param>
internal sealed record FinetuneJson(
    double Top1Before,
    double Top1After,
    double Sparsity,
    double Seconds,
    string Out,
    double DenseTop1,
    double TestTop1,
    long Params,
    long Macs,
    long DenseParams,
    long DenseMacs,
    string Schedule,
    int Epochs,
    double Lr,
    int TrainingImages,
    int Samples,
    IReadOnlyList<double?> ValidationTop1,
    int ResumedFromEpoch,
    string WeightsHash,
    string ParentWeightsHash,
    string PlanHash)
{
    public static FinetuneJson From(FineTuneJobResult result, string output) => new(
        CliJson.Round(result.Top1Before), CliJson.Round(result.Top1After), CliJson.Round(result.Sparsity), CliJson.Round(result.Seconds, 1), output,
        CliJson.Round(result.DenseTop1), CliJson.Round(result.TestTop1), result.Parameters, result.MacsPerSample, result.DenseParameters,
        result.DenseMacsPerSample, result.Schedule, result.Epochs, result.LearningRate, result.TrainingImages, result.SubsetSize,
        [.. result.History.Select(e => e.ValidationTop1 is { } v ? CliJson.Round(v) : (double?)null)], result.ResumedFromEpoch,
        result.WeightsHash, result.ParentWeightsHash, result.PlanHash);
}
