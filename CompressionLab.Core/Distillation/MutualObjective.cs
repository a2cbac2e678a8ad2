using System.Text;
using System.Text.Json;
using CompressionLab.Core.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CompressionLab.Core.Distillation;

/// <summary>
/// Deep mutual learning (Zhang et al. 2018) as <see cref="Trainer"/> runs it: the trained model and a peer see the same
/// augmented batch; each minimises CE + [T²·]KL(other(T) ‖ self(T)) with the other's prediction held fixed, and both are
/// updated in the same step (the paper updates them one after the other; here each step's two predictions come from the
/// weights before the step, which treats both alike). One AdamW over both parameter sets is the same as one each: AdamW is
/// elementwise per parameter and both follow the same schedule. The peer's weights (with its BatchNorm statistics) are this
/// constraint's state, so a resumed run continues both students.
/// </summary>
/// <param name="identity">What distinguishes the run: the objective's key and the peer's architecture, seed and start.</param>
public sealed class MutualObjective(DistillationSettings settings, ClassifierNetwork peer, string identity)
    : IModuleTrainingObjective, ITrainingConstraint
{
    private Tensor? _peerLogits;

    public ClassifierNetwork Peer { get; } = peer ?? throw new ArgumentNullException(nameof(peer));

    public string Identity { get; } = identity;

    public IEnumerable<Parameter> TrainedParameters(ClassifierNetwork model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.parameters().Concat(Peer.parameters());
    }

    public Tensor Forward(ClassifierNetwork model, Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(model);
        var logits = model.call(inputs);
        // The trainer puts only its model in training mode (and validation puts it in eval mode): the peer's turn is here.
        Peer.train();
        _peerLogits = Peer.call(inputs);
        return logits;
    }

    public Tensor Loss(TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var peerLogits = _peerLogits ?? throw new InvalidOperationException("The mutual loss needs this objective's forward pass of the batch.");
        _peerLogits = null;
        return MutualLoss(settings, batch.Logits, peerLogits, batch.Targets);
    }

    /// <summary>
    /// Both students' losses in one tensor whose value is the first's, CE(z₁) + [T²·]KL(p₂ ‖ p₁), and whose gradient is
    /// each student's own: with respect to <paramref name="first"/>, that of the first's loss (p₂ detached); with respect to
    /// <paramref name="second"/>, that of CE(z₂) + [T²·]KL(p₁ ‖ p₂) (p₁ detached). The second's loss enters as
    /// L₂ − detach(L₂), zero in value, so the trainer's reported loss is the first student's.
    /// </summary>
    public static Tensor MutualLoss(DistillationSettings settings, Tensor first, Tensor second, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        using var scope = NewDisposeScope();
        var t = settings.Temperature;
        var targetsForFirst = nn.functional.log_softmax(second.detach() / t, 1);
        var targetsForSecond = nn.functional.log_softmax(first.detach() / t, 1);
        var own = settings.BatchLoss(first, targetsForFirst, labels);
        var peers = settings.BatchLoss(second, targetsForSecond, labels);
        return (own + (peers - peers.detach())).MoveToOuterDisposeScope();
    }

    public void BeforeBatch(long step, optim.Optimizer optimizer) { }

    public void BeforeOptimizerStep(long step, optim.Optimizer optimizer) { }

    public void AfterOptimizerStep(long step, optim.Optimizer optimizer) { }

    /// <summary>The peer's weights and BatchNorm buffers (TorchSharp format), base64 in the state's header.</summary>
    public JsonElement SaveState()
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) Peer.save(writer);
        return JsonSerializer.SerializeToElement(new { peer = Convert.ToBase64String(buffer.ToArray()) });
    }

    public void RestoreState(JsonElement saved, optim.Optimizer optimizer)
    {
        if (saved.ValueKind != JsonValueKind.Object || !saved.TryGetProperty("peer", out var value) || value.GetString() is not { } text)
            throw new InvalidDataException("it holds no peer weights");
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(text);
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"the peer's weights are not base64 ({e.Message})", e);
        }
        var mismatch = TorchSharpWeights.Mismatch(TorchSharpWeights.ReadLayout(bytes), Peer);
        if (mismatch is not null) throw new InvalidDataException($"the saved peer does not fit {Peer.Architecture}: {mismatch}");
        using var reader = new BinaryReader(new MemoryStream(bytes, writable: false), Encoding.UTF8);
        Peer.load(reader, strict: true);
    }
}
