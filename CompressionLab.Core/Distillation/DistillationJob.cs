using System.Diagnostics;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using static TorchSharp.torch;

namespace CompressionLab.Core.Distillation;

/// <summary>A student trained from scratch with distillation from one teacher or an ensemble, and its honest baseline.</summary>
/// <param name="StudentArchitecture">A zoo architecture, trained from its seeded initial weights.</param>
/// <param name="Dataset">Null: the first teacher's dataset.</param>
/// <param name="Epochs">Null: the student architecture's default.</param>
/// <param name="Baseline">
/// Also train the same student without distillation: same initial weights, batch order, flips and epochs (the same seed
/// drives all of them), so the difference is the teacher's alone.
/// </param>
/// <param name="TrainingImages">Train on a class-stratified subset of this many images (quick runs); null: all.</param>
/// <param name="OutputFile">Null: the student goes into the workspace; a path: a checkpoint written there.</param>
/// <param name="StudentStart">
/// Start the student (and its baseline) from this model's weights instead of the architecture's seeded initial weights;
/// its architecture must be <paramref name="StudentArchitecture"/>. Null: from scratch.
/// </param>
public sealed record DistillationRequest(
    IReadOnlyList<ModelSource> Teachers,
    string StudentArchitecture,
    DistillationSettings Objective,
    string? Dataset = null,
    int? Epochs = null,
    int Seed = 1,
    bool Baseline = true,
    int? TrainingImages = null,
    string? DisplayName = null,
    string? OutputFile = null,
    ModelSource? StudentStart = null)
{
    /// <summary>A model source's own check, its complaint reported against this request's <paramref name="setting"/> (a teacher, the student).</summary>
    private static void Renamed(string setting, Action validate)
    {
        try
        {
            validate();
        }
        catch (InvalidRequestException e) when (e.Setting == ModelSource.Setting)
        {
            throw new InvalidRequestException(setting, e.Message, e);
        }
    }

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Teachers is null || Teachers.Count == 0) throw new InvalidRequestException(nameof(Teachers), "Choose at least one teacher.");
        foreach (var teacher in Teachers)
        {
            if (teacher is null) throw new InvalidRequestException(nameof(Teachers), "A teacher is missing.");
            Renamed(nameof(Teachers), teacher.Validate);
        }
        if (!ModelZoo.Architectures.Contains(StudentArchitecture))
            throw new InvalidRequestException(nameof(StudentArchitecture), $"Unknown architecture '{StudentArchitecture}'. Known: {string.Join(", ", ModelZoo.Architectures)}.");
        if (Objective is null) throw new InvalidRequestException(nameof(Objective), "Choose an objective.");
        Objective.Validate();
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset.");
        if (Epochs is < 1 or > TrainingRequest.MaxEpochs)
            throw new InvalidRequestException(nameof(Epochs), $"Epochs must be between 1 and {TrainingRequest.MaxEpochs} (got {Epochs}).");
        if (Seed < 0) throw new InvalidRequestException(nameof(Seed), $"The seed must be zero or positive (got {Seed}).");
        if (TrainingImages is < 2) throw new InvalidRequestException(nameof(TrainingImages), $"Training images must be at least 2, or all (got {TrainingImages}).");
        if (OutputFile is not null && string.IsNullOrWhiteSpace(OutputFile)) throw new InvalidRequestException(nameof(OutputFile), "Choose a file to write the checkpoint to.");
        if (StudentStart is not null) Renamed(nameof(StudentStart), StudentStart.Validate);
    }

    /// <summary>The student architecture's defaults with this request's epochs and seed (the baseline trains with the same).</summary>
    public TrainingSettings Settings()
    {
        var defaults = TrainingSettings.ForArchitecture(StudentArchitecture);
        return defaults with { Epochs = Epochs ?? defaults.Epochs, Seed = Seed };
    }
}

/// <summary>Which run an epoch belongs to: the distilled student or its baseline.</summary>
public enum DistillationRun { Distilled, Baseline }

/// <summary>A partial result: one finished epoch of the distilled student or of the baseline (validation top-1 and loss).</summary>
public sealed record DistillationEpochFinished(DistillationRun Run, EpochSummary Epoch, int Epochs) : JobPartial;

