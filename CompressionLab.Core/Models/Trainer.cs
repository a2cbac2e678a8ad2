using System.Diagnostics;
using CompressionLab.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>Trains a zoo classifier with cross-entropy (see <see cref="TrainingSettings"/> for the recipe).</summary>
public static class Trainer
{
    /// <summary>
    /// Trains <paramref name="model"/> in place and leaves it in eval mode. The same seed, data, settings
    /// and thread count give the same weights (set <c>torch.manual_seed</c> before creating the model
    /// for the initial weights to match too).
    /// </summary>
    /// <param name="validation">When given, evaluated after every epoch (reported in the history).</param>
    /// <param name="progress">Called on the training thread after every batch; keep it quick.</param>
    /// <param name="cancellationToken">
    /// Checked between batches: a cancelled run throws <see cref="OperationCanceledException"/> with the
    /// model holding the weights of the last finished step (in eval mode).
    /// </param>
    /// <param name="resumeFrom">
    /// Continue the run this state was taken from, with epoch <see cref="TrainingState.EpochsDone"/> + 1: the model's
    /// weights, the optimizer, the schedule's position and both random generators are restored, so the result is bit
    /// for bit that of an uninterrupted run. The state must come from a run of the same architecture, settings and
    /// training images (a <see cref="TrainingStateException"/> says what differs).
    /// </param>
    /// <param name="epochFinished">
    /// Called on the training thread after every finished epoch (after its validation, before its progress report)
    /// with the state to resume from; e.g. save it with <see cref="TrainingState.Save"/>.
    /// </param>
    /// <param name="constraint">
    /// A rule kept around every optimizer step (pruning masks, say), saved with the state and restored on resume; a state
    /// saved with another rule, or without one, is refused.
    /// </param>
    /// <param name="objective">
    /// The loss of a batch instead of cross-entropy with the labels (distillation, say). Its identity belongs in the
    /// run's <paramref name="constraint"/> so that a state saved under another objective is refused. An
    /// <see cref="IModuleTrainingObjective"/> also runs the forward pass and chooses what the optimizer updates.
    /// </param>
    public static TrainingResult Train(
        ClassifierNetwork model,
        LabeledImages train,
        TrainingSettings settings,
        LabeledImages? validation = null,
        Action<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default,
        TrainingState? resumeFrom = null,
        Action<TrainingState>? epochFinished = null,
        ITrainingConstraint? constraint = null,
        ITrainingObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        model.CheckAccepts(train);
        if (validation is not null) model.CheckAccepts(validation);
        if (train.Count < 2) throw new ArgumentException($"{train.Name} has {train.Count} images; training needs at least 2.");

        var count = train.Count;
        var batchSize = Math.Min(settings.BatchSize, count);
        var batchesPerEpoch = BatchesPerEpoch(count, settings.BatchSize);
        var totalBatches = settings.Epochs * batchesPerEpoch;
        // Only a run that saves or restores a state needs to know its images by content (hashing them takes a moment).
        var data = resumeFrom is null && epochFinished is null ? null : TrainingDataIdentity.Of(train);
        resumeFrom?.CheckFits(model, data!, settings, constraint);

        manual_seed(settings.Seed); // dropout draws from the global generator
        using var generator = new Generator((ulong)settings.Seed);
        using var pixels = ImageTensors.Pixels(train);
        using var labels = ImageTensors.Labels(train);
        var ownModules = objective as IModuleTrainingObjective;
        using var optimizer = optim.AdamW(ownModules?.TrainedParameters(model) ?? model.parameters(), lr: settings.MaxLearningRate, weight_decay: settings.WeightDecay);
        var schedule = optim.lr_scheduler.OneCycleLR(optimizer, settings.MaxLearningRate, total_steps: totalBatches);

        var history = new List<EpochSummary>();
        var firstEpoch = 1;
        var earlierSeconds = 0.0;
        if (resumeFrom is not null)
        {
            // The one-cycle rate is a function of the step count: stepping it as the finished batches did puts it where
            // the interrupted run left it (TorchSharp 0.107's OneCycleLR built with a last_epoch throws KeyNotFoundException 'max_momentum' on its first step).
            for (var step = 0; step < resumeFrom.EpochsDone * batchesPerEpoch; step++) schedule.step();
            resumeFrom.Restore(model, optimizer, generator, constraint);
            history.AddRange(resumeFrom.Header.History);
            firstEpoch = resumeFrom.EpochsDone + 1;
            earlierSeconds = resumeFrom.Header.TrainingSeconds;
        }
        var batchesBefore = (firstEpoch - 1) * batchesPerEpoch;

        var clock = Stopwatch.StartNew();
        try
        {
            for (var epoch = firstEpoch; epoch <= settings.Epochs; epoch++)
            {
                var epochStart = clock.Elapsed;
                double lossSum = 0, learningRate = 0;
                long correct = 0, seen = 0;
                model.train();
                using var order = randperm(count, generator: generator);
                for (var batch = 1; batch <= batchesPerEpoch; batch++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var start = (batch - 1) * batchSize;
                    var size = Math.Min(batchSize, count - start);
                    using (var scope = NewDisposeScope())
                    {
                        var indices = order.narrow(0, start, size);
                        var (inputs, targets, flipped) = Batch(pixels, labels, indices, settings.HorizontalFlip, generator);

                        var step = ((epoch - 1L) * batchesPerEpoch) + batch - 1;
                        constraint?.BeforeBatch(step, optimizer);
                        optimizer.zero_grad();
                        var logits = ownModules is null ? model.call(inputs) : ownModules.Forward(model, inputs);
                        var loss = objective is null
                            ? nn.functional.cross_entropy(logits, targets)
                            : objective.Loss(new TrainingBatch(logits, targets, indices, flipped, inputs));
                        loss.backward();
                        constraint?.BeforeOptimizerStep(step, optimizer);
                        optimizer.step();
                        constraint?.AfterOptimizerStep(step, optimizer);
                        learningRate = optimizer.ParamGroups.First().LearningRate; // the rate this step used
                        schedule.step();

                        lossSum += loss.item<float>() * size;
                        correct += logits.argmax(1).eq(targets).sum().item<long>();
                        seen += size;
                    }

                    var done = ((epoch - 1) * batchesPerEpoch) + batch;
                    var isLast = batch == batchesPerEpoch;
                    EpochSummary? summary = null;
                    if (isLast)
                    {
                        var check = validation is null ? null : Evaluator.Evaluate(model, validation, cancellationToken: cancellationToken);
                        summary = new EpochSummary(epoch, lossSum / seen, (double)correct / seen, check?.Top1, check?.Loss,
                            (clock.Elapsed - epochStart).TotalSeconds);
                        history.Add(summary);
                        epochFinished?.Invoke(TrainingState.Capture(model, optimizer, generator, settings, data!, history,
                            earlierSeconds + clock.Elapsed.TotalSeconds, constraint));
                    }
                    progress?.Invoke(new TrainingProgress(
                        epoch, settings.Epochs, batch, batchesPerEpoch,
                        lossSum / seen, (double)correct / seen, learningRate,
                        (double)done / totalBatches, clock.Elapsed, Eta(clock.Elapsed, done - batchesBefore, totalBatches - done), summary));
                }
            }
        }
        finally
        {
            model.eval();
        }

        var last = history[^1];
        return new TrainingResult(history.Count, last.TrainLoss, last.TrainAccuracy, earlierSeconds + clock.Elapsed.TotalSeconds, history, settings);
    }

