using System.Diagnostics;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>What to train: a zoo architecture from scratch on a catalog dataset, and where the model goes.</summary>
/// <param name="Epochs">Null: the architecture's default (<see cref="TrainingSettings.ForArchitecture"/>).</param>
/// <param name="TrainingImages">
/// Train on a class-stratified subset of this many images of the train part (quick runs); null: all of it.
/// </param>
/// <param name="DisplayName">What the model is called in the workspace; null: derived from the settings.</param>
/// <param name="OutputFile">
/// Where the model goes: null, into the workspace's model store (the dashboard); a path, a checkpoint file written there
/// and nothing stored (the CLI's <c>--out FILE</c>).
/// </param>
public sealed record TrainingRequest(
    string Architecture,
    string Dataset,
    int? Epochs = null,
    int Seed = 1,
    int? TrainingImages = null,
    string? DisplayName = null,
    string? OutputFile = null)
{
    public const int MaxEpochs = 1000;

    /// <summary>The job list's title.</summary>
    public string Title => $"Train {Architecture} on {Dataset}";

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (!ModelZoo.Architectures.Contains(Architecture))
            throw new InvalidRequestException(nameof(Architecture), $"Unknown architecture '{Architecture}'. Known: {string.Join(", ", ModelZoo.Architectures)}.");
        if (string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to train on.");
        if (Epochs is < 1 or > MaxEpochs) throw new InvalidRequestException(nameof(Epochs), $"Epochs must be between 1 and {MaxEpochs} (got {Epochs}).");
        if (Seed < 0) throw new InvalidRequestException(nameof(Seed), $"The seed must be zero or positive (got {Seed}).");
        if (TrainingImages is < 2) throw new InvalidRequestException(nameof(TrainingImages), $"Training images must be at least 2, or all (got {TrainingImages}).");
        if (OutputFile is not null && string.IsNullOrWhiteSpace(OutputFile)) throw new InvalidRequestException(nameof(OutputFile), "Choose a file to write the checkpoint to.");
    }

    /// <summary>The architecture's defaults with this request's epochs and seed.</summary>
    public TrainingSettings Settings()
    {
        var defaults = TrainingSettings.ForArchitecture(Architecture);
        return defaults with { Epochs = Epochs ?? defaults.Epochs, Seed = Seed };
    }

    /// <summary>The name the model gets when none was given, e.g. "vgg-tiny · 10 epochs · seed 1" (plus the image count of a quick run).</summary>
    public string ResolvedDisplayName(int trainingImages)
    {
        if (!string.IsNullOrWhiteSpace(DisplayName)) return DisplayName.Trim();
        var epochs = Settings().Epochs;
        var images = TrainingImages is null ? "" : string.Create(CultureInfo.InvariantCulture, $" · {trainingImages:N0} images");
        return string.Create(CultureInfo.InvariantCulture, $"{Architecture} · {epochs} epoch{(epochs == 1 ? "" : "s")}{images} · seed {Seed}");
    }
}

/// <summary>What a finished training job stored or wrote (its JSON result).</summary>
/// <param name="ModelId">The stored model; null when the checkpoint went to <see cref="CheckpointFile"/>.</param>
/// <param name="Top1">Top-1 fraction (0..1) on the full test split.</param>
/// <param name="Seconds">
/// Wall-clock time of the job body: loading the dataset unless the catalog holds it already (the CLI loads it before, to
/// name <c>--dataset</c> in errors, so on the CLI it is not counted), building the model, training, test evaluation, saving.
/// </param>
/// <param name="CheckpointFile">The file the checkpoint was written to, when the request named one.</param>
/// <param name="WeightsHash">SHA-256 of the weights (<see cref="CheckpointMetadata.ContentHash"/>): equal for equal weights.</param>
/// <param name="ResumedFromEpoch">The epochs a saved state had finished when this job continued it; 0 for a new run.</param>
public sealed record TrainingJobResult(
    Guid? ModelId,
    string DisplayName,
    string Architecture,
    string Dataset,
    double Top1,
    double Top5,
    double Loss,
    int Epochs,
    int TrainingImages,
    long ParameterCount,
    double Seconds,
    string? CheckpointFile = null,
    string? WeightsHash = null,
    int ResumedFromEpoch = 0);

/// <summary>A partial result of a training job: one finished epoch (with its validation metrics when there is a validation set).</summary>
/// <param name="Epochs">How many epochs the run has in all.</param>
public sealed record TrainingEpochFinished(EpochSummary Epoch, int Epochs) : JobPartial;

/// <summary>
/// The plan of a training job, published once its data is loaded and any saved state it continues is checked to fit,
/// before the first batch.
/// </summary>
/// <param name="EpochsDone">Epochs a saved state had finished (this run continues with the next); 0 for a new run.</param>
/// <param name="StatePath">Where the run's state is saved after every epoch; null when nothing is saved before the end.</param>
/// <param name="ResumedFrom">The saved state this run continues; null for a new run.</param>
public sealed record TrainingStarted(
    string Architecture, string Dataset, int TrainingImages, long ParameterCount, TrainingSettings Settings, int EpochsDone,
    string? StatePath, string? ResumedFrom) : JobPartial;