/// <summary>What a distillation job produced (its JSON result). Fractions; seconds of wall-clock time.</summary>
/// <param name="BaselineTop1">The same student trained without a teacher; null when no baseline was asked for.</param>
/// <param name="TeacherSeconds">Time of the teachers' forward passes: once per training set (and its mirror images), not per step.</param>
public sealed record DistillationJobResult(
    Guid? ModelId,
    string DisplayName,
    string StudentArchitecture,
    string Dataset,
    IReadOnlyList<string> TeacherHashes,
    string Objective,
    double Top1,
    double? BaselineTop1,
    IReadOnlyList<EpochSummary> History,
    IReadOnlyList<EpochSummary>? BaselineHistory,
    int Epochs,
    int Seed,
    int TrainingImages,
    double TeacherSeconds,
    double DistillationSeconds,
    double? BaselineSeconds,
    double Seconds,
    string? CheckpointFile,
    string WeightsHash,
    int ResumedFromEpoch = 0);

/// <summary>
/// Distillation as one job body (dashboard and <c>kd train</c>): the teachers' targets for every training image and its
/// mirror, computed once; the student trained against them (resumable: state after every epoch, the objective's identity
/// in it); then, when asked, the same student trained without a teacher under the same seed; both measured on the full
/// test split. The student is stored with lineage naming its teachers and objective.
/// </summary>
public static class DistillationJob
{
    public const string Kind = "distill";

    public static string Title(DistillationRequest request) =>
        $"Distil {request.StudentArchitecture} ({DistillationSettings.Name(request.Objective.Loss)}, T={request.Objective.Temperature.ToString(CultureInfo.InvariantCulture)})";

    /// <summary>
    /// The student at its start: the architecture's seeded initial weights, or a copy of the start model's (checked to be
    /// of the request's architecture and to take the images). The global seed is set either way, for dropout.
    /// </summary>
    private static ClassifierNetwork NewStudent(DistillationRequest request, ResolvedModel? start, Dataset dataset, LabeledImages train, TrainingSettings settings)
    {
        manual_seed(settings.Seed);
        if (start is null) return ModelZoo.Create(request.StudentArchitecture, dataset.Train.ClassCount, dataset.Train.Height, dataset.Train.Width);
        var checkpoint = start.Load(train, dataset.Name, "distilled into");
        if (checkpoint.Model.Architecture != request.StudentArchitecture)
        {
            checkpoint.Dispose();
            throw new InvalidRequestException(nameof(DistillationRequest.StudentStart),
                $"{start.DisplayName} is a {checkpoint.Model.Architecture}, not the student architecture {request.StudentArchitecture}.");
        }
        return checkpoint.Model;
    }

