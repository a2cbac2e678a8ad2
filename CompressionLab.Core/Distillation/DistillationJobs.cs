using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Distillation;

/// <summary>One model of a finished comparison: its name and the weights hash its logits are cached by.</summary>
public sealed record ComparedModel(string Name, string WeightsHash);

/// <summary>
/// A soft-target comparison job's result (its JSON): which logits, on which images. The comparison itself is rebuilt
/// from the workspace's cached logits (<see cref="DistillationJobs.Open"/>), so the result stays small.
/// </summary>
public sealed record SoftTargetJobResult(
    IReadOnlyList<ComparedModel> Teachers,
    ComparedModel Student,
    string Dataset,
    string SubsetKey,
    int Images,
    double Agreement,
    double Seconds)
{
    public static SoftTargetJobResult FromJson(string json) => ModelJobJson.Read<SoftTargetJobResult>(json);
}

/// <summary>A comparison ready to be explored: the rebuilt comparison, the images it is over and the dataset's class names.</summary>
/// <param name="Images">The subset's images in the logits' row order (for showing one image); null when they could not be loaded.</param>
public sealed record OpenComparison(SoftTargetJobResult Summary, SoftTargetComparison Comparison, IReadOnlyList<string> ClassNames, LabeledImages? Images);

/// <summary>
/// Starts the dashboard's distillation jobs: the soft-target comparison (its logits kept in the workspace, so a second
/// look is instant) and distillation training with its baseline (state saved in the workspace after every epoch, so an
/// interrupted run can be resumed).
/// </summary>
public sealed class DistillationJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, LogitsStore logits, TrainingStateStore? states = null)
{
    public const string ComparisonKind = SoftTargetJob.Kind;

    /// <summary>Queues the comparison of <paramref name="request"/>; its result is a <see cref="SoftTargetJobResult"/>.</summary>
    /// <exception cref="ArgumentException">A model is not in the workspace, or the request makes no sense (<see cref="InvalidRequestException"/>).</exception>
    public JobSnapshot StartComparison(SoftTargetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var teachers = request.Teachers.Select(t => t.Resolve(store)).ToArray();
        var student = request.Student.Resolve(store);
        var title = string.Create(CultureInfo.InvariantCulture,
            $"Soft targets: {string.Join(" + ", teachers.Select(t => t.DisplayName))} → {student.DisplayName} ({request.SubsetSize:N0} validation images)");
        return scheduler.Enqueue(SoftTargetJob.Kind, title, ModelJobJson.Write(request), (job, cancellationToken) =>
        {
            var report = SoftTargetJob.Run(request, catalog, store, logits, job.Progress, cancellationToken);
            return Task.FromResult<string?>(ModelJobJson.Write(Summary(report)));
        });
    }

    /// <summary>
    /// The comparison of <paramref name="request"/> straight from the workspace when every model's logits on its subset
    /// are cached (no job needed), else null. Reads each checkpoint's header for its weights hash, and the dataset.
    /// </summary>
    public OpenComparison? FindCached(SoftTargetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var models = request.Teachers.Append(request.Student).Select(m => m.Resolve(store)).ToArray();
        var dataset = catalog.Load(request.Dataset ?? models[^1].Dataset);
        AnalysisSubset subset;
        try
        {
            subset = AnalysisSubset.Validation(dataset, request.SubsetSize);
        }
        catch (ArgumentOutOfRangeException)
        {
            return null; // the job says what is wrong with the size
        }
        var found = new List<ModelLogits>();
        foreach (var model in models)
        {
            var hash = Checkpoint.ReadMetadata(model.CheckpointPath).ContentHash;
            if (logits.Find(hash, dataset.Name, subset.Key) is not { } cached) return null;
            found.Add(cached with { Model = model.DisplayName });
        }
        var comparison = new SoftTargetComparison(found[..^1], found[^1]);
        var summary = new SoftTargetJobResult([.. found[..^1].Select(l => new ComparedModel(l.Model, l.WeightsHash))],
            new ComparedModel(found[^1].Model, found[^1].WeightsHash), dataset.Name, subset.Key, subset.Count, comparison.Agreement, 0);
        return new OpenComparison(summary, comparison, dataset.Test.ClassNames, subset.Images);
    }

