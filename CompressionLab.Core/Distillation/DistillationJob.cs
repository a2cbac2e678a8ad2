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
/// <param name="PeerArchitecture">Deep mutual learning: the second student's architecture; null: the student's. Trained from its seeded initial weights.</param>
/// <param name="PeerSeed">Deep mutual learning: the seed of the second student's initial weights; null: <paramref name="Seed"/> + 1.</param>
/// <param name="SavePeer">Deep mutual learning: keep the second student too (the workspace; with <paramref name="OutputFile"/>, to <paramref name="PeerOutputFile"/>).</param>
/// <param name="PeerOutputFile">Deep mutual learning with an output file: where the second student's checkpoint goes.</param>
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
    ModelSource? StudentStart = null,
    string? PeerArchitecture = null,
    int? PeerSeed = null,
    bool SavePeer = false,
    string? PeerOutputFile = null)
{
    /// <summary>Deep mutual learning: a second student instead of a teacher.</summary>
    public bool IsMutual => Objective?.Loss == DistillationLoss.Mutual;

    /// <summary>Deep mutual learning: the second student's architecture.</summary>
    public string ResolvedPeerArchitecture => PeerArchitecture ?? StudentArchitecture;

    /// <summary>Deep mutual learning: the seed of the second student's initial weights.</summary>
    public int ResolvedPeerSeed => PeerSeed ?? (Seed + 1);

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
        if (Objective is null) throw new InvalidRequestException(nameof(Objective), "Choose an objective.");
        if (IsMutual)
        {
            // Refused rather than ignored: a teacher given here would silently play no part in the run.
            if (Teachers is { Count: > 0 })
                throw new InvalidRequestException(nameof(Teachers), "Deep mutual learning has no teacher: the student and its peer teach each other. Leave the teacher out (the peer is the student's architecture, or PeerArchitecture).");
            if (PeerArchitecture is not null && !ModelZoo.Architectures.Contains(PeerArchitecture))
                throw new InvalidRequestException(nameof(PeerArchitecture), $"Unknown architecture '{PeerArchitecture}'. Known: {string.Join(", ", ModelZoo.Architectures)}.");
            if (PeerSeed < 0) throw new InvalidRequestException(nameof(PeerSeed), $"The peer's seed must be zero or positive (got {PeerSeed}).");
            if (Dataset is null && StudentStart is null) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset: mutual learning has no teacher to take it from.");
            if (PeerOutputFile is not null && (string.IsNullOrWhiteSpace(PeerOutputFile) || OutputFile is null))
                throw new InvalidRequestException(nameof(PeerOutputFile), "A file for the peer goes with a file for the student; in the workspace, keep the peer with SavePeer.");
            if (SavePeer && OutputFile is not null && PeerOutputFile is null)
                throw new InvalidRequestException(nameof(PeerOutputFile), "Choose a file to write the peer's checkpoint to.");
            if (PeerOutputFile is not null && OutputFile is not null && Path.GetFullPath(PeerOutputFile) == Path.GetFullPath(OutputFile))
                throw new InvalidRequestException(nameof(PeerOutputFile), "The peer and the student need different files.");
        }
        else
        {
            if (Teachers is null || Teachers.Count == 0) throw new InvalidRequestException(nameof(Teachers), "Choose at least one teacher.");
            foreach (var teacher in Teachers)
            {
                if (teacher is null) throw new InvalidRequestException(nameof(Teachers), "A teacher is missing.");
                Renamed(nameof(Teachers), teacher.Validate);
            }
            if (Objective.Loss == DistillationLoss.Hints && Teachers.Count > 1)
                throw new InvalidRequestException(nameof(Teachers), "FitNets hints regress onto one teacher's stage outputs: choose one teacher, not an ensemble.");
            if (PeerArchitecture is not null || PeerSeed is not null || SavePeer || PeerOutputFile is not null)
                throw new InvalidRequestException(nameof(PeerArchitecture), "A peer is for deep mutual learning (objective dml) only.");
        }
        if (!ModelZoo.Architectures.Contains(StudentArchitecture))
            throw new InvalidRequestException(nameof(StudentArchitecture), $"Unknown architecture '{StudentArchitecture}'. Known: {string.Join(", ", ModelZoo.Architectures)}.");
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

/// <summary>Which run an epoch belongs to: the distilled student, its baseline, or FitNets' hint phase before the distillation.</summary>
public enum DistillationRun { Distilled, Baseline, HintPhase }

/// <summary>A partial result: one finished epoch of the distilled student or of the baseline (validation top-1 and loss).</summary>
public sealed record DistillationEpochFinished(DistillationRun Run, EpochSummary Epoch, int Epochs) : JobPartial;

/// <summary>What a distillation job produced (its JSON result). Fractions; seconds of wall-clock time.</summary>
/// <param name="BaselineTop1">The same student trained without a teacher; null when no baseline was asked for.</param>
/// <param name="TeacherSeconds">
/// Time of the teachers' soft-target tables: once per training set (and its mirror images), not per step. FitNets hints
/// also run the teacher to its last hinted stage every step; that time is in <see cref="DistillationSeconds"/>.
/// </param>
/// <param name="HintHistory">FitNets' first phase: its epochs (hint loss as the train loss).</param>
/// <param name="PeerTop1">Deep mutual learning: the second student's test top-1.</param>
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
    int ResumedFromEpoch = 0,
    IReadOnlyList<EpochSummary>? HintHistory = null,
    string? PeerArchitecture = null,
    double? PeerTop1 = null,
    Guid? PeerModelId = null,
    string? PeerCheckpointFile = null);

