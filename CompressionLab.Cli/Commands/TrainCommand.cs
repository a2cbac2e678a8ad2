using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>train --arch NAME --dataset NAME [--epochs N] [--seed S] [--limit N] --out FILE [--resume] [--json]</c>: the dashboard's
/// training job (<see cref="TrainingJob.Run"/>) with the checkpoint written to <c>FILE</c> instead of the workspace. After
/// every epoch the run's state goes to <c>FILE.resume</c> (deleted once the checkpoint is written); the same command with
/// <c>--resume</c> continues a run that stopped, to the weights an uninterrupted run gives.
/// </summary>
public sealed class TrainCommand : CliCommand
{
    private readonly Option<string> _arch = TextOption("--arch", $"architecture: {string.Join(", ", ModelZoo.Architectures)}", "NAME", required: true);
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets')", "NAME", required: true);
    private readonly Option<int?> _epochs = IntOption("--epochs", $"epochs, 1 to {TrainingRequest.MaxEpochs} (default per architecture)");
    private readonly Option<int?> _seed = IntOption("--seed", "seed for weights, shuffling, flips, dropout (default 1)", "S");
    private readonly Option<int?> _limit = IntOption("--limit", "train on a class-stratified subset of N images drawn with --seed, as the dashboard does (quick runs)");
    private readonly Option<string> _out = TextOption("--out", "checkpoint file to write; FILE.resume holds the run after every epoch until it succeeds", "FILE", required: true);
    private readonly Option<bool> _resume = new("--resume") { Description = "continue the run saved in FILE.resume (same options as the run that stopped)" };
    private readonly Option<bool> _json = JsonOption();

    public TrainCommand() : base("train", "train a zoo model from scratch and save a checkpoint")
    {
        _arch.AcceptOnlyFromAmong([.. ModelZoo.Architectures]);
        foreach (var option in new Option[] { _arch, _dataset, _epochs, _seed, _limit, _out, _resume, _json }) Options.Add(option);
    }

    public override bool ComputesWithTorch => true;

    public override bool ChannelsLastConvolutionsOnly => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(TrainingRequest.Architecture)] = "--arch",
        [nameof(TrainingRequest.Dataset)] = "--dataset",
        [nameof(TrainingRequest.Epochs)] = "--epochs",
        [nameof(TrainingRequest.Seed)] = "--seed",
        [nameof(TrainingRequest.TrainingImages)] = "--limit",
        [nameof(TrainingRequest.OutputFile)] = "--out",
        [TrainingStateSlot.ResumeSetting] = "--resume",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        // Checked before the data is loaded so a long run cannot end in an unwritable path.
        var output = WritableOutput.File("--out", parse.GetRequiredValue(_out));
        var request = new TrainingRequest(parse.GetRequiredValue(_arch), parse.GetRequiredValue(_dataset), parse.GetValue(_epochs),
            parse.GetValue(_seed) ?? 1, parse.GetValue(_limit), OutputFile: output);
        request.Validate();
        // Refused before the data is loaded: an earlier run saved beside --out is never replaced unasked.
        var log = new TrainingLog(ResumableRun.Slot(output, parse.GetValue(_resume)));
        CommandInputs.LoadDataset(context, request.Dataset);

        TorchRuntime.Configure();
        var result = log.Run(context, slot => TrainingJob.Run(request, DatasetSource.Catalog(context.Settings), store: null, new ConsoleProgress(context.Err, log.Describe),
                context.CancellationToken, slot));
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"test top-1 {result.Top1:P2}, top-5 {result.Top5:P2}, loss {result.Loss:F4}; {result.Seconds:F0} s in all"));

        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new TrainJson(result.Architecture, result.Dataset, result.Epochs, result.ResumedFromEpoch, result.TrainingImages,
                CliJson.Round(result.Top1), CliJson.Round(result.Top5), CliJson.Round(result.Loss), CliJson.Round(result.Seconds, 1), output, result.WeightsHash!));
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.Architecture}: test top-1 {result.Top1:P2} in {result.Seconds:F0} s, saved to {output}"));
        }
        return CliApp.Success;
    }

    /// <summary>The lines a training prints for its plan and each finished epoch, and how many epochs are saved so far.</summary>
    private sealed class TrainingLog(TrainingStateSlot slot) : ResumableRun(slot)
    {
        public IEnumerable<string> Describe(JobPartial partial)
        {
            switch (partial)
            {
                case TrainingStarted started:
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"training {started.Architecture} ({started.ParameterCount:N0} parameters) on {started.TrainingImages} images of {started.Dataset} for {started.Settings.Epochs} epochs, seed {started.Settings.Seed}; {ThreadsAndRuntimeSettings}");
                    foreach (var line in StartLines(started.ResumedFrom, started.EpochsDone, started.Settings.Epochs)) yield return line;
                    break;
                case TrainingEpochFinished { Epoch: var epoch } finished:
                    // The state is saved before the epoch is reported.
                    EpochsSaved = epoch.Epoch;
                    var validation = epoch.ValidationTop1 is double top1
                        ? string.Create(CultureInfo.InvariantCulture, $", validation top-1 {top1:P2} loss {epoch.ValidationLoss:F4}")
                        : "";
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"epoch {epoch.Epoch}/{finished.Epochs}: train loss {epoch.TrainLoss:F4} accuracy {epoch.TrainAccuracy:P2}{validation} ({epoch.Seconds:F1} s)");
                    break;
            }
        }
    }
}

/// <summary><c>train --json</c>.</summary>
/// <param name="ResumedFromEpoch">Epochs the resumed state had finished; 0 for a fresh run.</param>
/// <param name="WeightsHash">SHA-256 of the weights: equal for equal weights (was <c>contentHash</c>).</param>
internal sealed record TrainJson(
    string Arch, string Dataset, int Epochs, int ResumedFromEpoch, int TrainingImages, double Top1, double Top5, double Loss, double Seconds,
    string Out, string WeightsHash);
