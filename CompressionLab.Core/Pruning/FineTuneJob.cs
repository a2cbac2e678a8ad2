using System.Diagnostics;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// A pruning plan made real by masked fine-tuning: the model (of the workspace, or a checkpoint file), the plan, and how
/// to train. The result is a new model, never a change of the parent.
/// </summary>
/// <param name="Plan">The plan; resolved against the model's layer table when the job loads it.</param>
/// <param name="PlanFor">
/// The model the plan was made for (a plan file's <c>model</c>); when given, a plan for another architecture or other
/// weights is refused, naming both. Null: the plan is taken as made for this model.
/// </param>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="Schedule">Gradual pruning (AGP) from the dense model, or the plan's masks fixed from the start.</param>
/// <param name="LearningRate">Peak rate of the one-cycle schedule (<see cref="TrainingSettings.MaxLearningRate"/>); a fine-tuning wants a fraction of training's 2e-3.</param>
/// <param name="TrainingImages">Fine-tune on a class-stratified subset of this many training images (drawn with the seed); null: all of the train part.</param>
/// <param name="SubsetSize">Validation images (<see cref="AnalysisSubset"/>) for the recovery curve: the images <c>plan evaluate</c> and sweeps of that size measure.</param>
/// <param name="DisplayName">What the new model is called in the workspace; null: derived.</param>
/// <param name="OutputFile">Null: the new model goes into the workspace (the dashboard); a path: a checkpoint file written there (the CLI's <c>--out</c>).</param>
public sealed record FineTuneRequest(
    ModelSource Model,
    PruningPlan Plan,
    string? Dataset = null,
    FineTuneSchedule Schedule = FineTuneSchedule.Agp,
    int Epochs = 2,
    double LearningRate = FineTuneRequest.DefaultLearningRate,
    int Seed = 1,
    int BatchSize = 128,
    int? TrainingImages = null,
    int SubsetSize = AnalysisSubset.DefaultSize,
    string? DisplayName = null,
    string? OutputFile = null,
    PlanModel? PlanFor = null)
{
    public const double DefaultLearningRate = 1e-3;
    public const int MaxBatchSize = 4096;

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense; the plan is checked against the model's layers when the job loads it.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to fine-tune.");
        Model.Validate();
        if (Plan is null || Plan.Stages.Count == 0) throw new InvalidRequestException(nameof(Plan), "Give a plan with at least one stage.");
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to fine-tune on.");
        if (!Enum.IsDefined(Schedule)) throw new InvalidRequestException(nameof(Schedule), $"Unknown schedule {Schedule}; use agp or fixed.");
        if (Epochs is < 1 or > TrainingRequest.MaxEpochs) throw new InvalidRequestException(nameof(Epochs), $"Epochs must be between 1 and {TrainingRequest.MaxEpochs} (got {Epochs}).");
        if (!(LearningRate > 0 && LearningRate <= 1))
            throw new InvalidRequestException(nameof(LearningRate), string.Create(CultureInfo.InvariantCulture, $"The learning rate must be above 0 and at most 1 (got {LearningRate})."));
        if (Seed < 0) throw new InvalidRequestException(nameof(Seed), $"The seed must be zero or positive (got {Seed}).");
        if (BatchSize is < 2 or > MaxBatchSize) throw new InvalidRequestException(nameof(BatchSize), $"The batch size must be between 2 (for BatchNorm) and {MaxBatchSize} (got {BatchSize}).");
        if (TrainingImages is < 2) throw new InvalidRequestException(nameof(TrainingImages), $"Training images must be at least 2, or all (got {TrainingImages}).");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The subset needs at least one image (got {SubsetSize}).");
        if (OutputFile is not null && string.IsNullOrWhiteSpace(OutputFile)) throw new InvalidRequestException(nameof(OutputFile), "Choose a file to write the checkpoint to.");
    }

    /// <summary>The trainer's recipe for this fine-tuning: AdamW one-cycle at this peak rate, the architecture's flips.</summary>
    public TrainingSettings Settings(string architecture) =>
        TrainingSettings.ForArchitecture(architecture) with { Epochs = Epochs, MaxLearningRate = LearningRate, BatchSize = BatchSize, Seed = Seed };
}

