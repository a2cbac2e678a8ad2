using System.Diagnostics;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>train --arch NAME --dataset NAME [--epochs N] [--seed S] [--limit N] --out FILE [--resume] [--json]</c>: trains a zoo
/// model from scratch on the train part (the official train images minus the validation hold-out; with --limit the
/// dashboard's class-stratified subset of it), reports validation accuracy per epoch, measures top-1 on the full test
/// split, saves a checkpoint. After every epoch the run's state goes to <c>FILE.resume</c> (deleted once the checkpoint
/// is saved); the same command with <c>--resume</c> continues a run that stopped, to the weights an uninterrupted run gives.
/// </summary>
public sealed class TrainCommand : ICliCommand
{
    public string Name => "train";
    public string Summary => "train a zoo model from scratch and save a checkpoint";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("arch", $"architecture: {string.Join(", ", ModelZoo.Architectures)}", Required: true, ValueName: "NAME"),
        new("dataset", "dataset name (see 'datasets')", Required: true, ValueName: "NAME"),
        new("epochs", "epochs (default per architecture)", ValueName: "N"),
        new("seed", "seed for weights, shuffling, flips, dropout (default 1)", ValueName: "S"),
        new("limit", "train on a class-stratified subset of N images drawn with --seed, as the dashboard does (quick runs)", ValueName: "N"),
        new("out", "checkpoint file to write; FILE.resume holds the run after every epoch until it succeeds", Required: true, ValueName: "FILE"),
        new("resume", "continue the run saved in FILE.resume (same options as the run that stopped)", IsFlag: true),
        new("json", "print one JSON object as the last line", IsFlag: true),
    ];

    public int Run(ParsedOptions options, CliContext context)
    {
        var clock = Stopwatch.StartNew();
        var arch = options.RequiredString("arch");
        if (!ModelZoo.Architectures.Contains(arch))
            throw new UsageException("--arch", $"unknown architecture '{arch}' (known: {string.Join(", ", ModelZoo.Architectures)})");
        var defaults = TrainingSettings.ForArchitecture(arch);
        var settings = defaults with
        {
            Epochs = options.Int("epochs", 1, 1000) ?? defaults.Epochs,
            Seed = options.Int("seed", 0, int.MaxValue) ?? defaults.Seed,
        };
        var limit = options.Int("limit", 2, int.MaxValue);
        var output = OutputPath(options.RequiredString("out"));
        var resumePath = output + ".resume";
        var resume = options.Flag("resume") ? ResumeState(resumePath) : null;
        var dataset = DatasetSource.Load(context, options.RequiredString("dataset"));
        var split = TrainingJob.Split(dataset);
        var (train, validation) = (TrainingImages(arch, split, limit, settings.Seed), split.Validation);

        TorchRuntime.Configure();
        manual_seed(settings.Seed);
        using var model = ModelZoo.Create(arch, dataset.Train.ClassCount, dataset.Train.Height, dataset.Train.Width);
        resume?.CheckFits(model, TrainingDataIdentity.Of(train), settings); // before any progress line: a mismatch is one line
        var log = context.Err;
        log.WriteLine($"training {arch} ({model.ParameterCount:N0} parameters) on {train.Count} images of {dataset.Name} for {settings.Epochs} epochs, seed {settings.Seed}, {get_num_threads()} threads; idle OpenMP threads {TorchRuntime.WaitPolicy}");
        if (resume is not null)
            log.WriteLine($"resuming from {resumePath}: {resume.EpochsDone} of {resume.Epochs} epochs were done");
        else if (File.Exists(resumePath))
            log.WriteLine($"note: {resumePath} holds an earlier run that stopped; this run starts afresh and replaces it (add --resume to continue that run instead)");
        log.WriteLine($"after every epoch the run is saved to {resumePath}; should it stop, run the same command with --resume to continue");
        var saved = resume?.EpochsDone ?? 0;
        TrainingResult training;
        try
        {
            training = Trainer.Train(model, train, settings, validation, p => Report(log, p), context.CancellationToken,
                resume, state =>
                {
                    state.Save(resumePath);
                    saved = state.EpochsDone;
                });
        }
        catch (OperationCanceledException) when (saved > 0)
        {
            log.WriteLine($"{saved} of {settings.Epochs} epochs are saved in {resumePath}; run the same command with --resume to continue");
            throw;
        }

        var test = Evaluator.Evaluate(model, dataset.Test, cancellationToken: context.CancellationToken);
        var metadata = Checkpoint.Save(model, output, dataset.Name, dataset.Train.ClassNames, test.Top1, settings);
        File.Delete(resumePath);
        var seconds = clock.Elapsed.TotalSeconds;
        log.WriteLine($"test top-1 {test.Top1:P2}, top-5 {test.Top5:P2}, loss {test.Loss:F4}; training {training.Seconds:F0} s{(resume is null ? "" : " over all runs")}, this run {seconds:F0} s in all");

        if (options.Flag("json"))
        {
            CliJson.WriteLine(context.Out, new Dictionary<string, object>
            {
                ["arch"] = arch,
                ["dataset"] = dataset.Name,
                ["epochs"] = training.EpochsRun,
                ["resumedFromEpoch"] = resume?.EpochsDone ?? 0,
                ["top1"] = CliJson.Round(test.Top1),
                ["seconds"] = CliJson.Round(seconds, 1),
                ["out"] = output,
                ["contentHash"] = metadata.ContentHash,
            });
        }
        else
        {
            context.Out.WriteLine($"{arch}: test top-1 {test.Top1:P2} in {seconds:F0} s, saved to {output}");
        }
        return CliApp.Success;
    }

    /// <summary>The state <c>--resume</c> continues; a damaged or mismatched one is reported (naming the file) before anything trains.</summary>
    private static TrainingState ResumeState(string path)
    {
        if (!File.Exists(path))
            throw new UsageException("--resume", $"{path} not found: there is no stopped run to continue (run without --resume to start one)");
        return TrainingState.Load(path);
    }

    /// <summary>
    /// What <c>train</c> trains on: the train part, or with <c>--limit N</c> the class-stratified subset seeded by
    /// <c>--seed</c> that the dashboard's training job takes for N training images, so the same N and seed train on the same images.
    /// </summary>
    public static LabeledImages TrainingImages(string arch, DatasetSplit split, int? limit, int seed)
    {
        ArgumentNullException.ThrowIfNull(split);
        try
        {
            return TrainingJob.TrainingImages(new TrainingRequest(arch, split.DatasetName, Seed: seed, TrainingImages: limit), split);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--limit", e.Message);
        }
    }

    /// <summary>Checked before the data is loaded so a long run cannot end in an unwritable path.</summary>
    private static string OutputPath(string path) => WritableOutput.File("--out", path);

    private static void Report(TextWriter log, TrainingProgress p)
    {
        if (p.CompletedEpoch is { } epoch)
        {
            var validation = epoch.ValidationTop1 is double top1 ? $", validation top-1 {top1:P2} loss {epoch.ValidationLoss:F4}" : "";
            log.WriteLine($"epoch {epoch.Epoch}/{p.Epochs}: train loss {epoch.TrainLoss:F4} accuracy {epoch.TrainAccuracy:P2}{validation} ({epoch.Seconds:F1} s)");
        }
        else if (p.Batch % 50 == 0)
        {
            log.WriteLine($"epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.BatchesPerEpoch}: loss {p.Loss:F4} accuracy {p.Accuracy:P1} lr {p.LearningRate:0.###e0} eta {Format(p.Eta)}");
        }
    }

    private static string Format(TimeSpan? eta) =>
        eta is { } t ? (t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss")) : "?";
}
