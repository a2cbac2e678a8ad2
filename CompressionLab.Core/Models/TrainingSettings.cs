namespace CompressionLab.Core.Models;

/// <summary>
/// How to train a zoo model: AdamW with a one-cycle learning-rate schedule (Smith and Topin 2017, as
/// PyTorch's OneCycleLR: 30 % warm-up, cosine annealing, β1 cycled 0.95→0.85→0.95).
/// </summary>
/// <remarks>
/// Weight decay is decoupled (AdamW, Loshchilov and Hutter 2019) at PyTorch's AdamW default 1e-2: over
/// the short schedules used here it shrinks weights by only a few percent, a mild regulariser that
/// does not fight the adaptive step as L2-in-Adam does.
/// </remarks>
public sealed record TrainingSettings
{
    public int Epochs { get; init; } = 6;
    public int BatchSize { get; init; } = 128;

    /// <summary>Peak learning rate of the one-cycle schedule.</summary>
    public double MaxLearningRate { get; init; } = 2e-3;

    public double WeightDecay { get; init; } = 1e-2;

    /// <summary>Mirror each training image left-right with probability 1/2 (clothes look the same mirrored).</summary>
    public bool HorizontalFlip { get; init; } = true;

    /// <summary>Seeds weight initialisation's caller, dropout, shuffling and flips: same seed, same weights.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Defaults per zoo architecture, chosen to reach the issue's Fashion-MNIST targets within the time
    /// budget on a 2-core machine (measurements in docs/models.md). Flips only for the CNNs: an MLP
    /// has no spatial prior that mirroring would teach.
    /// </summary>
    public static TrainingSettings ForArchitecture(string architecture) => architecture switch
    {
        ModelZoo.Lenet300100 => new() { Epochs = 12, HorizontalFlip = false },
        ModelZoo.Lenet5 => new() { Epochs = 10 },
        ModelZoo.VggSmall => new() { Epochs = 7 },
        ModelZoo.VggTiny => new() { Epochs = 10 },
        _ => throw new ArgumentException($"Unknown architecture '{architecture}'. Known: {string.Join(", ", ModelZoo.Architectures)}."),
    };

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"Epochs must be at least 1 (got {Epochs}).");
        if (BatchSize < 2) throw new ArgumentException($"Batch size must be at least 2 for BatchNorm (got {BatchSize}).");
        if (!(MaxLearningRate > 0) || double.IsInfinity(MaxLearningRate))
            throw new ArgumentException($"Max learning rate must be a positive number (got {MaxLearningRate}).");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay))
            throw new ArgumentException($"Weight decay must be zero or positive (got {WeightDecay}).");
    }
}

/// <summary>Where a training run is, reported after every batch (immutable).</summary>
/// <param name="Epoch">1-based epoch in progress.</param>
/// <param name="Batch">1-based batch just finished within the epoch.</param>
/// <param name="Loss">Mean training loss over this epoch's batches so far.</param>
/// <param name="Accuracy">Fraction of this epoch's training images so far classified right (in train mode).</param>
/// <param name="Fraction">0..1 of the whole run done.</param>
/// <param name="Eta">Estimated time left, from the pace so far.</param>
/// <param name="CompletedEpoch">Set on the report that ends an epoch (after validation, if any).</param>
public sealed record TrainingProgress(
    int Epoch,
    int Epochs,
    int Batch,
    int BatchesPerEpoch,
    double Loss,
    double Accuracy,
    double LearningRate,
    double Fraction,
    TimeSpan Elapsed,
    TimeSpan? Eta,
    EpochSummary? CompletedEpoch);

/// <summary>One finished epoch.</summary>
/// <param name="ValidationTop1">Top-1 fraction on the validation images, when given.</param>
/// <param name="Seconds">Time of this epoch including its validation.</param>
public sealed record EpochSummary(
    int Epoch,
    double TrainLoss,
    double TrainAccuracy,
    double? ValidationTop1,
    double? ValidationLoss,
    double Seconds);

/// <summary>What a finished training run did (immutable).</summary>
/// <param name="History">Every epoch's summary, those of an interrupted run it resumed included.</param>
/// <param name="Seconds">Training time, that of an interrupted run it resumed included.</param>
public sealed record TrainingResult(
    int EpochsRun,
    double FinalTrainLoss,
    double FinalTrainAccuracy,
    double Seconds,
    IReadOnlyList<EpochSummary> History,
    TrainingSettings Settings);