    /// <summary>Rebuilds a finished comparison from the workspace's cached logits, with the subset's images.</summary>
    /// <exception cref="InvalidOperationException">A model's logits are no longer in the workspace.</exception>
    public OpenComparison Open(SoftTargetJobResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        ModelLogits Read(ComparedModel model) =>
            (logits.Find(model.WeightsHash, result.Dataset, result.SubsetKey)
                ?? throw new InvalidOperationException($"The logits of {model.Name} on {result.SubsetKey} are no longer in the workspace; compute again.")) with { Model = model.Name };
        var comparison = new SoftTargetComparison([.. result.Teachers.Select(Read)], Read(result.Student));
        IReadOnlyList<string> classNames = [.. Enumerable.Range(0, comparison.Classes).Select(c => c.ToString(CultureInfo.InvariantCulture))];
        LabeledImages? images = null;
        try
        {
            var dataset = catalog.Load(result.Dataset);
            classNames = dataset.Test.ClassNames;
            var subset = AnalysisSubset.Validation(dataset, result.Images);
            // The same rule gives the same images unless the dataset's files changed since (then the key differs).
            if (subset.Key == result.SubsetKey) images = subset.Images;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException)
        {
            // The comparison needs only the logits; without the dataset the page shows no image.
        }
        return new OpenComparison(result, comparison, classNames, images);
    }

    /// <summary>Queues a distillation (and its baseline); its state is saved in the workspace after every epoch.</summary>
    /// <exception cref="ArgumentException">A teacher is not in the workspace, or the request makes no sense (<see cref="InvalidRequestException"/>).</exception>
    public JobSnapshot StartTraining(DistillationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        if (request.OutputFile is not null) throw new InvalidRequestException(nameof(DistillationRequest.OutputFile), "The dashboard stores the student in the workspace.");
        foreach (var teacher in request.Teachers) teacher.Resolve(store);
        request.StudentStart?.Resolve(store); // a start model deleted since the page listed it is refused now, not when the job starts
        // A stage that cannot be hinted is refused now, naming both networks' stages, not when the job reaches it.
        if (request.Objective.Loss == DistillationLoss.Hints)
            PlanHints(request.Teachers[0], request.StudentArchitecture, request.StudentStart, request.Objective.HintStages);
        return Enqueue(request, DistillationJob.Title(request), resumesJob: null);
    }