    public static DistillationJobResult Run(
        DistillationRequest request,
        DatasetCatalog catalog,
        ModelStore? store,
        IJobProgress progress,
        CancellationToken cancellationToken,
        TrainingStateSlot? slot = null)
    {
        TrainedModelOutput.CheckArguments(request, catalog, progress, request.OutputFile, store);
        request.Validate();
        var clock = Stopwatch.StartNew();

        var teachers = request.Teachers.Select(t => t.Resolve(store)).ToArray();
        var dataset = teachers[0].LoadDataset(request.Dataset, catalog, progress);
        var split = TrainingJob.Split(dataset);
        var train = TrainingJob.TrainingImages(split, request.TrainingImages, request.Seed, nameof(DistillationRequest.TrainingImages));
        var settings = request.Settings();
        cancellationToken.ThrowIfCancellationRequested();

        var loaded = new List<Checkpoint>();
        TeacherTargets targets;
        try
        {
            foreach (var teacher in teachers) loaded.Add(teacher.Load(train, dataset.Name, "a teacher"));
            targets = TeacherTargets.Compute([.. loaded.Select(c => c.Model)], train, request.Objective, settings.HorizontalFlip,
                (done, total) => progress.Report(0.02 + (0.06 * done / total),
                    string.Create(CultureInfo.InvariantCulture, $"Teacher targets: pass {done} of {total} over {train.Count:N0} images")),
                cancellationToken);
        }
        finally
        {
            foreach (var checkpoint in loaded) checkpoint.Dispose();
        }
        var hashes = loaded.Select(c => c.Metadata.ContentHash).ToArray();

        using (targets)
        {
            var startHash = request.StudentStart is { } startSource ? Checkpoint.ReadMetadata(startSource.Resolve(store).CheckpointPath).ContentHash : null;
            var objective = new DistillationObjective(request.Objective, targets, hashes, startHash);
            var resume = slot?.TakeOver();
            var resumed = resume is null ? "" : string.Create(CultureInfo.InvariantCulture, $" · resumed after epoch {resume.EpochsDone}/{resume.Epochs}");
            var trainingShare = request.Baseline ? 0.45 : 0.88;

            var start = request.StudentStart?.Resolve(store);
            using var student = NewStudent(request, start, dataset, train, settings);
            resume?.CheckFits(student, TrainingDataIdentity.Of(train), settings, objective);
            var distillClock = Stopwatch.StartNew();
            var distilled = Trainer.Train(student, train, settings, split.Validation, p =>
            {
                progress.Report(0.08 + (p.Fraction * trainingShare), "distilling · " + TrainingJob.Describe(p) + resumed);
                if (p.CompletedEpoch is { } epoch) progress.Publish(new DistillationEpochFinished(DistillationRun.Distilled, epoch, p.Epochs));
            }, cancellationToken, resume, slot is null ? null : state => state.Save(slot.Path), objective, objective);
            var distillSeconds = distillClock.Elapsed.TotalSeconds;

            TrainingResult? baseline = null;
            EvaluationResult? baselineTest = null;
            double? baselineSeconds = null;
            if (request.Baseline)
            {
                var baselineClock = Stopwatch.StartNew();
                // The same seed gives the same initial weights, batch order and flips: only the teacher differs.
                using var scratch = NewStudent(request, start, dataset, train, settings);
                baseline = Trainer.Train(scratch, train, settings, split.Validation, p =>
                {
                    progress.Report(0.08 + trainingShare + (p.Fraction * 0.43), "baseline (no teacher) · " + TrainingJob.Describe(p));
                    if (p.CompletedEpoch is { } epoch) progress.Publish(new DistillationEpochFinished(DistillationRun.Baseline, epoch, p.Epochs));
                }, cancellationToken);
                baselineTest = Evaluator.Evaluate(scratch, dataset.Test, cancellationToken: cancellationToken);
                baselineSeconds = baselineClock.Elapsed.TotalSeconds;
            }

            progress.Report(0.97, string.Create(CultureInfo.InvariantCulture, $"Evaluating on the {dataset.Test.Count:N0} test images"));
            var test = Evaluator.Evaluate(student, dataset.Test, cancellationToken: cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();

            // The parent is the model the student started from, else the (first) teacher; the teachers are listed either way.
            var lineage = start is null
                ? new CheckpointLineage("distill", hashes[0], string.Join(" + ", teachers.Select(t => t.DisplayName)), Epochs: settings.Epochs, Teachers: hashes, Objective: request.Objective.Key)
                : new CheckpointLineage("distill", startHash!, start.DisplayName, Epochs: settings.Epochs, Teachers: hashes, Objective: request.Objective.Key);
            var name = string.IsNullOrWhiteSpace(request.DisplayName)
                ? string.Create(CultureInfo.InvariantCulture, $"{request.StudentArchitecture} · distilled ({DistillationSettings.Name(request.Objective.Loss)}, T={request.Objective.Temperature}) · seed {settings.Seed}")
                : request.DisplayName.Trim();
            Guid? id = null;
            CheckpointMetadata metadata;
            if (request.OutputFile is { } output)
            {
                metadata = Checkpoint.Save(student, output, dataset.Name, dataset.Train.ClassNames, test.Top1, settings, lineage: lineage);
                slot?.Release();
            }
            else
            {
                var (record, saved, _) = TrainedModelOutput.StoreInWorkspace(store!, "distill",
                    file => Checkpoint.Save(student, file, dataset.Name, dataset.Train.ClassNames, test.Top1, settings, lineage: lineage),
                    (meta, elapsed) => new ModelEntry(name, request.StudentArchitecture, dataset.Name, test.Top1, meta.ParameterCount, ModelJobJson.Write(new
                    {
                        source = "distilled",
                        teachers = hashes,
                        teacherNames = teachers.Select(t => t.DisplayName),
                        objective = request.Objective,
                        epochs = settings.Epochs,
                        seed = settings.Seed,
                        trainingImages = train.Count,
                        baselineTop1 = baselineTest?.Top1,
                        top5 = test.Top5,
                        loss = test.Loss,
                        seconds = elapsed,
                        weightsHash = meta.ContentHash,
                        settings,
                    })), slot, clock);
                id = record.Id;
                name = record.DisplayName;
                metadata = saved;
            }
            var against = baselineTest is null ? "" : string.Create(CultureInfo.InvariantCulture, $" (baseline {baselineTest.Top1 * 100:0.00}%)");
            progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"Distilled {name}: test top-1 {test.Top1 * 100:0.00}%{against}{resumed}"));
            return new DistillationJobResult(id, name, request.StudentArchitecture, dataset.Name, hashes, request.Objective.Key, test.Top1, baselineTest?.Top1,
                distilled.History, baseline?.History, settings.Epochs, settings.Seed, train.Count, targets.Seconds, distillSeconds, baselineSeconds,
                clock.Elapsed.TotalSeconds, request.OutputFile is null ? null : Path.GetFullPath(request.OutputFile), metadata.ContentHash, resume?.EpochsDone ?? 0);
        }
    }
}
