using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>kd train --teacher FILE[,FILE...] --student-arch NAME --dataset NAME --objective soft|soft+hard|mse --temperature T
/// --alpha A --epochs N [--seed S] [--no-t2] [--baseline] [--limit N] --out FILE [--resume] [--json]</c>: the dashboard's
/// distillation job (<see cref="DistillationJob.Run"/>). With <c>--baseline</c> the same student is also trained without a
/// teacher under the same seed, and both are measured on the test split.
/// </summary>
public sealed class KdTrainCommand : CliCommand
{
    private readonly Option<string> _teacher = TextOption("--teacher", "teacher checkpoint; several, comma-separated, are an ensemble (soft targets averaged)", "FILE[,FILE...]", required: true);
    private readonly Option<string?> _studentArch = new("--student-arch") { Description = "student architecture, trained from its seeded initial weights (e.g. vgg-tiny)", HelpName = "NAME" };
    private readonly Option<string?> _student = new("--student") { Description = "start the student (and its baseline) from this checkpoint's weights instead", HelpName = "FILE" };
    private readonly Option<bool> _averageFlips = new("--average-flips") { Description = "data distillation: the teacher's target is the mean over the image and its mirror" };
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets'): trained on its train part, validated on its hold-out, tested on its test split", "NAME", required: true);
    private readonly Option<string?> _objective = new("--objective") { Description = "soft: teacher soft targets only; soft+hard (default): α·T²·KL + (1−α)·CE; mse: α·MSE(logits) + (1−α)·CE", HelpName = "soft|soft+hard|mse" };
    private readonly Option<double?> _temperature = new("--temperature") { Description = "T of the soft targets (default 4)", HelpName = "T" };
    private readonly Option<double?> _alpha = new("--alpha") { Description = "weight of the teacher's term, 0 to 1 (default 0.9)", HelpName = "A" };
    private readonly Option<bool> _noT2 = new("--no-t2") { Description = "leave out the T² factor on the KL term (Distiller's behaviour; not recommended)" };
    private readonly Option<int?> _epochs = IntOption("--epochs", "epochs (default: the student architecture's)");
    private readonly Option<int?> _seed = IntOption("--seed", "seed of the initial weights, shuffling, flips and dropout (default 1); the baseline uses the same", "S");
    private readonly Option<bool> _baseline = new("--baseline") { Description = "also train the student without a teacher (same seed, epochs, augmentation) and report its test top-1" };
    private readonly Option<int?> _limit = IntOption("--limit", "train on a class-stratified subset of N training images (quick runs)");
    private readonly Option<string> _out = TextOption("--out", "checkpoint file of the distilled student; FILE.resume holds the run after every epoch until it succeeds", "FILE", required: true);
    private readonly Option<bool> _resume = new("--resume") { Description = "continue the run saved in FILE.resume (same options as the run that stopped)" };
    private readonly Option<bool> _json = JsonOption();

    public KdTrainCommand() : base("train", "train a student with knowledge distillation from a teacher (or an ensemble), beside an honest no-teacher baseline")
    {
        _objective.AcceptOnlyFromAmong("soft", "soft+hard", "mse");
        foreach (var option in new Option[] { _teacher, _studentArch, _student, _dataset, _objective, _averageFlips, _temperature, _alpha, _noT2, _epochs, _seed, _baseline, _limit, _out, _resume, _json })
            Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Kd;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(DistillationRequest.Teachers)] = "--teacher",
        [nameof(DistillationRequest.StudentArchitecture)] = "--student-arch",
        [nameof(DistillationRequest.Dataset)] = "--dataset",
        [nameof(DistillationRequest.Objective)] = "--objective",
        [nameof(DistillationRequest.StudentStart)] = "--student",
        [nameof(DistillationSettings.Temperature)] = "--temperature",
        [nameof(DistillationSettings.Alpha)] = "--alpha",
        [nameof(DistillationRequest.Epochs)] = "--epochs",
        [nameof(DistillationRequest.Seed)] = "--seed",
        [nameof(DistillationRequest.TrainingImages)] = "--limit",
        [nameof(DistillationRequest.OutputFile)] = "--out",
        [TrainingStateSlot.ResumeSetting] = "--resume",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var teachers = CommandInputs.List(parse.GetRequiredValue(_teacher)) ?? [];
        var objective = new DistillationSettings(DistillationSettings.ParseLoss(parse.GetValue(_objective) ?? "soft+hard"),
            parse.GetValue(_temperature) ?? 4, parse.GetValue(_alpha) ?? 0.9, !parse.GetValue(_noT2), parse.GetValue(_averageFlips));
        var (architecture, start) = Student(parse.GetValue(_studentArch), parse.GetValue(_student));
        var output = WritableOutput.File("--out", parse.GetRequiredValue(_out));
        foreach (var teacher in teachers) WritableOutput.File("--out", output, "--teacher", teacher); // never over a teacher
        var request = new DistillationRequest([.. teachers.Select(path => (ModelSource)new CheckpointFile(path))], architecture,
            objective, parse.GetRequiredValue(_dataset), parse.GetValue(_epochs), parse.GetValue(_seed) ?? 1, parse.GetValue(_baseline),
            parse.GetValue(_limit), OutputFile: output, StudentStart: start);
        request.Validate();
        var log = new DistillLog(ResumableRun.Slot(output, parse.GetValue(_resume)), request.Settings().Epochs);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"distilling {request.StudentArchitecture} from {string.Join(" + ", teachers)} ({objective.Key}), {request.Settings().Epochs} epochs, seed {request.Seed}{(request.Baseline ? ", then the same student without a teacher" : "")}; {ThreadsAndRuntimeSettings}"));
        var result = log.Run(context, slot => DistillationJob.Run(request, DatasetSource.Catalog(context.Settings), store: null,
            new ConsoleProgress(context.Err, log.Describe), context.CancellationToken, slot));

        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new KdTrainJson(CliJson.Round(result.Top1), result.BaselineTop1 is { } b ? CliJson.Round(b) : null,
                CliJson.Round(result.Seconds, 1), CliJson.Round(result.TeacherSeconds, 1), CliJson.Round(result.DistillationSeconds, 1),
                result.BaselineSeconds is { } s ? CliJson.Round(s, 1) : null, result.Objective, result.Epochs, result.Seed, result.TrainingImages,
                result.CheckpointFile!, result.WeightsHash));
        }
        else
        {
            var against = result.BaselineTop1 is { } baseline ? string.Create(CultureInfo.InvariantCulture, $", baseline {baseline:P2}") : "";
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{result.StudentArchitecture} distilled ({result.Objective}): test top-1 {result.Top1:P2}{against}; {result.Seconds:F0} s in all; saved to {result.CheckpointFile}"));
        }
        return CliApp.Success;
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
            if (finished.Run == DistillationRun.Distilled) EpochsSaved = epoch.Epoch;
            var run = finished.Run == DistillationRun.Distilled ? "distilled" : "baseline";
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{run} epoch {epoch.Epoch}/{finished.Epochs}: train loss {epoch.TrainLoss:F4}, validation top-1 {epoch.ValidationTop1:P2} ({epoch.Seconds:F1} s)");
        }
    }
}

/// <summary><c>kd train --json</c>; seconds of wall-clock time (teacher: its forward passes, once per training set).</summary>
internal sealed record KdTrainJson(double Top1, double? BaselineTop1, double Seconds, double TeacherSeconds, double DistillationSeconds, double? BaselineSeconds,
    string Objective, int Epochs, int Seed, int TrainingImages, string Out, string WeightsHash);