    /// <summary>
    /// FitNets' stages between <paramref name="teacher"/> and the student as the job will plan them
    /// (<see cref="HintStages.Plan"/>): <paramref name="wanted"/>, or with null every stage both share. Measured on blank
    /// networks of both (architecture, widths and input size from the checkpoint headers; no weights read), built once per
    /// pair of shapes and kept: building a network draws initial weights from TorchSharp's global generator, which a running
    /// job's dropout also draws from, so it is not done on every look.
    /// </summary>
    /// <exception cref="InvalidRequestException">For <c>HintStages</c>: a stage that cannot be hinted, or none shared.</exception>
    public IReadOnlyList<HintStage> PlanHints(ModelSource teacher, string studentArchitecture, ModelSource? studentStart, IReadOnlyList<string>? wanted)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(studentArchitecture);
        var t = Checkpoint.ReadMetadata(teacher.Resolve(store).CheckpointPath);
        // A student started from a model of another architecture is refused by the job; its widths do not apply here.
        var s = studentStart is null ? null : Checkpoint.ReadMetadata(studentStart.Resolve(store).CheckpointPath) is { } m && m.Architecture == studentArchitecture ? m : null;
        string Shape(string architecture, IReadOnlyDictionary<string, int>? widths) => string.Create(CultureInfo.InvariantCulture,
            $"{architecture} {t.ClassNames.Count} {t.InputHeight}x{t.InputWidth} {(widths is null ? "" : string.Join(",", widths.Select(w => $"{w.Key}={w.Value}")))}");
        var key = Shape(t.Architecture, t.Widths) + " | " + Shape(studentArchitecture, s?.Widths);
        var pair = BlankPairs.GetOrAdd(key, _ => new Lazy<(ClassifierNetwork, ClassifierNetwork)>(() =>
            (ModelZoo.Create(studentArchitecture, t.ClassNames.Count, t.InputHeight, t.InputWidth, s?.Widths),
             ModelZoo.Create(t.Architecture, t.ClassNames.Count, t.InputHeight, t.InputWidth, t.Widths)))).Value;
        lock (pair.Student) return HintStages.Plan(pair.Student, pair.Teacher, wanted);
    }

    private static readonly ConcurrentDictionary<string, Lazy<(ClassifierNetwork Student, ClassifierNetwork Teacher)>> BlankPairs = new();

    /// <summary>Queues the continuation of an interrupted (or failed) distillation from its last saved epoch.</summary>
    /// <exception cref="ArgumentException">No such distillation, it neither was interrupted nor failed, or it saved no epoch.</exception>
    /// <exception cref="InvalidOperationException">Distillations save no state here, or another job is already resuming it.</exception>
    public JobSnapshot ResumeTraining(Guid interruptedJobId)
    {
        if (states is null) throw new InvalidOperationException("This workspace keeps no training states, so no distillation can be resumed.");
        var job = scheduler.Get(interruptedJobId) ?? throw new ArgumentException($"There is no job with id {interruptedJobId}.");
        if (job.Kind != DistillationJob.Kind) throw new ArgumentException($"\"{job.Title}\" is not a distillation job.");
        if (job.State is not (JobState.Interrupted or JobState.Failed))
            throw new ArgumentException($"\"{job.Title}\" is {job.State.ToString().ToLowerInvariant()}; only an interrupted or failed distillation can be resumed.");
        var saved = Saved(job)
            ?? throw new ArgumentException($"\"{job.Title}\" stopped before it finished an epoch, so nothing was saved to resume; start it again.");
        if (saved.Problem is { } problem) throw new ArgumentException($"\"{job.Title}\" cannot be resumed: {problem}");
        if (scheduler.List().Any(other => !other.IsFinished && other.Links.Resumes == interruptedJobId))
            throw new InvalidOperationException($"\"{job.Title}\" is already being resumed by a queued or running job.");
        var request = ModelJobJson.Read<DistillationRequest>(job.ParametersJson);
        request.Validate();
        return Enqueue(request, $"{DistillationJob.Title(request)} (resumed)", interruptedJobId);
    }

    /// <summary>What an interrupted or failed distillation saved, or null (not one, or nothing saved); a damaged state comes back with its problem.</summary>
    public SavedTraining? Saved(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (states is null || job.Kind != DistillationJob.Kind || job.State is not (JobState.Interrupted or JobState.Failed)) return null;
        try
        {
            if (states.Find(job.Id) is not { } header) return null;
            var (done, total) = SavedEpochs(header, ReadRequest(job.ParametersJson));
            return new SavedTraining(job.Id, done, total);
        }
        catch (TrainingStateException e)
        {
            return new SavedTraining(job.Id, 0, 0, e.Message);
        }
    }

    /// <summary>
    /// Epochs a saved distillation has done and has in all. FitNets as a first phase keeps one state file for its hint
    /// epochs and the distillation after them; the file counts only its own phase's epochs, so both phases are counted here.
    /// </summary>
    public static (int Done, int Total) SavedEpochs(TrainingStateHeader header, DistillationRequest? request)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (request?.Objective is not { Loss: DistillationLoss.Hints, Hints: HintMode.FirstPhase } objective) return (header.EpochsDone, header.Settings.Epochs);
        var total = objective.HintEpochs + request.Settings().Epochs;
        var inHintPhase = header.Constraint?.Contains(" phase=hints ", StringComparison.Ordinal) == true;
        return (inHintPhase ? header.EpochsDone : objective.HintEpochs + header.EpochsDone, total);
    }

    private static DistillationRequest? ReadRequest(string json)
    {
        try
        {
            return ModelJobJson.Read<DistillationRequest>(json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    public static SoftTargetJobResult Summary(SoftTargetReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new SoftTargetJobResult([.. report.Teachers.Select(t => new ComparedModel(t.Model, t.WeightsHash))],
            new ComparedModel(report.Student.Model, report.Student.WeightsHash), report.Dataset, report.Student.SubsetKey, report.Student.Rows,
            report.Comparison.Agreement, report.Seconds);
    }

    private JobSnapshot Enqueue(DistillationRequest request, string title, Guid? resumesJob)
    {
        var job = scheduler.Enqueue(DistillationJob.Kind, title, ModelJobJson.Write(request), (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(DistillationJob.Run(request, catalog, store, job.Progress, cancellationToken,
                states is null ? null : TrainingStateSlot.InWorkspace(states, job.Id, resumesJob)))),
            new JobLinks(Resumes: resumesJob));
        // As for trainings: an interruption or a failure keeps the saved epochs to resume; a success or a cancel drops them.
        if (states is not null)
            JobEndings.WhenFinished(scheduler, job.Id, final =>
            {
                if (final?.State is not (JobState.Interrupted or JobState.Failed)) states.Delete(job.Id);
            });
        return job;
    }

    /// <summary>The distillation result of a succeeded job's JSON.</summary>
    public static DistillationJobResult ReadResult(string json) => ModelJobJson.Read<DistillationJobResult>(json);

    /// <summary>Whether <paramref name="json"/> reads as a comparison result (old or foreign results do not).</summary>
    public static SoftTargetJobResult? TryReadComparison(string? json)
    {
        if (json is null) return null;
        try
        {
            return SoftTargetJobResult.FromJson(json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }
}