/// <summary>
/// First partial result of a fine-tuning, before its first step: the plan, the dense model's and the pruned-not-fine-tuned
/// model's validation top-1 (the two reference lines of the recovery curve), and where the run is saved.
/// </summary>
/// <param name="DenseTop1">The parent model on the validation subset.</param>
/// <param name="PrunedTop1">The plan's masks applied at once to the parent, not fine-tuned (<c>top1_before</c>); what <c>plan evaluate</c> measures.</param>
/// <param name="EarlierEpochs">Epochs a resumed run had finished before (their validation top-1 continue the curve).</param>
public sealed record FineTuneStarted(
    string ModelName,
    string Architecture,
    string Dataset,
    ResolvedPlan Plan,
    string PlanHash,
    PlanSize Dense,
    PlanSize Pruned,
    string Schedule,
    int TrainingImages,
    int SubsetSize,
    TrainingSettings Settings,
    double DenseTop1,
    double PrunedTop1,
    int EpochsDone,
    IReadOnlyList<EpochSummary> EarlierEpochs,
    string? StatePath,
    string? ResumedFrom) : JobPartial;

/// <summary>One finished epoch of a fine-tuning (its validation top-1 is the next point of the recovery curve), with the levels in force.</summary>
public sealed record FineTuneEpochFinished(EpochSummary Epoch, int Epochs, IReadOnlyList<PlanLevel> Levels) : JobPartial;

/// <summary>What a finished fine-tuning made (its JSON result); accuracies are fractions.</summary>
/// <param name="ModelId">The new workspace model; null when it went to <see cref="CheckpointFile"/>.</param>
/// <param name="Top1Before">The plan's masks on the parent, not fine-tuned, on the validation subset.</param>
/// <param name="Top1After">The fine-tuned model on the same images.</param>
/// <param name="DenseTop1">The parent on the same images.</param>
/// <param name="TestTop1">The fine-tuned model on the full test split (stored as the model's top-1).</param>
/// <param name="Sparsity">The plan's overall conv and linear weight sparsity (<see cref="PlanSize.Sparsity"/>).</param>
/// <param name="Seconds">Wall time of the job body (on the CLI without loading the dataset, which it loads first to name <c>--dataset</c>).</param>
public sealed record FineTuneJobResult(
    Guid? ModelId,
    string DisplayName,
    string Architecture,
    string Dataset,
    double Top1Before,
    double Top1After,
    double DenseTop1,
    double TestTop1,
    double Sparsity,
    long Parameters,
    long MacsPerSample,
    long DenseParameters,
    long DenseMacsPerSample,
    string Schedule,
    int Epochs,
    double LearningRate,
    int TrainingImages,
    int SubsetSize,
    double Seconds,
    string WeightsHash,
    string ParentWeightsHash,
    string PlanHash,
    IReadOnlyList<EpochSummary> History,
    string? CheckpointFile = null,
    int ResumedFromEpoch = 0)
{
    public static FineTuneJobResult FromJson(string json) => ModelJobJson.Read<FineTuneJobResult>(json);
}

/// <summary>
/// Masked fine-tuning as a job, one body for the CLI and the dashboard: loads the model and the data, measures the dense
/// and the one-shot pruned model on the validation subset, then trains with <see cref="Trainer"/> under
/// <see cref="MaskedTraining"/> (the plan's masks fixed from the start, or reached by AGP), with validation after every
/// epoch, the run's state (weights, AdamW, generators, masks) saved after every epoch through a
/// <see cref="TrainingStateSlot"/> so an interrupted run resumes to the same result, then top-1 on the full test split.
/// The new model, with its lineage (parent weights, plan, schedule), goes to the request's file or into the workspace.
/// A cancelled or failed run stores nothing.
/// </summary>
public static class FineTuneJob
{
    public const string Kind = "finetune";

    /// <summary>Share of the bar the training fills; the evaluations before and after take the rest.</summary>
    private const double TrainingShare = 0.92;
    private const double PreparationShare = 0.03;

    public static string Title(ResolvedModel model, FineTuneRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return $"Fine-tune {model.DisplayName} ({MaskSchedule.Name(request.Schedule)}, {request.Epochs} epoch{(request.Epochs == 1 ? "" : "s")})";
    }

