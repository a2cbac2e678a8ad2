using System.Globalization;
using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Distillation;

/// <summary>What the student is trained to match.</summary>
public enum DistillationLoss
{
    /// <summary>Only the teacher's soft targets: [T²·]KL(teacher(T) ‖ student(T)).</summary>
    Soft,

    /// <summary>Hinton's: α·[T²·]KL(teacher(T) ‖ student(T)) + (1 − α)·CE(student, labels).</summary>
    SoftHard,

    /// <summary>Logit matching (Ba &amp; Caruana): α·MSE(student logits, teacher logits) + (1 − α)·CE; T does not enter.</summary>
    LogitMse,

    /// <summary>
    /// FitNets (Romero et al. 2015): the student's stage outputs regressed onto the teacher's through a learned 1×1 conv per
    /// stage (MSE), as a first phase before soft + hard epochs or added to the soft + hard loss (<see cref="HintMode"/>).
    /// </summary>
    Hints,

    /// <summary>
    /// Deep mutual learning (Zhang et al. 2018): two students, no fixed teacher; each minimises CE + [T²·]KL(peer(T) ‖ self(T))
    /// with the peer's prediction held fixed. α does not enter.
    /// </summary>
    Mutual,
}

/// <summary>How FitNets hints enter the training.</summary>
public enum HintMode
{
    /// <summary>Every step minimises soft + hard + β·hint loss.</summary>
    Added,

    /// <summary>
    /// First <see cref="DistillationSettings.HintEpochs"/> epochs of the student's layers up to the last hinted stage and the
    /// regressors on the hint loss alone (FitNets' stage 1), then the request's epochs of soft + hard distillation.
    /// </summary>
    FirstPhase,
}

