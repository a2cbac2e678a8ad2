using System.Text.Json;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// A rule <see cref="Trainer"/> keeps the weights to while it trains, called around every optimizer step (e.g. pruning masks
/// held through fine-tuning, <c>Core/Pruning/MaskedTraining</c>). What it needs to continue is saved in the run's
/// <see cref="TrainingState"/> after every epoch and given back on resume, so a resumed run keeps the rule exactly.
/// </summary>
/// <remarks>Steps are counted over the whole run from 0: batch b (1-based) of epoch e is step (e − 1)·batches per epoch + b − 1.</remarks>
public interface ITrainingConstraint
{
    /// <summary>
    /// What the rule is, in words that change when a resumed run would not be the same run (e.g. the plan, the parent
    /// weights and the schedule). A state saved under another identity is refused, naming both.
    /// </summary>
    string Identity { get; }

    /// <summary>Before the forward pass of <paramref name="step"/>: the place to change what the rule imposes.</summary>
    void BeforeBatch(long step, optim.Optimizer optimizer);

    /// <summary>After the backward pass of <paramref name="step"/>, before the optimizer's step.</summary>
    void BeforeOptimizerStep(long step, optim.Optimizer optimizer);

    /// <summary>After the optimizer's step of <paramref name="step"/>.</summary>
    void AfterOptimizerStep(long step, optim.Optimizer optimizer);

    /// <summary>What a resumed run needs besides the weights and the optimizer (which the state holds anyway).</summary>
    JsonElement SaveState();

    /// <summary>
    /// Takes back what <see cref="SaveState"/> gave, after the weights and the optimizer were restored.
    /// </summary>
    /// <exception cref="InvalidDataException">The saved value cannot be used (the message says why).</exception>
    void RestoreState(JsonElement saved, optim.Optimizer optimizer);
}

/// <summary>One training batch as an objective sees it.</summary>
/// <param name="Logits">The model's output, [batch × classes], part of the graph the loss is differentiated through.</param>
/// <param name="Targets">The true labels (int64).</param>
/// <param name="Indices">Each sample's index in the training images (int64): what a per-image table (a teacher's logits) is read by.</param>
/// <param name="Flipped">Which samples were mirrored (bool); null when the run does not flip.</param>
/// <param name="Inputs">The batch's images as the model saw them (normalised, flipped): what a teacher run per step (FitNets hints) reads.</param>
public sealed record TrainingBatch(Tensor Logits, Tensor Targets, Tensor Indices, Tensor? Flipped, Tensor? Inputs = null);

/// <summary>The loss <see cref="Trainer"/> minimises instead of cross-entropy with the labels.</summary>
public interface ITrainingObjective
{
    /// <summary>The batch's scalar loss (mean over the batch), differentiable through <see cref="TrainingBatch.Logits"/>.</summary>
    Tensor Loss(TrainingBatch batch);
}

/// <summary>
/// An objective that trains more than the model's weights with cross-entropy: it runs the step's forward pass itself (to
/// keep what its loss needs, e.g. the model's stage outputs or a peer's logits) and names the parameters the optimizer
/// updates, which may include its own modules' (FitNets regressors, a mutual-learning peer). Those modules are not part of
/// the model; their weights belong in the objective's <see cref="ITrainingConstraint.SaveState"/> so that a resumed run
/// continues them too.
/// </summary>
public interface IModuleTrainingObjective : ITrainingObjective
{
    /// <summary>
    /// The parameters one optimizer updates: all or some of <paramref name="model"/>'s, then the objective's own. Always the
    /// same order: a resumed run's optimizer state is matched to them by position.
    /// </summary>
    IEnumerable<TorchSharp.Modules.Parameter> TrainedParameters(ClassifierNetwork model);

    /// <summary>The step's forward pass of <paramref name="model"/> (in training mode) on <paramref name="inputs"/>: its logits.</summary>
    Tensor Forward(ClassifierNetwork model, Tensor inputs);
}