/// <summary>
/// Distillation as one job body (dashboard and <c>kd train</c>): the teachers' targets for every training image and its
/// mirror, computed once; the student trained against them (resumable: state after every epoch, the objective's identity
/// in it); then, when asked, the same student trained without a teacher under the same seed; both measured on the full
/// test split. The student is stored with lineage naming its teachers and objective.
/// </summary>
public static class DistillationJob
{
    public const string Kind = "distill";

    public static string Title(DistillationRequest request) => request.IsMutual
        ? $"Mutual learning {request.StudentArchitecture} ⇄ {request.ResolvedPeerArchitecture} (T={request.Objective.Temperature.ToString(CultureInfo.InvariantCulture)})"
        : $"Distil {request.StudentArchitecture} ({DistillationSettings.Name(request.Objective.Loss)}, T={request.Objective.Temperature.ToString(CultureInfo.InvariantCulture)})";

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

    /// <summary>Deep mutual learning's second student: its architecture's initial weights under its own seed.</summary>
    private static ClassifierNetwork NewPeer(DistillationRequest request, Dataset dataset)
    {
        manual_seed(request.ResolvedPeerSeed);
        return ModelZoo.Create(request.ResolvedPeerArchitecture, dataset.Train.ClassCount, dataset.Train.Height, dataset.Train.Width);
    }

