using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>kd train --teacher FILE[,FILE...] --student-arch NAME --dataset NAME --objective soft|soft+hard|mse|hints|dml --temperature T
/// --alpha A --epochs N [--seed S] [--no-t2] [--baseline] [--limit N] --out FILE [--resume] [--json]</c>: the dashboard's
/// distillation job (<see cref="DistillationJob.Run"/>). With <c>--baseline</c> the same student is also trained without a
/// teacher under the same seed, and both are measured on the test split. <c>hints</c> (FitNets) takes
/// <c>--hint-mode added|first-phase</c>, <c>--hint-weight B</c>, <c>--hint-epochs N</c>, <c>--hint-stages LIST</c>; <c>dml</c>
/// (deep mutual learning) takes no teacher (a <c>--teacher</c> is refused, not ignored) but <c>--peer-arch NAME</c>,
/// <c>--peer-seed S</c> and <c>--peer-out FILE</c>.
/// </summary>
public sealed class KdTrainCommand : CliCommand
{
    private readonly Option<string?> _teacher = new("--teacher") { Description = "teacher checkpoint; several, comma-separated, are an ensemble (soft targets averaged); required except for dml, which refuses it", HelpName = "FILE[,FILE...]" };
    private readonly Option<string?> _studentArch = new("--student-arch") { Description = "student architecture, trained from its seeded initial weights (e.g. vgg-tiny)", HelpName = "NAME" };
    private readonly Option<string?> _student = new("--student") { Description = "start the student (and its baseline) from this checkpoint's weights instead", HelpName = "FILE" };
    private readonly Option<bool> _averageFlips = new("--average-flips") { Description = "data distillation: the teacher's target is the mean over the image and its mirror" };
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets'): trained on its train part, validated on its hold-out, tested on its test split", "NAME", required: true);
    private readonly Option<string?> _objective = new("--objective") { Description = "soft: teacher soft targets only; soft+hard (default): α·T²·KL + (1−α)·CE; mse: α·MSE(logits) + (1−α)·CE; hints: FitNets stage hints with soft+hard; dml: deep mutual learning of two students, no teacher", HelpName = "soft|soft+hard|mse|hints|dml" };
    private readonly Option<double?> _temperature = new("--temperature") { Description = "T of the soft targets (default 4; dml: 1)", HelpName = "T" };
    private readonly Option<string?> _hintMode = new("--hint-mode") { Description = "hints: added (default): soft+hard + β·hint every step; first-phase: --hint-epochs of hints alone, then --epochs of soft+hard", HelpName = "added|first-phase" };
    private readonly Option<double?> _hintWeight = new("--hint-weight") { Description = "hints added to the loss: β, the hint loss's weight (default 1)", HelpName = "B" };
    private readonly Option<int?> _hintEpochs = IntOption("--hint-epochs", "hints as a first phase: its epochs, before the --epochs of soft+hard (default 2)");
    private readonly Option<string?> _hintStages = new("--hint-stages") { Description = "hints: the stages whose outputs are hinted, comma-separated (default: every stage student and teacher share)", HelpName = "stage1,stage2,..." };
    private readonly Option<string?> _peerArch = new("--peer-arch") { Description = "dml: the second student's architecture (default: the student's, with seed S+1)", HelpName = "NAME" };
    private readonly Option<int?> _peerSeed = IntOption("--peer-seed", "dml: seed of the second student's initial weights (default: --seed + 1)", "S");
    private readonly Option<string?> _peerOut = new("--peer-out") { Description = "dml: also write the second student's checkpoint here", HelpName = "FILE" };
    private readonly Option<double?> _alpha = new("--alpha") { Description = "weight of the teacher's term, 0 to 1 (default 0.9)", HelpName = "A" };
    private readonly Option<bool> _noT2 = new("--no-t2") { Description = "leave out the T² factor on the KL term (Distiller's behaviour; not recommended)" };
    private readonly Option<int?> _epochs = IntOption("--epochs", "epochs (default: the student architecture's)");
    private readonly Option<int?> _seed = IntOption("--seed", "seed of the initial weights, shuffling, flips and dropout (default 1); the baseline uses the same", "S");
    private readonly Option<bool> _baseline = new("--baseline") { Description = "also train the student without a teacher (same seed, epochs, augmentation) and report its test top-1" };
    private readonly Option<int?> _limit = IntOption("--limit", "train on a class-stratified subset of N training images (quick runs)");
    private readonly Option<string> _out = TextOption("--out", "checkpoint file of the distilled student; FILE.resume holds the run after every epoch until it succeeds", "FILE", required: true);
    private readonly Option<bool> _resume = new("--resume") { Description = "continue the run saved in FILE.resume (same options as the run that stopped)" };
    private readonly Option<bool> _json = JsonOption();