/// <summary>
/// Trains a zoo model on a catalog dataset as a job: the train part (the official train images minus the
/// validation hold-out of <see cref="Split"/>, or a stratified subset of it) with validation after every
/// epoch, then top-1 on the full test split, then the checkpoint goes into the workspace's model store or to the
/// request's file. A cancelled or failed run stores nothing. Given a <see cref="TrainingStateSlot"/>, the run's state is
/// saved after every epoch so that an interrupted run can be resumed (<see cref="ModelJobs.ResumeTraining"/>, the CLI's
/// <c>train --resume</c>) and dropped once the model is safe.
/// </summary>
public static class TrainingJob
{
    public const string Kind = "train";

    /// <summary>Share of the progress bar the training loop fills; evaluation and saving take the rest.</summary>
    private const double TrainingShare = 0.96;

    /// <param name="states">
    /// Where the job saves its state after every epoch (named by its own id); null: nothing is saved before the end.
    /// </param>
    /// <param name="resumesJob">An interrupted job whose saved state this job takes over and continues (needs <paramref name="states"/>).</param>
    public static JobWork Create(TrainingRequest request, DatasetCatalog catalog, ModelStore store, TrainingStateStore? states = null,
        Guid? resumesJob = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        if (resumesJob is not null && states is null) throw new ArgumentException("Resuming a training needs the store of training states.", nameof(states));
        request.Validate();
        return (job, cancellationToken) => Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, job.Progress, cancellationToken,
            states is null ? null : TrainingStateSlot.InWorkspace(states, job.Id, resumesJob))));
    }

    /// <summary>
    /// The split every model job uses: <see cref="DatasetSplits.DefaultValidationSize"/> validation images when the
    /// train part has at least twice that many, else a fifth of it (a small configured synthetic set).
    /// </summary>
    public static DatasetSplit Split(Dataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        return DatasetSplits.Create(dataset, ValidationSize(dataset.Train.Count));
    }

    /// <summary>How many of <paramref name="officialTrainCount"/> images <see cref="Split"/> holds out for validation.</summary>
    public static int ValidationSize(int officialTrainCount) =>
        officialTrainCount >= 2 * DatasetSplits.DefaultValidationSize ? DatasetSplits.DefaultValidationSize : officialTrainCount / 5;

    /// <summary>The images a request trains on (all of the split's train part, or its stratified subset).</summary>
    public static LabeledImages TrainingImages(TrainingRequest request, DatasetSplit split)
    {
        ArgumentNullException.ThrowIfNull(request);
        return TrainingImages(split, request.TrainingImages, request.Seed, nameof(TrainingRequest.TrainingImages));
    }

    /// <summary>
    /// All of the split's train part (<paramref name="wanted"/> null), or its class-stratified subset of that many images drawn
    /// with <paramref name="seed"/>: the one rule of "N training images" for every job that trains (a quick run means the
    /// same wherever it starts). Too many is the request's <paramref name="setting"/> at fault.
    /// </summary>
    public static LabeledImages TrainingImages(DatasetSplit split, int? wanted, int seed, string setting)
    {
        ArgumentNullException.ThrowIfNull(split);
        if (wanted is not int count) return split.Train;
        if (count > split.Train.Count)
            throw new InvalidRequestException(setting, string.Create(CultureInfo.InvariantCulture,
                $"Training images: {count:N0} asked, but the train part of {split.DatasetName} has {split.Train.Count:N0} " +
                $"(its official train images minus {split.Validation.Count:N0} held out for validation)."));
        return StratifiedSubset.Take(split.Train, count, seed);
    }

    /// <param name="store">The workspace's models; needed unless the request writes a file.</param>
    /// <param name="slot">Where to save the state after every epoch, and what to resume; null: nothing is saved before the end.</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the dataset (training images), or there is no state to resume.</exception>
    /// <exception cref="TrainingStateException">The state to resume is damaged or from another run (the message says what differs).</exception>
    public static TrainingJobResult Run(
        TrainingRequest request,
        DatasetCatalog catalog,
        ModelStore? store,
        IJobProgress progress,
        CancellationToken cancellationToken,
        TrainingStateSlot? slot = null)
    {
        TrainedModelOutput.CheckArguments(request, catalog, progress, request.OutputFile, store);
        request.Validate();
        var clock = Stopwatch.StartNew();

        progress.Report(0, $"Loading {request.Dataset}");
        var dataset = catalog.Load(request.Dataset);
        var split = Split(dataset);
        var train = TrainingImages(request, split);
        var settings = request.Settings();
        cancellationToken.ThrowIfCancellationRequested();

        // Taken over only now, so that a dataset that fails to load leaves the saved epochs where they were.
        var resume = slot?.TakeOver();
        var resumed = resume is null ? "" : string.Create(CultureInfo.InvariantCulture, $" · resumed after epoch {resume.EpochsDone}/{resume.Epochs}");
        // This job's own share of the run: the bar starts at 0 and the scheduler's ETA follows this job's pace.
        var before = resume is null ? 0 : (double)resume.EpochsDone / resume.Epochs;

        progress.Report(0, $"Building {request.Architecture}{resumed}");
        manual_seed(settings.Seed); // the initial weights, so the same request gives the same model
        using var model = ModelZoo.Create(request.Architecture, dataset.Train.ClassCount, dataset.Train.Height, dataset.Train.Width);
        // Checked before the plan is announced, so a state of another run is refused before anything trains.
        resume?.CheckFits(model, TrainingDataIdentity.Of(train), settings);
        progress.Publish(new TrainingStarted(request.Architecture, dataset.Name, train.Count, model.ParameterCount, settings,
            resume?.EpochsDone ?? 0, slot?.Path, slot?.ResumesFrom));
        Trainer.Train(model, train, settings, split.Validation, p =>
        {
            progress.Report((p.Fraction - before) / (1 - before) * TrainingShare, Describe(p) + resumed);
            if (p.CompletedEpoch is { } epoch) progress.Publish(new TrainingEpochFinished(epoch, p.Epochs));
        }, cancellationToken, resume, slot is null ? null : state => state.Save(slot.Path));

        progress.Report(TrainingShare, string.Create(CultureInfo.InvariantCulture, $"Evaluating on the {dataset.Test.Count:N0} test images"));
        var test = Evaluator.Evaluate(model, dataset.Test, cancellationToken: cancellationToken);
        // The last moment a cancel is honoured: from here on the model is stored whole or not at all.
        cancellationToken.ThrowIfCancellationRequested();

        var name = request.ResolvedDisplayName(train.Count);
        var resumedFrom = resume?.EpochsDone ?? 0;
        if (request.OutputFile is { } output)
        {
            progress.Report(0.99, $"Writing the checkpoint to {output}");
            // Written beside the target and renamed: a reader never sees half a checkpoint.
            var written = Checkpoint.Save(model, output, dataset.Name, dataset.Train.ClassNames, test.Top1, settings);
            slot?.Release();
            progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"Wrote {output}: test top-1 {test.Top1 * 100:0.00}%{resumed}"));
            return new TrainingJobResult(null, name, request.Architecture, dataset.Name, test.Top1, test.Top5, test.Loss, settings.Epochs, train.Count,
                written.ParameterCount, clock.Elapsed.TotalSeconds, Path.GetFullPath(output), written.ContentHash, resumedFrom);
        }

        progress.Report(0.99, "Saving the checkpoint into the workspace");
        var (record, metadata, seconds) = TrainedModelOutput.StoreInWorkspace(store!, "training",
            file => Checkpoint.Save(model, file, dataset.Name, dataset.Train.ClassNames, test.Top1, settings),
            (saved, elapsed) => new ModelEntry(name, request.Architecture, dataset.Name, test.Top1, saved.ParameterCount, ModelJobJson.Write(new
            {
                source = "trained",
                epochs = settings.Epochs,
                seed = settings.Seed,
                trainingImages = train.Count,
                top5 = test.Top5,
                loss = test.Loss,
                seconds = elapsed,
                weightsHash = saved.ContentHash,
                resumedFromEpoch = resume?.EpochsDone,
                settings,
            })), slot, clock);
        // The job list shows the last message: say what was stored, not the step before it.
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Stored \"{record.DisplayName}\": test top-1 {test.Top1 * 100:0.00}%{resumed}"));
        return new TrainingJobResult(record.Id, record.DisplayName, record.Architecture, record.Dataset, test.Top1, test.Top5, test.Loss,
            settings.Epochs, train.Count, metadata.ParameterCount, seconds, null, metadata.ContentHash, resumedFrom);
    }

    /// <summary>"epoch 2/6 · batch 120/430 · loss 0.412 · acc 85.1%", and the validation top-1 when an epoch ends.</summary>
    public static string Describe(TrainingProgress p)
    {
        ArgumentNullException.ThrowIfNull(p);
        var line = string.Create(CultureInfo.InvariantCulture,
            $"epoch {p.Epoch}/{p.Epochs} · batch {p.Batch}/{p.BatchesPerEpoch} · loss {p.Loss:0.000} · acc {p.Accuracy * 100:0.0}%");
        return p.CompletedEpoch?.ValidationTop1 is double top1
            ? line + string.Create(CultureInfo.InvariantCulture, $" · validation {top1 * 100:0.0}%")
            : line;
    }
}