/// <summary>The distillation objective's settings.</summary>
/// <param name="ScaleByT2">
/// Multiply the KL term by T² (Hinton): soft gradients scale as 1/T², so without it a high T silently turns the soft term
/// down (Distiller left it out; its users reported that as a bug). On by default.
/// </param>
/// <param name="AverageOverFlips">
/// Data distillation (Radosavovic et al. 2018): the teacher's target for an image is the mean of its soft targets (logits,
/// for logit matching) over the training augmentations — the image and its mirror — whichever of the two the step shows.
/// </param>
/// <param name="Hints">FitNets only: the hint loss added to every step, or a first phase of its own.</param>
/// <param name="HintEpochs">FitNets' first phase: its epochs (besides the request's epochs of soft + hard distillation).</param>
/// <param name="HintWeight">FitNets added to the loss: β, the hint loss's weight.</param>
/// <param name="HintStages">FitNets: the stages whose outputs are hinted (e.g. <c>stage2</c>); null: every stage the student and teacher share.</param>
public sealed record DistillationSettings(
    DistillationLoss Loss,
    double Temperature = 4,
    double Alpha = 0.9,
    bool ScaleByT2 = true,
    bool AverageOverFlips = false,
    HintMode Hints = HintMode.Added,
    int HintEpochs = 2,
    double HintWeight = 1,
    IReadOnlyList<string>? HintStages = null)
{
    public static string Name(DistillationLoss loss) => loss switch
    {
        DistillationLoss.Soft => "soft",
        DistillationLoss.SoftHard => "soft+hard",
        DistillationLoss.LogitMse => "mse",
        DistillationLoss.Hints => "hints",
        DistillationLoss.Mutual => "dml",
        _ => throw new ArgumentOutOfRangeException(nameof(loss), loss, null),
    };

    /// <summary><c>soft</c>, <c>soft+hard</c>, <c>mse</c>, <c>hints</c> or <c>dml</c>.</summary>
    /// <exception cref="InvalidRequestException">For <c>Objective</c>: any other text.</exception>
    public static DistillationLoss ParseLoss(string text) => text.Trim().ToLowerInvariant() switch
    {
        "soft" => DistillationLoss.Soft,
        "soft+hard" or "hinton" => DistillationLoss.SoftHard,
        "mse" => DistillationLoss.LogitMse,
        "hints" or "fitnets" => DistillationLoss.Hints,
        "dml" or "mutual" => DistillationLoss.Mutual,
        _ => throw new InvalidRequestException("Objective", $"Unknown objective '{text}': use soft, soft+hard, mse, hints or dml."),
    };

    /// <summary>The teacher's (or peer's) targets are log-probabilities at T for every objective but logit matching.</summary>
    internal bool UsesLogits => Loss == DistillationLoss.LogitMse;

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the setting that makes no sense.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Loss)) throw new InvalidRequestException("Objective", $"Unknown objective {Loss}.");
        if (!(Temperature > 0) || double.IsInfinity(Temperature) || Temperature > 1000)
            throw new InvalidRequestException(nameof(Temperature), string.Create(CultureInfo.InvariantCulture, $"The temperature must be above 0 and at most 1000 (got {Temperature})."));
        if (!(Alpha >= 0 && Alpha <= 1))
            throw new InvalidRequestException(nameof(Alpha), string.Create(CultureInfo.InvariantCulture, $"α weighs the teacher's term against the labels' and must be between 0 and 1 (got {Alpha})."));
        if (Loss == DistillationLoss.Hints)
        {
            if (!Enum.IsDefined(Hints)) throw new InvalidRequestException(nameof(Hints), $"Unknown hint mode {Hints}.");
            if (Hints == HintMode.FirstPhase && HintEpochs is < 1 or > TrainingRequest.MaxEpochs)
                throw new InvalidRequestException(nameof(HintEpochs), $"The hint phase needs between 1 and {TrainingRequest.MaxEpochs} epochs (got {HintEpochs}).");
            if (Hints == HintMode.Added && (!(HintWeight > 0) || double.IsInfinity(HintWeight) || HintWeight > 1e6))
                throw new InvalidRequestException(nameof(HintWeight), string.Create(CultureInfo.InvariantCulture, $"β, the hint loss's weight, must be above 0 and at most 1e6 (got {HintWeight})."));
            if (HintStages is { } stages && (stages.Count == 0 || stages.Any(string.IsNullOrWhiteSpace)))
                throw new InvalidRequestException(nameof(HintStages), "Name the stages to hint (e.g. stage2), or leave it empty for every stage the student and the teacher share.");
        }
        if (Loss == DistillationLoss.Mutual && AverageOverFlips)
            throw new InvalidRequestException(nameof(AverageOverFlips), "Averaging over flips makes a fixed teacher's targets; in mutual learning the peer learns along, so there is nothing to average.");
    }

    /// <summary>Words that identify the objective (a resumed run must have the same).</summary>
    public string Key => Loss switch
    {
        DistillationLoss.Mutual => string.Create(CultureInfo.InvariantCulture, $"dml T={Temperature:R} t2={(ScaleByT2 ? "on" : "off")}"),
        DistillationLoss.Hints => string.Create(CultureInfo.InvariantCulture,
            $"hints T={Temperature:R} alpha={Alpha:R} t2={(ScaleByT2 ? "on" : "off")}{Flips} {HintKey}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{Name(Loss)} T={Temperature:R} alpha={Alpha:R} t2={(ScaleByT2 ? "on" : "off")}{Flips}"),
    };

    private string Flips => AverageOverFlips ? " targets=mean-over-flips" : "";

    /// <summary>FitNets' own words, e.g. <c>hint=added beta=1 stages=all</c> or <c>hint=first-phase epochs=2 stages=stage2</c>.</summary>
    private string HintKey => string.Create(CultureInfo.InvariantCulture,
        $"{(Hints == HintMode.FirstPhase ? $"hint=first-phase epochs={HintEpochs}" : $"hint=added beta={HintWeight:R}")} stages={(HintStages is null ? "all" : string.Join(",", HintStages))}");

    /// <summary>The batch loss from the student's logits, the teacher's targets for the same samples and the labels.</summary>
    /// <param name="teacher">
    /// <see cref="DistillationLoss.Soft"/> and <see cref="DistillationLoss.SoftHard"/>: the teacher's log-probabilities at T;
    /// <see cref="DistillationLoss.LogitMse"/>: its logits. <see cref="DistillationLoss.Mutual"/>: the peer's log-probabilities
    /// at T, held fixed (detached) by the caller. <see cref="DistillationLoss.Hints"/>: as soft + hard (the hint term is the
    /// <see cref="HintObjective"/>'s).
    /// </param>
    public Tensor BatchLoss(Tensor studentLogits, Tensor teacher, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(labels);
        using var scope = NewDisposeScope();
        Tensor loss;
        if (Loss == DistillationLoss.LogitMse)
        {
            var mse = nn.functional.mse_loss(studentLogits, teacher);
            loss = Alpha >= 1 ? mse : (mse * Alpha) + (nn.functional.cross_entropy(studentLogits, labels) * (1 - Alpha));
        }
        else
        {
            // KL(p_t ‖ p_s) = Σ p_t (log p_t − log p_s), summed over classes, averaged over the batch ("batchmean").
            var logStudent = nn.functional.log_softmax(studentLogits / Temperature, 1);
            var kl = (teacher.exp() * (teacher - logStudent)).sum(1).mean();
            var soft = ScaleByT2 ? kl * (Temperature * Temperature) : kl;
            loss = Loss switch
            {
                DistillationLoss.Mutual => nn.functional.cross_entropy(studentLogits, labels) + soft,
                _ when Loss == DistillationLoss.Soft || Alpha >= 1 => soft,
                _ => (soft * Alpha) + (nn.functional.cross_entropy(studentLogits, labels) * (1 - Alpha)),
            };
        }
        return loss.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The teacher's targets for every training image and for its mirror image, computed once per training set (eval mode,
/// BatchNorm folded) and read by index in every step of every epoch and seed: with flips the only augmentation, a
/// teacher's output depends on nothing else, so a run never spends a teacher forward pass per student step.
/// An ensemble's soft targets are the mean of its members' p(T) (for logit matching, the mean of their logits).
/// </summary>
public sealed class TeacherTargets : IDisposable
{
    private TeacherTargets(Tensor plain, Tensor? mirrored, double seconds)
    {
        Plain = plain;
        Mirrored = mirrored;
        Seconds = seconds;
    }

    /// <summary>[images × classes]: log-probabilities at T (soft objectives) or logits (logit matching).</summary>
    public Tensor Plain { get; }

    /// <summary>The same for the mirror images; null when the run does not flip.</summary>
    public Tensor? Mirrored { get; }

    /// <summary>Time spent computing the tables (the teachers' whole cost in the run).</summary>
    public double Seconds { get; }

    public static TeacherTargets Compute(
        IReadOnlyList<ClassifierNetwork> teachers,
        LabeledImages images,
        DistillationSettings settings,
        bool withMirrors,
        Action<int, int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(teachers);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(settings);
        if (teachers.Count == 0) throw new ArgumentException("At least one teacher.", nameof(teachers));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var passes = teachers.Count * (withMirrors ? 2 : 1);
        var done = 0;
        Tensor Table(bool mirror)
        {
            var members = new List<Tensor>();
            try
            {
                foreach (var teacher in teachers)
                {
                    members.Add(Logits(teacher, images, mirror, cancellationToken));
                    progress?.Invoke(++done, passes);
                }
                using var stacked = stack(members);
                if (settings.UsesLogits) return stacked.mean([0]);
                // log of the mean of the members' p(T), through logsumexp so no member's tiny probability underflows.
                using var logP = nn.functional.log_softmax(stacked / settings.Temperature, 2);
                return logP.logsumexp(0).sub_(Math.Log(teachers.Count));
            }
            finally
            {
                foreach (var member in members) member.Dispose();
            }
        }
        if (settings.AverageOverFlips) passes *= withMirrors ? 1 : 2;
        var plain = Table(mirror: false);
        var mirrored = withMirrors || settings.AverageOverFlips ? Table(mirror: true) : null;
        if (settings.AverageOverFlips)
        {
            // One target per image, the mean over both views: log((p + p')/2) for soft targets, (z + z')/2 for logits.
            using var both = stack([plain, mirrored!]);
            var mean = settings.UsesLogits ? both.mean([0]) : both.logsumexp(0).sub_(Math.Log(2));
            plain.Dispose();
            mirrored!.Dispose();
            return new TeacherTargets(mean, withMirrors ? mean.clone() : null, clock.Elapsed.TotalSeconds);
        }
        return new TeacherTargets(plain, mirrored, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The rows of a batch: each sample's plain or mirrored targets, as the batch flipped it.</summary>
    public Tensor For(Tensor indices, Tensor? flipped)
    {
        var plain = Plain.index_select(0, indices);
        if (flipped is null) return plain;
        if (Mirrored is null) throw new InvalidOperationException("The run flips images but the teacher's targets were computed without mirror images.");
        return where(flipped.view(-1, 1), Mirrored.index_select(0, indices), plain);
    }

    private static Tensor Logits(ClassifierNetwork teacher, LabeledImages images, bool mirror, CancellationToken cancellationToken)
    {
        teacher.CheckAccepts(images);
        var wasTraining = teacher.training;
        teacher.eval();
        try
        {
            using var noGrad = no_grad();
            using var folded = new FoldedForward(teacher);
            var batches = new List<Tensor>();
            for (var start = 0; start < images.Count; start += 256)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var size = Math.Min(256, images.Count - start);
                var inputs = ImageTensors.Inputs(images, start, size);
                if (mirror) inputs = inputs.flip(3);
                batches.Add(folded.ForwardRange(0, folded.BlockCount, inputs).MoveToOuterDisposeScope());
            }
            var all = cat(batches, 0);
            foreach (var batch in batches) batch.Dispose();
            return all;
        }
        finally
        {
            if (wasTraining) teacher.train();
        }
    }

    public void Dispose()
    {
        Plain.Dispose();
        Mirrored?.Dispose();
    }
}

/// <summary>
/// The distillation objective as <see cref="Trainer"/> runs it: each batch's teacher rows from <see cref="TeacherTargets"/>.
/// It is also the run's constraint, with no effect on the weights, so that its identity (objective, T, α, teachers) is
/// saved with the run's state and a resume under other settings is refused.
/// </summary>
/// <param name="startHash">The weights the student started from; null for the architecture's seeded initial weights.</param>
public sealed class DistillationObjective(DistillationSettings settings, TeacherTargets targets, IReadOnlyList<string> teacherHashes, string? startHash = null)
    : ITrainingObjective, ITrainingConstraint
{
    public string Identity => $"distillation {settings.Key} from {string.Join("+", teacherHashes)}{(startHash is null ? "" : $" into {startHash}")}";

    public Tensor Loss(TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var teacher = targets.For(batch.Indices, batch.Flipped);
        return settings.BatchLoss(batch.Logits, teacher, batch.Targets);
    }

    public void BeforeBatch(long step, optim.Optimizer optimizer) { }

    public void BeforeOptimizerStep(long step, optim.Optimizer optimizer) { }

    public void AfterOptimizerStep(long step, optim.Optimizer optimizer) { }

    public JsonElement SaveState() => JsonDocument.Parse("{}").RootElement.Clone();

    public void RestoreState(JsonElement saved, optim.Optimizer optimizer) { }
}