    public KdTrainCommand() : base("train", "train a student with knowledge distillation from a teacher (or an ensemble; FitNets hints), or two students by deep mutual learning, beside an honest no-teacher baseline")
    {
        _objective.AcceptOnlyFromAmong("soft", "soft+hard", "mse", "hints", "dml");
        _hintMode.AcceptOnlyFromAmong("added", "first-phase");
        foreach (var option in new Option[] { _teacher, _studentArch, _student, _dataset, _objective, _averageFlips, _temperature, _alpha, _noT2,
                     _hintMode, _hintWeight, _hintEpochs, _hintStages, _peerArch, _peerSeed, _peerOut, _epochs, _seed, _baseline, _limit, _out, _resume, _json })
            Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Kd;

    public override bool ComputesWithTorch => true;

    /// <remarks>
    /// Every conv a distillation runs is channels-last (docs/models.md, "Training step against PyTorch"): the student's, the
    /// peer's and FitNets' stage maps go through <c>ModelBlock.Forward</c>, the teacher's targets, its hint maps and every
    /// evaluation through the folded inference forward (its convs take channels-last inputs and weights), and the hint
    /// regressors' 1×1 convs get their student map channels-last (<c>HintObjective.HintLoss</c>).
    /// </remarks>
    public override bool ChannelsLastConvolutionsOnly => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(DistillationRequest.Teachers)] = "--teacher",
        [nameof(DistillationRequest.StudentArchitecture)] = "--student-arch",
        [nameof(DistillationRequest.Dataset)] = "--dataset",
        [nameof(DistillationRequest.Objective)] = "--objective",
        [nameof(DistillationRequest.StudentStart)] = "--student",
        [nameof(DistillationSettings.Temperature)] = "--temperature",
        [nameof(DistillationSettings.Alpha)] = "--alpha",
        [nameof(DistillationSettings.AverageOverFlips)] = "--average-flips",
        [nameof(DistillationSettings.Hints)] = "--hint-mode",
        [nameof(DistillationSettings.HintWeight)] = "--hint-weight",
        [nameof(DistillationSettings.HintEpochs)] = "--hint-epochs",
        [nameof(DistillationSettings.HintStages)] = "--hint-stages",
        [nameof(DistillationRequest.PeerArchitecture)] = "--peer-arch",
        [nameof(DistillationRequest.PeerSeed)] = "--peer-seed",
        [nameof(DistillationRequest.PeerOutputFile)] = "--peer-out",
        [nameof(DistillationRequest.Epochs)] = "--epochs",
        [nameof(DistillationRequest.Seed)] = "--seed",
        [nameof(DistillationRequest.TrainingImages)] = "--limit",
        [nameof(DistillationRequest.OutputFile)] = "--out",
        [TrainingStateSlot.ResumeSetting] = "--resume",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var teachers = parse.GetValue(_teacher) is { } listed ? CommandInputs.List(listed) ?? [] : [];
        var loss = DistillationSettings.ParseLoss(parse.GetValue(_objective) ?? "soft+hard");
        RefuseOptionsOfOtherObjectives(parse, loss);
        var objective = new DistillationSettings(loss,
            parse.GetValue(_temperature) ?? (loss == DistillationLoss.Mutual ? 1 : 4), parse.GetValue(_alpha) ?? 0.9, !parse.GetValue(_noT2), parse.GetValue(_averageFlips),
            parse.GetValue(_hintMode) == "first-phase" ? HintMode.FirstPhase : HintMode.Added, parse.GetValue(_hintEpochs) ?? 2, parse.GetValue(_hintWeight) ?? 1,
            parse.GetValue(_hintStages) is { } stages ? CommandInputs.List(stages) : null);
        var (architecture, start) = Student(parse.GetValue(_studentArch), parse.GetValue(_student));
        var output = WritableOutput.File("--out", parse.GetRequiredValue(_out));
        foreach (var teacher in teachers) WritableOutput.File("--out", output, "--teacher", teacher); // never over a teacher
        var peerOutput = parse.GetValue(_peerOut) is { } peerFile ? WritableOutput.File("--peer-out", peerFile) : null;
        if (peerOutput is not null)
        {
            if (peerOutput == output) throw new UsageException("--peer-out", $"is the student's --out file ({output}); give the peer a file of its own");
            foreach (var teacher in teachers) WritableOutput.File("--peer-out", peerOutput, "--teacher", teacher);
        }
        var request = new DistillationRequest([.. teachers.Select(path => (ModelSource)new CheckpointFile(path))], architecture,
            objective, parse.GetRequiredValue(_dataset), parse.GetValue(_epochs), parse.GetValue(_seed) ?? 1, parse.GetValue(_baseline),
            parse.GetValue(_limit), OutputFile: output, StudentStart: start, PeerArchitecture: parse.GetValue(_peerArch), PeerSeed: parse.GetValue(_peerSeed),
            SavePeer: peerOutput is not null, PeerOutputFile: peerOutput);
        request.Validate();
        var log = new DistillLog(ResumableRun.Slot(output, parse.GetValue(_resume)), request.Settings().Epochs);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var what = request.IsMutual
            ? $"mutual learning of {request.StudentArchitecture} and a {request.ResolvedPeerArchitecture} peer (seed {request.ResolvedPeerSeed})"
            : $"distilling {request.StudentArchitecture} from {string.Join(" + ", teachers)}";
        var hintPhase = loss == DistillationLoss.Hints && objective.Hints == HintMode.FirstPhase ? $" after {objective.HintEpochs} hint epochs" : "";
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what} ({objective.Key}), {request.Settings().Epochs} epochs{hintPhase}, seed {request.Seed}{(request.Baseline ? ", then the same student without a teacher" : "")}; {ThreadsAndRuntimeSettings}"));
        var result = log.Run(context, slot => DistillationJob.Run(request, DatasetSource.Catalog(context.Settings), store: null,
            new ConsoleProgress(context.Err, log.Describe), context.CancellationToken, slot));

        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new KdTrainJson(CliJson.Round(result.Top1), result.BaselineTop1 is { } b ? CliJson.Round(b) : null,
                CliJson.Round(result.Seconds, 1), CliJson.Round(result.TeacherSeconds, 1), CliJson.Round(result.DistillationSeconds, 1),
                result.BaselineSeconds is { } s ? CliJson.Round(s, 1) : null, result.Objective, result.Epochs, result.Seed, result.TrainingImages,
                result.CheckpointFile!, result.WeightsHash, result.PeerTop1 is { } p ? CliJson.Round(p) : null, result.PeerCheckpointFile));
        }
        else
        {
            var against = result.BaselineTop1 is { } baseline ? string.Create(CultureInfo.InvariantCulture, $", baseline {baseline:P2}") : "";
            if (result.PeerTop1 is { } peer) against += string.Create(CultureInfo.InvariantCulture, $", peer {result.PeerArchitecture} {peer:P2}{(result.PeerCheckpointFile is { } f ? $" (saved to {f})" : "")}");
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{result.StudentArchitecture} distilled ({result.Objective}): test top-1 {result.Top1:P2}{against}; {result.Seconds:F0} s in all; saved to {result.CheckpointFile}"));
        }
        return CliApp.Success;
    }

    /// <summary>An option that belongs to another objective is refused, not silently ignored.</summary>
    private void RefuseOptionsOfOtherObjectives(ParseResult parse, DistillationLoss loss)
    {
        if (loss != DistillationLoss.Hints)
        {
            foreach (var (option, given) in new (string, bool)[] { ("--hint-mode", parse.GetValue(_hintMode) is not null), ("--hint-weight", parse.GetValue(_hintWeight) is not null),
                         ("--hint-epochs", parse.GetValue(_hintEpochs) is not null), ("--hint-stages", parse.GetValue(_hintStages) is not null) })
                if (given) throw new UsageException(option, "hint settings are for --objective hints");
        }
        else if (parse.GetValue(_hintMode) != "first-phase" && parse.GetValue(_hintEpochs) is not null)
        {
            throw new UsageException("--hint-epochs", "hint epochs are the first phase's; add --hint-mode first-phase (added to the loss, hints run every epoch)");
        }
        else if (parse.GetValue(_hintMode) == "first-phase" && parse.GetValue(_hintWeight) is not null)
        {
            throw new UsageException("--hint-weight", "in the first phase the hint loss is the whole loss; β weighs it only when hints are added to the loss (--hint-mode added)");
        }
        if (loss != DistillationLoss.Mutual)
        {
            foreach (var (option, given) in new (string, bool)[] { ("--peer-arch", parse.GetValue(_peerArch) is not null), ("--peer-seed", parse.GetValue(_peerSeed) is not null),
                         ("--peer-out", parse.GetValue(_peerOut) is not null) })
                if (given) throw new UsageException(option, "a peer is for --objective dml (deep mutual learning)");
        }
        else if (parse.GetValue(_alpha) is not null)
        {
            throw new UsageException("--alpha", "deep mutual learning minimises CE + KL(peer ‖ self) as Zhang et al. do; α does not apply");
        }
    }

    /// <summary>The student's architecture and start: --student-arch (from scratch) or --student FILE (its architecture read from the file).</summary>
    private static (string Architecture, ModelSource? Start) Student(string? architecture, string? file)
    {
        if (file is null)
            return (architecture ?? throw new UsageException("--student-arch", "give the student's architecture (e.g. --student-arch vgg-tiny) or a checkpoint to start it from (--student FILE)"), null);
        var source = new CheckpointFile(file);
        source.Validate(); // a missing file is the request's StudentStart, mapped to --student
        CheckpointMetadata metadata;
        try
        {
            metadata = Checkpoint.ReadMetadata(source.Path);
        }
        catch (CheckpointException e)
        {
            throw new InputFileException("--student", CliApp.OneLine(e.Message), e);
        }
        if (architecture is not null && architecture != metadata.Architecture)
            throw new UsageException("--student-arch", $"{file} is a {metadata.Architecture}, not a {architecture}");
        return (metadata.Architecture, source);
    }

    private sealed class DistillLog : ResumableRun
    {
        public DistillLog(TrainingStateSlot slot, int epochs) : base(slot) => Epochs = epochs;

        public IEnumerable<string> Describe(JobPartial partial)
        {
            if (partial is not DistillationEpochFinished { Epoch: var epoch } finished) yield break;
            if (finished.Run != DistillationRun.Baseline) EpochsSaved = epoch.Epoch; // the hint phase saves its epochs too
            var run = finished.Run switch { DistillationRun.Distilled => "distilled", DistillationRun.HintPhase => "hint phase", _ => "baseline" };
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{run} epoch {epoch.Epoch}/{finished.Epochs}: train loss {epoch.TrainLoss:F4}, validation top-1 {epoch.ValidationTop1:P2} ({epoch.Seconds:F1} s)");
        }
    }
}

/// <summary><c>kd train --json</c>; seconds of wall-clock time (teacher: its forward passes, once per training set).</summary>
/// <param name="PeerTop1">dml: the second student's test top-1.</param>
/// <param name="PeerOut">dml with <c>--peer-out</c>: where the second student went.</param>
internal sealed record KdTrainJson(double Top1, double? BaselineTop1, double Seconds, double TeacherSeconds, double DistillationSeconds, double? BaselineSeconds,
    string Objective, int Epochs, int Seed, int TrainingImages, string Out, string WeightsHash, double? PeerTop1 = null, string? PeerOut = null);