    /// <param name="states">Where the job saves its state after every epoch; null: nothing is saved before the end.</param>
    /// <param name="resumesJob">An interrupted fine-tuning whose saved state this job continues (needs <paramref name="states"/>).</param>
    public static JobWork Create(FineTuneRequest request, DatasetCatalog catalog, ModelStore store, TrainingStateStore? states = null, Guid? resumesJob = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(store);
        if (resumesJob is not null && states is null) throw new ArgumentException("Resuming a fine-tuning needs the store of training states.", nameof(states));
        request.Validate();
        return (job, cancellationToken) => Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, job.Progress, cancellationToken,
            states is null ? null : TrainingStateSlot.InWorkspace(states, job.Id, resumesJob))));
    }

    /// <param name="store">The workspace's models: needed for a workspace model or when the result goes into the workspace.</param>
    /// <param name="slot">Where to save the state after every epoch, and what to resume; null: nothing is saved before the end.</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the model or the data (the plan, the images), or there is no state to resume.</exception>
    /// <exception cref="TrainingStateException">The state to resume is damaged or from another run (the message says what differs).</exception>
    public static FineTuneJobResult Run(
        FineTuneRequest request,
        DatasetCatalog catalog,
        ModelStore? store,
        IJobProgress progress,
        CancellationToken cancellationToken,
        TrainingStateSlot? slot = null)
    {
        TrainedModelOutput.CheckArguments(request, catalog, progress, request.OutputFile, store);
        request.Validate();
        var clock = Stopwatch.StartNew();

        var parent = request.Model.Resolve(store);
        var dataset = parent.LoadDataset(request.Dataset, catalog, progress);
        var split = TrainingJob.Split(dataset);
        var train = TrainingJob.TrainingImages(split, request.TrainingImages, request.Seed, nameof(FineTuneRequest.TrainingImages));
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, request.SubsetSize, nameof(FineTuneRequest.SubsetSize));
        if (train.Count < 2) throw new InvalidRequestException(nameof(FineTuneRequest.TrainingImages), "Fine-tuning needs at least 2 training images.");
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0, $"Loading the checkpoint of {parent.DisplayName}");
        using var checkpoint = parent.Load(subset.Images, dataset.Name, "fine-tuned");
        var network = checkpoint.Model;
        var parentHash = checkpoint.Metadata.ContentHash;
        CheckPlanIsFor(request.PlanFor, checkpoint.Metadata);
        var plan = Resolve(request.Plan, network);
        var levels = PlanContent.Levels(plan);
        if (levels.Count == 0)
            throw new InvalidRequestException(nameof(FineTuneRequest.Plan), "The plan prunes nothing (every layer is at 0 or excluded): there is nothing to fine-tune.");
        var planHash = PlanContent.Hash(plan);
        var dense = PlanSize.Dense(network.Graph);
        var pruned = PlanSize.Of(network.Graph, plan.Layers);
        var settings = request.Settings(network.Architecture);
        var schedule = MaskSchedule.For(request.Schedule, Trainer.BatchesPerEpoch(train.Count, settings.BatchSize), settings.Epochs);
        using var masks = new MaskedTraining(network, plan, schedule, parentHash);

        // Taken over only now, so that data or a plan that fails to load leaves the saved epochs where they were.
        var resume = slot?.TakeOver();
        resume?.CheckFits(network, TrainingDataIdentity.Of(train), settings, masks);
        var resumed = resume is null ? "" : string.Create(CultureInfo.InvariantCulture, $" · resumed after epoch {resume.EpochsDone}/{resume.Epochs}");
        var before = resume is null ? 0 : (double)resume.EpochsDone / resume.Epochs;

        // The two reference lines of the recovery curve, measured on the parent's weights before any step (also on resume:
        // the saved weights replace the parent's only inside the trainer).
        progress.Report(0.01, string.Create(CultureInfo.InvariantCulture, $"Evaluating the dense and the pruned model on {subset.Count:N0} validation images{resumed}"));
        var denseTop1 = Evaluator.Evaluate(network, subset.Images, cancellationToken: cancellationToken).Top1;
        double prunedTop1;
        using (PlanMasks.For(network, plan).ApplyTo(network))
        {
            prunedTop1 = Evaluator.Evaluate(network, subset.Images, cancellationToken: cancellationToken).Top1;
        }
        progress.Publish(new FineTuneStarted(parent.DisplayName, network.Architecture, dataset.Name, plan, planHash, dense, pruned,
            schedule.Describe(), train.Count, subset.Count, settings, denseTop1, prunedTop1, resume?.EpochsDone ?? 0,
            resume?.Header.History ?? [], slot?.Path, slot?.ResumesFrom));

        var result = Trainer.Train(network, train, settings, subset.Images, p =>
        {
            progress.Report(PreparationShare + ((p.Fraction - before) / (1 - before) * (TrainingShare - PreparationShare)), TrainingJob.Describe(p) + resumed);
            if (p.CompletedEpoch is { } epoch)
                progress.Publish(new FineTuneEpochFinished(epoch, p.Epochs, [.. masks.Levels.Select(l => new PlanLevel(l.Key, l.Value, plan.Layer(l.Key).Method.Key))]));
        }, cancellationToken, resume, slot is null ? null : state => state.Save(slot.Path), masks);
        var top1After = result.History[^1].ValidationTop1 ?? throw new InvalidOperationException("The trainer measured no validation top-1.");

        progress.Report(TrainingShare, string.Create(CultureInfo.InvariantCulture, $"Evaluating on the {dataset.Test.Count:N0} test images"));
        var test = Evaluator.Evaluate(network, dataset.Test, cancellationToken: cancellationToken);
        // The last moment a cancel is honoured: from here on the model is stored whole or not at all.
        cancellationToken.ThrowIfCancellationRequested();

        var lineage = new CheckpointLineage("fine-tune", parentHash, parent.DisplayName, planHash,
            [.. levels.Select(l => new LineageLevel(l.Layer, l.Level, l.Method))], MaskSchedule.Name(request.Schedule), settings.Epochs, settings.MaxLearningRate);
        var name = string.IsNullOrWhiteSpace(request.DisplayName)
            ? string.Create(CultureInfo.InvariantCulture, $"{parent.DisplayName} · pruned {pruned.Sparsity * 100:0.#}% · {MaskSchedule.Name(request.Schedule)} {settings.Epochs} ep")
            : request.DisplayName.Trim();
        var resumedFrom = resume?.EpochsDone ?? 0;
        FineTuneJobResult Result(Guid? id, string displayName, string weightsHash, double seconds, string? file) => new(
            id, displayName, network.Architecture, dataset.Name, prunedTop1, top1After, denseTop1, test.Top1, pruned.Sparsity,
            pruned.Network.Parameters, pruned.Network.MacsPerSample, dense.Network.Parameters, dense.Network.MacsPerSample,
            MaskSchedule.Name(request.Schedule), settings.Epochs, settings.MaxLearningRate, train.Count, subset.Count, seconds,
            weightsHash, parentHash, planHash, result.History, file, resumedFrom);

        if (request.OutputFile is { } output)
        {
            progress.Report(0.99, $"Writing the checkpoint to {output}");
            var written = Checkpoint.Save(network, output, dataset.Name, dataset.Train.ClassNames, test.Top1, settings, lineage: lineage);
            slot?.Release();
            progress.Report(1, string.Create(CultureInfo.InvariantCulture,
                $"Wrote {output}: validation top-1 {prunedTop1 * 100:0.00}% → {top1After * 100:0.00}% (dense {denseTop1 * 100:0.00}%), test {test.Top1 * 100:0.00}%{resumed}"));
            return Result(null, name, written.ContentHash, clock.Elapsed.TotalSeconds, Path.GetFullPath(output));
        }

        progress.Report(0.99, "Saving the fine-tuned model into the workspace");
        var (record, metadata, seconds) = TrainedModelOutput.StoreInWorkspace(store!, "finetune",
            file => Checkpoint.Save(network, file, dataset.Name, dataset.Train.ClassNames, test.Top1, settings, lineage: lineage),
            (saved, elapsed) => new ModelEntry(name, network.Architecture, dataset.Name, test.Top1, saved.ParameterCount, ModelJobJson.Write(new
            {
                source = "fine-tuned",
                parentModelId = parent.ModelId,
                lineage,
                schedule = MaskSchedule.Name(request.Schedule),
                epochs = settings.Epochs,
                learningRate = settings.MaxLearningRate,
                seed = settings.Seed,
                trainingImages = train.Count,
                sparsity = pruned.Sparsity,
                macs = pruned.Network.MacsPerSample,
                top1Before = prunedTop1,
                top1After,
                denseTop1,
                subsetSize = subset.Count,
                top5 = test.Top5,
                loss = test.Loss,
                seconds = elapsed,
                weightsHash = saved.ContentHash,
                resumedFromEpoch = resume?.EpochsDone,
                settings,
            })), slot, clock);
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Stored \"{record.DisplayName}\": validation top-1 {prunedTop1 * 100:0.00}% → {top1After * 100:0.00}% (dense {denseTop1 * 100:0.00}%), test {test.Top1 * 100:0.00}%{resumed}"));
        return Result(record.Id, record.DisplayName, metadata.ContentHash, seconds, null);
    }

    /// <summary>A plan made for another model is refused, naming both (levels chosen from one training's sweeps do not carry over).</summary>
    private static void CheckPlanIsFor(PlanModel? planFor, CheckpointMetadata model)
    {
        if (planFor is null) return;
        if (!string.Equals(planFor.Architecture, model.Architecture, StringComparison.Ordinal))
            throw new InvalidRequestException(nameof(FineTuneRequest.Plan), $"The plan is for a {planFor.Architecture} model, not for this {model.Architecture}.");
        if (!string.Equals(planFor.WeightsHash, model.ContentHash, StringComparison.OrdinalIgnoreCase))
            throw new InvalidRequestException(nameof(FineTuneRequest.Plan),
                $"The plan is for other weights of {model.Architecture}: its weights hash is {Short(planFor.WeightsHash)}, this model's is {Short(model.ContentHash)}.");
    }

    private static ResolvedPlan Resolve(PruningPlan plan, ClassifierNetwork network)
    {
        var problems = plan.Problems(network.Layers);
        if (problems.Count > 0)
            throw new InvalidRequestException(nameof(FineTuneRequest.Plan), string.Join(" ", problems.Select(p => p.Message)));
        return plan.Resolve(network.Layers);
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;
}

