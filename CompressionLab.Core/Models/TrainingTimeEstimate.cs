using System.Diagnostics;
using System.Text.Json.Serialization;
using CompressionLab.Core.Data;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// How long a training job would take on this machine, extrapolated from a few timed batches (immutable).
/// An estimate: the pace changes with other load on the machine.
/// </summary>
/// <param name="BatchesPerEpoch">Batches one epoch of the full run has.</param>
/// <param name="SecondsPerBatch">Measured time of one training batch (after a warm-up batch).</param>
/// <param name="SecondsPerEvaluatedImage">Measured time of evaluating one image (in batches, after a warm-up).</param>
/// <param name="EvaluatedImages">Images the run evaluates: the validation images after every epoch and the test images once.</param>
public sealed record TrainingTimeEstimate(
    string Architecture,
    int Epochs,
    int BatchesPerEpoch,
    double SecondsPerBatch,
    double SecondsPerEvaluatedImage,
    int EvaluatedImages,
    long ParameterCount)
{
    [JsonIgnore]
    public TimeSpan Total =>
        TimeSpan.FromSeconds((Epochs * BatchesPerEpoch * SecondsPerBatch) + (EvaluatedImages * SecondsPerEvaluatedImage));

    /// <summary>
    /// Times <paramref name="sampleBatches"/> training batches and two evaluation batches of
    /// <paramref name="architecture"/> with the real trainer and evaluator (after one warm-up batch each),
    /// and scales them to a run of <paramref name="settings"/> over <paramref name="train"/>, validating on
    /// <paramref name="validationCount"/> images per epoch and testing on <paramref name="testCount"/>.
    /// Takes about <paramref name="sampleBatches"/> + 3 batches' time; stops at the next batch when cancelled
    /// (the dashboard measures on page open, and a stop of the app must not wait for it).
    /// </summary>
    public static TrainingTimeEstimate Measure(
        string architecture,
        LabeledImages train,
        int validationCount,
        int testCount,
        TrainingSettings settings,
        int sampleBatches = 3,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleBatches);
        settings.Validate();

        var batchSize = Math.Min(settings.BatchSize, train.Count);
        // As Trainer counts them: a last batch of one image is dropped.
        var batchesPerEpoch = (train.Count / batchSize) + (train.Count % batchSize >= 2 ? 1 : 0);
        var sample = train.Take(Math.Min(train.Count, (sampleBatches + 1) * batchSize));

        manual_seed(settings.Seed);
        using var model = ModelZoo.Create(architecture, train.ClassCount, train.Height, train.Width);
        var finished = new List<TimeSpan>();
        var clock = Stopwatch.StartNew();
        Trainer.Train(model, sample, settings with { Epochs = 1, BatchSize = batchSize }, progress: _ => finished.Add(clock.Elapsed),
            cancellationToken: cancellationToken);
        // The first batch pays one-off costs (allocations, kernel selection); time only the ones after it.
        var secondsPerBatch = finished.Count > 1
            ? (finished[^1] - finished[0]).TotalSeconds / (finished.Count - 1)
            : finished[0].TotalSeconds;

        var evaluationImages = train.Take(Math.Min(train.Count, 3 * Evaluator.DefaultBatchSize));
        Evaluator.Evaluate(model, evaluationImages.Take(Math.Min(evaluationImages.Count, Evaluator.DefaultBatchSize)), cancellationToken: cancellationToken);
        var timed = Evaluator.Evaluate(model, evaluationImages, cancellationToken: cancellationToken);
        var secondsPerImage = timed.Seconds / Math.Max(1, timed.Samples);

        return new TrainingTimeEstimate(architecture, settings.Epochs, batchesPerEpoch, secondsPerBatch, secondsPerImage,
            (settings.Epochs * validationCount) + testCount, model.ParameterCount);
    }
}