    /// <summary>
    /// One training batch: the images at <paramref name="indices"/>, normalised, each mirrored left-right with probability
    /// 0.5 when <paramref name="flip"/> (one draw per image from <paramref name="generator"/>), and their labels.
    /// </summary>
    /// <returns>The inputs, the labels, and which samples were mirrored (null without flips).</returns>
    internal static (Tensor Inputs, Tensor Targets, Tensor? Flipped) Batch(Tensor pixels, Tensor labels, Tensor indices, bool flip, Generator generator)
    {
        var size = indices.shape[0];
        var inputs = ImageTensors.Normalize(pixels.index_select(0, indices));
        var targets = labels.index_select(0, indices);
        Tensor? flipped = null;
        if (flip)
        {
            // An explicit Scalar kept alive across the call: an implicit one may be finalized mid-call.
            using var half = 0.5.ToScalar();
            flipped = rand(size, generator: generator).lt(half);
            inputs = where(flipped.view(size, 1, 1, 1), inputs.flip(3), inputs);
        }
        return (inputs, targets, flipped);
    }

    /// <summary>
    /// Batches in an epoch of <paramref name="images"/> images: full batches of <paramref name="batchSize"/> (at most all the
    /// images), and the rest as one more batch unless it is a single image, which would break BatchNorm's batch statistics.
    /// </summary>
    public static int BatchesPerEpoch(int images, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(images, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var size = Math.Min(batchSize, images);
        return (images / size) + (images % size >= 2 ? 1 : 0);
    }

    /// <summary>From this run's pace: <paramref name="done"/> batches took <paramref name="elapsed"/>, <paramref name="left"/> remain.</summary>
    private static TimeSpan? Eta(TimeSpan elapsed, int done, int left) =>
        done == 0 ? null : elapsed * ((double)left / done);
}