/// <summary>Starts fine-tuning jobs (and resumes interrupted ones) with their parameters recorded, so the dashboard and any other front end start them the same way.</summary>
/// <param name="states">Where fine-tunings save their state after every epoch; null: nothing is saved before the end, and nothing can be resumed.</param>
public sealed class FineTuneJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, TrainingStateStore? states = null)
{
    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense (<see cref="InvalidRequestException"/>).</exception>
    public JobSnapshot StartFineTune(FineTuneRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        return Enqueue(request, FineTuneJob.Title(model, request), resumesJob: null);
    }

    /// <summary>
    /// Queues a job that continues an interrupted (or failed) fine-tuning from its last saved epoch, to the model an
    /// uninterrupted run would have made.
    /// </summary>
    /// <exception cref="ArgumentException">No such fine-tuning, it neither was interrupted nor failed, or it saved no epoch.</exception>
    /// <exception cref="InvalidOperationException">Fine-tunings save no state here, or another job is already resuming it.</exception>
    public JobSnapshot ResumeFineTune(Guid interruptedJobId)
    {
        if (states is null) throw new InvalidOperationException("This workspace keeps no training states, so no fine-tuning can be resumed.");
        var job = scheduler.Get(interruptedJobId) ?? throw new ArgumentException($"There is no job with id {interruptedJobId}.");
        if (job.Kind != FineTuneJob.Kind) throw new ArgumentException($"\"{job.Title}\" is not a fine-tuning job.");
        if (job.State is not (JobState.Interrupted or JobState.Failed))
            throw new ArgumentException($"\"{job.Title}\" is {job.State.ToString().ToLowerInvariant()}; only an interrupted or failed fine-tuning can be resumed.");
        if (states.Find(job.Id) is null)
            throw new ArgumentException($"\"{job.Title}\" stopped before it finished an epoch, so nothing was saved to resume; start it again.");
        if (scheduler.List().Any(other => !other.IsFinished && other.Links.Resumes == interruptedJobId))
            throw new InvalidOperationException($"\"{job.Title}\" is already being resumed by a queued or running job.");
        var request = ModelJobJson.Read<FineTuneRequest>(job.ParametersJson);
        request.Validate();
        return Enqueue(request, $"{job.Title} (resumed)", interruptedJobId);
    }