    /// <summary>SHA-256 of the weights in TorchSharp's format, as <see cref="CheckpointMetadata.ContentHash"/> records it.</summary>
    private static string WeightsHash(ClassifierNetwork model)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true)) model.save(writer);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(buffer.ToArray()));
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
        var objectiveSettings = request.Objective;
        var mutual = request.IsMutual;
        var hints = objectiveSettings.Loss == DistillationLoss.Hints;

        var teachers = request.Teachers.Select(t => t.Resolve(store)).ToArray();
        var start = request.StudentStart?.Resolve(store);
        Dataset dataset;
        if (teachers.Length > 0) dataset = teachers[0].LoadDataset(request.Dataset, catalog, progress);
        else if (start is not null) dataset = start.LoadDataset(request.Dataset, catalog, progress);
        else
        {
            progress.Report(0, $"Loading {request.Dataset}");
            dataset = catalog.Load(request.Dataset!);
        }
        var split = TrainingJob.Split(dataset);
        var train = TrainingJob.TrainingImages(split, request.TrainingImages, request.Seed, nameof(DistillationRequest.TrainingImages));
        var settings = request.Settings();
        cancellationToken.ThrowIfCancellationRequested();

        var loaded = new List<Checkpoint>();
        TeacherTargets? targets = null;
        try
        {
            foreach (var teacher in teachers) loaded.Add(teacher.Load(train, dataset.Name, "a teacher"));
            if (!mutual)
            {
                targets = TeacherTargets.Compute([.. loaded.Select(c => c.Model)], train, objectiveSettings, settings.HorizontalFlip,
                    (done, total) => progress.Report(0.02 + (0.06 * done / total),
                        string.Create(CultureInfo.InvariantCulture, $"Teacher targets: pass {done} of {total} over {train.Count:N0} images")),
                    cancellationToken);
            }
        }
        catch
        {
            foreach (var checkpoint in loaded) checkpoint.Dispose();
            throw;
        }
        var hashes = loaded.Select(c => c.Metadata.ContentHash).ToArray();
        // FitNets runs its teacher every step (stage maps of the augmented batch); every other objective is done with it here.
        using var hintTeacher = hints ? loaded[0] : null;
        if (!hints)
        {
            foreach (var checkpoint in loaded) checkpoint.Dispose();
        }

        using (targets)
        {
            var startHash = start is null ? null : Checkpoint.ReadMetadata(start.CheckpointPath).ContentHash;
            var resume = slot?.TakeOver();
            var resumed = resume is null ? "" : string.Create(CultureInfo.InvariantCulture, $" · resumed after epoch {resume.EpochsDone}/{resume.Epochs}");
            var trainingShare = request.Baseline ? 0.45 : 0.88;
            var firstPhase = hints && objectiveSettings.Hints == HintMode.FirstPhase;
            var hintEpochs = firstPhase ? objectiveSettings.HintEpochs : 0;
            var data = resume is null ? null : TrainingDataIdentity.Of(train);

            using var student = NewStudent(request, start, dataset, train, settings);
            using var peer = mutual ? NewPeer(request, dataset) : null;
            var distillClock = Stopwatch.StartNew();
            Action<TrainingState>? save = slot is null ? null : state => state.Save(slot.Path);

            // One training run of the student: the hint phase (epochs before the distillation's) or the distillation itself.
            TrainingResult TrainStudent(TrainingSettings runSettings, TrainingState? from, ITrainingObjective objective, ITrainingConstraint identity,
                DistillationRun run, int epochsBefore)
            {
                from?.CheckFits(student, data!, runSettings, identity);
                var allEpochs = hintEpochs + settings.Epochs;
                var label = run == DistillationRun.HintPhase ? "hint phase" : mutual ? "mutual learning" : "distilling";
                return Trainer.Train(student, train, runSettings, split.Validation, p =>
                {
                    var fraction = (epochsBefore + (p.Fraction * runSettings.Epochs)) / allEpochs;
                    progress.Report(0.08 + (fraction * trainingShare), label + " · " + TrainingJob.Describe(p) + resumed);
                    if (p.CompletedEpoch is { } epoch) progress.Publish(new DistillationEpochFinished(run, epoch, p.Epochs));
                }, cancellationToken, from, save, identity, objective);
            }

            TrainingResult distilled;
            TrainingResult? hintPhase = null;
            string? peerIdentity = null;
            if (mutual)
            {
                peerIdentity = string.Create(CultureInfo.InvariantCulture,
                    $"distillation {objectiveSettings.Key} with peer {request.ResolvedPeerArchitecture} seed {request.ResolvedPeerSeed}{(startHash is null ? "" : $" into {startHash}")}");
                var objective = new MutualObjective(objectiveSettings, peer!, peerIdentity);
                distilled = TrainStudent(settings, resume, objective, objective, DistillationRun.Distilled, 0);
                peer!.eval();
            }
            else if (hints && !firstPhase)
            {
                using var objective = new HintObjective(objectiveSettings, hintTeacher!.Model, student, targets, firstPhase: false, hashes[0], startHash);
                distilled = TrainStudent(settings, resume, objective, objective, DistillationRun.Distilled, 0);
            }
            else if (firstPhase)
            {
                using var phase1 = new HintObjective(objectiveSettings, hintTeacher!.Model, student, targets: null, firstPhase: true, hashes[0], startHash);
                var phase2 = new DistillationObjective(objectiveSettings, targets!, hashes, startHash);
                // One state file for both phases: the identity it was saved under says which phase to continue.
                var inHintPhase = resume is not null && resume.Header.Constraint == phase1.Identity;
                if (resume is null || inHintPhase)
                    hintPhase = TrainStudent(settings with { Epochs = hintEpochs }, resume, phase1, phase1, DistillationRun.HintPhase, 0);
                distilled = TrainStudent(settings, inHintPhase ? null : resume, phase2, phase2, DistillationRun.Distilled, hintEpochs);
            }
            else
            {
                var objective = new DistillationObjective(objectiveSettings, targets!, hashes, startHash);
                distilled = TrainStudent(settings, resume, objective, objective, DistillationRun.Distilled, 0);
            }
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
            var peerTest = peer is null ? null : Evaluator.Evaluate(peer, dataset.Test, cancellationToken: cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();

            // Mutual learning's "teacher" is the peer as it ended: named among the teachers, and the parent when the student started from scratch.
            var peerHash = peer is null ? null : WeightsHash(peer);
            var peerLabel = string.Create(CultureInfo.InvariantCulture, $"peer {request.ResolvedPeerArchitecture} (seed {request.ResolvedPeerSeed})");
            IReadOnlyList<string> lineageTeachers = peerHash is null ? hashes : [peerHash];
            // The parent is the model the student started from, else the (first) teacher; the teachers are listed either way.
            var lineage = start is not null
                ? new CheckpointLineage("distill", startHash!, start.DisplayName, Epochs: settings.Epochs, Teachers: lineageTeachers, Objective: objectiveSettings.Key)
                : mutual
                    ? new CheckpointLineage("distill", peerHash!, peerLabel, Epochs: settings.Epochs, Teachers: lineageTeachers, Objective: objectiveSettings.Key)
                    : new CheckpointLineage("distill", hashes[0], string.Join(" + ", teachers.Select(t => t.DisplayName)), Epochs: settings.Epochs, Teachers: hashes, Objective: objectiveSettings.Key);
            var name = string.IsNullOrWhiteSpace(request.DisplayName)
                ? mutual
                    ? string.Create(CultureInfo.InvariantCulture, $"{request.StudentArchitecture} · mutual learning with {request.ResolvedPeerArchitecture} (T={objectiveSettings.Temperature}) · seed {settings.Seed}")
                    : string.Create(CultureInfo.InvariantCulture, $"{request.StudentArchitecture} · distilled ({DistillationSettings.Name(objectiveSettings.Loss)}, T={objectiveSettings.Temperature}) · seed {settings.Seed}")
                : request.DisplayName.Trim();

            // The peer, when kept, first: the student's save releases the run's state, so it comes last.
            Guid? peerId = null;
            string? peerFile = null;
            if (peer is not null && request.SavePeer)
            {
                var studentHash = WeightsHash(student);
                var peerSettings = settings with { Seed = request.ResolvedPeerSeed };
                var peerLineage = new CheckpointLineage("distill", studentHash, name, Epochs: settings.Epochs, Teachers: [studentHash], Objective: objectiveSettings.Key);
                if (request.OutputFile is not null)
                {
                    peerFile = Path.GetFullPath(request.PeerOutputFile!);
                    Checkpoint.Save(peer, peerFile, dataset.Name, dataset.Train.ClassNames, peerTest!.Top1, peerSettings, lineage: peerLineage);
                }
                else
                {
                    var (peerRecord, _, _) = TrainedModelOutput.StoreInWorkspace(store!, "distill-peer",
                        file => Checkpoint.Save(peer, file, dataset.Name, dataset.Train.ClassNames, peerTest!.Top1, peerSettings, lineage: peerLineage),
                        (meta, elapsed) => new ModelEntry(string.Create(CultureInfo.InvariantCulture, $"{request.ResolvedPeerArchitecture} · mutual-learning peer of {name} · seed {request.ResolvedPeerSeed}"),
                            request.ResolvedPeerArchitecture, dataset.Name, peerTest!.Top1, meta.ParameterCount, ModelJobJson.Write(new
                            {
                                source = "mutual-learning peer",
                                objective = objectiveSettings,
                                epochs = settings.Epochs,
                                seed = request.ResolvedPeerSeed,
                                trainingImages = train.Count,
                                top5 = peerTest.Top5,
                                loss = peerTest.Loss,
                                seconds = elapsed,
                                weightsHash = meta.ContentHash,
                                settings = peerSettings,
                            })), slot: null, clock);
                    peerId = peerRecord.Id;
                }
            }

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
                        teachers = lineageTeachers,
                        teacherNames = mutual ? [peerLabel] : teachers.Select(t => t.DisplayName),
                        startedFrom = start?.DisplayName, // null: the architecture's seeded initial weights
                        objective = objectiveSettings,
                        epochs = settings.Epochs,
                        hintEpochs = firstPhase ? hintEpochs : (int?)null,
                        seed = settings.Seed,
                        trainingImages = train.Count,
                        baselineTop1 = baselineTest?.Top1,
                        peerTop1 = peerTest?.Top1,
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
            var withPeer = peerTest is null ? "" : string.Create(CultureInfo.InvariantCulture, $", peer {peerTest.Top1 * 100:0.00}%");
            progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"{(mutual ? "Trained" : "Distilled")} {name}: test top-1 {test.Top1 * 100:0.00}%{withPeer}{against}{resumed}"));
            return new DistillationJobResult(id, name, request.StudentArchitecture, dataset.Name, lineageTeachers, objectiveSettings.Key, test.Top1, baselineTest?.Top1,
                distilled.History, baseline?.History, settings.Epochs, settings.Seed, train.Count, targets?.Seconds ?? 0, distillSeconds, baselineSeconds,
                clock.Elapsed.TotalSeconds, request.OutputFile is null ? null : Path.GetFullPath(request.OutputFile), metadata.ContentHash, resume?.EpochsDone ?? 0,
                hintPhase?.History, mutual ? request.ResolvedPeerArchitecture : null, peerTest?.Top1, peerId, peerFile);
        }
    }
}