    /// <summary>
    /// What an interrupted or failed fine-tuning saved (its state file's header), or null when <paramref name="job"/> is
    /// no such fine-tuning or saved no epoch; a damaged state comes back with its problem (not resumable).
    /// </summary>
    public SavedTraining? Saved(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (states is null || job.Kind != FineTuneJob.Kind || job.State is not (JobState.Interrupted or JobState.Failed)) return null;
        try
        {
            return states.Find(job.Id) is { } header ? new SavedTraining(job.Id, header.EpochsDone, header.Settings.Epochs) : null;
        }
        catch (TrainingStateException e)
        {
            return new SavedTraining(job.Id, 0, 0, e.Message);
        }
    }

    private JobSnapshot Enqueue(FineTuneRequest request, string title, Guid? resumesJob)
    {
        var job = scheduler.Enqueue(FineTuneJob.Kind, title, ModelJobJson.Write(request), FineTuneJob.Create(request, catalog, store, states, resumesJob),
            new JobLinks(Resumes: resumesJob));
        // As for trainings: an interruption or a failure keeps the saved epochs to resume; a success or a cancel drops them.
        if (states is not null)
            JobEndings.WhenFinished(scheduler, job.Id, final =>
            {
                if (final?.State is not (JobState.Interrupted or JobState.Failed)) states.Delete(job.Id);
            });
        return job;
    }
}
