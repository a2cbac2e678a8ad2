using CompressionLab.Core.Models;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace CompressionLab.Core.Pruning;

/// <summary>An evaluation-mode forward pass over a network's blocks in which one layer can be pruned at a time.</summary>
internal interface IPrunableForward : IDisposable
{
    int BlockCount { get; }

    /// <summary>Runs blocks [from, to) on a batch; the input is never modified.</summary>
    Tensor ForwardRange(int from, int to, Tensor input);

    /// <summary>Puts a mask in force until the result is disposed (then the dense layer is back).</summary>
    IDisposable Prune(PruningMask mask);
}

/// <summary>Runs the network's own modules; masks are applied to its live weights and restored afterwards.</summary>
internal sealed class ModuleForward(ClassifierNetwork network) : IPrunableForward
{
    public int BlockCount => network.Blocks.Count;

    public Tensor ForwardRange(int from, int to, Tensor input) => network.ForwardRange(from, to, input);

    public IDisposable Prune(PruningMask mask) => mask.ApplyTo(network);

    public void Dispose()
    {
    }
}

/// <summary>
/// The network compiled for inference (eval-mode semantics: BN uses its running statistics):
/// <list type="bullet">
/// <item>every conv or linear layer whose BatchNorm (in the network's <see cref="LayerGraph"/>) directly follows it becomes one conv/linear with
/// folded weight w·γ/√(σ²+ε) and bias (b − μ)·γ/√(σ²+ε) + β, saving a full pass over the activation;</item>
/// <item>activations are channels-last (oneDNN's NHWC convs and PyTorch's NHWC max-pool are much
/// faster than NCHW on this CPU), and a single-input-channel conv runs as im2col + one matrix product;</item>
/// <item>dropout is skipped; ReLU after a fresh output runs in place.</item>
/// </list>
/// Outputs agree with the modules to float rounding. Masks are applied to copies of the folded
/// tensors, so the network itself is never touched.
/// </summary>
internal sealed class FoldedForward : IPrunableForward
{
    private readonly List<List<Step>> _blocks = [];
    private readonly Dictionary<string, AffineStep> _layers = [];

    public FoldedForward(ClassifierNetwork network)
    {
        using var noGrad = no_grad();
        foreach (var block in network.Blocks)
        {
            var steps = new List<Step>();
            var modules = block.Modules;
            for (var i = 0; i < modules.Count; i++)
            {
                var (name, module) = modules[i];
                var next = module is TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear ? FoldableNorm(network, modules, i) : null;
                switch (module)
                {
                    case TorchSharp.Modules.Conv2d conv:
                        if (conv.padding_mode != PaddingModes.Zeros || conv.padding_type is not null || conv.padding is null)
                            throw new NotSupportedException($"{name}: only zero padding given in pixels can be folded; run the sweep with FoldBatchNorm = false.");
                        var convStep = AffineStep.Conv(name, conv.weight!, conv.bias, next, conv.stride, conv.padding!, conv.dilation, conv.groups);
                        steps.Add(convStep);
                        _layers[name] = convStep;
                        if (next is not null) i++;
                        break;
                    case TorchSharp.Modules.Linear linear:
                        var linearStep = AffineStep.Linear(name, linear.weight!, linear.bias, next);
                        steps.Add(linearStep);
                        _layers[name] = linearStep;
                        if (next is not null) i++;
                        break;
                    case TorchSharp.Modules.ReLU:
                        steps.Add(new ReluStep());
                        break;
                    case TorchSharp.Modules.Dropout or TorchSharp.Modules.Dropout2d or TorchSharp.Modules.Dropout1d:
                        break;
                    case TorchSharp.Modules.MaxPool2d or TorchSharp.Modules.AvgPool2d:
                        steps.Add(new ModuleStep(module, FreshOutput: true));
                        break;
                    default:
                        steps.Add(new ModuleStep(module, FreshOutput: false));
                        break;
                }
            }
            _blocks.Add(steps);
        }
    }

    public int BlockCount => _blocks.Count;

    /// <summary>
    /// The BatchNorm that the layer graph says normalises layer <c>modules[i]</c>, when it is the next module
    /// and the only reader of the layer (so folding changes nothing else); null when the layer has none.
    /// </summary>
    private static TorchSharp.Modules.BatchNorm? FoldableNorm(ClassifierNetwork network, IReadOnlyList<(string Name, nn.Module<Tensor, Tensor> Module)> modules, int i)
    {
        var channels = network.Graph.Layer(modules[i].Name);
        if (channels.Norm is null) return null;
        if (!channels.NormFollowsDirectly || i + 1 >= modules.Count || modules[i + 1].Name != channels.Norm)
            throw new NotSupportedException($"{channels.Name}: its BatchNorm {channels.Norm} does not directly follow it, so it cannot be folded; run the sweep with FoldBatchNorm = false.");
        return (TorchSharp.Modules.BatchNorm)modules[i + 1].Module;
    }

    public Tensor ForwardRange(int from, int to, Tensor input)
    {
        var x = input;
        // "owned" = x was made here, so in-place ops may overwrite it; the caller's input never is.
        var owned = false;
        // A conv whose output channels were padded (AffineStep.PaddedOutputs) leaves zero channels behind it; ReLU and
        // pooling keep them zero and run faster on them, everything else gets the real channels back first.
        long channels = 0;
        for (var b = from; b < to; b++)
        {
            foreach (var step in _blocks[b])
            {
                if (channels > 0 && !step.ChannelWise)
                {
                    var narrow = ChannelPadding.Narrow(x, channels);
                    if (owned) x.Dispose();
                    (x, owned, channels) = (narrow, true, 0);
                }
                var y = step.Run(x, owned);
                if (step is AffineStep { PaddedOutputs: true } padded) channels = padded.Outputs;
                if (ReferenceEquals(y, x)) continue;
                if (owned) x.Dispose();
                owned = step.FreshOutput || owned;
                x = y;
            }
        }
        if (channels > 0)
        {
            var narrow = ChannelPadding.Narrow(x, channels);
            if (owned) x.Dispose();
            return narrow;
        }
        return owned ? x : x.alias();
    }

    public IDisposable Prune(PruningMask mask)
    {
        if (!_layers.TryGetValue(mask.LayerName, out var step))
            throw new ArgumentException($"No prunable layer '{mask.LayerName}' in this network.");
        return step.Override(mask);
    }

    public void Dispose()
    {
        foreach (var step in _layers.Values) step.Dispose();
    }

    private abstract class Step
    {
        /// <summary>True when the output is a new tensor that nothing else references.</summary>
        public abstract bool FreshOutput { get; }

        /// <summary>True when each output channel depends on the same input channel only, and a zero channel stays zero (ReLU, pooling).</summary>
        public virtual bool ChannelWise => false;

        public abstract Tensor Run(Tensor x, bool mayOverwrite);
    }

    private sealed class ReluStep : Step
    {
        public override bool FreshOutput => true;

        public override bool ChannelWise => true;

        public override Tensor Run(Tensor x, bool mayOverwrite) => mayOverwrite ? x.relu_() : x.relu();
    }

    private sealed class ModuleStep(nn.Module<Tensor, Tensor> module, bool FreshOutput) : Step
    {
        public override bool FreshOutput { get; } = FreshOutput;

        // Max- and average-pooling (with zero padding) map a zero channel to a zero channel.
        public override bool ChannelWise { get; } = module is TorchSharp.Modules.MaxPool2d or TorchSharp.Modules.AvgPool2d;

        public override Tensor Run(Tensor x, bool mayOverwrite) => module.call(x);
    }

    /// <summary>A conv or linear layer with its following BatchNorm folded in.</summary>
    private sealed class AffineStep : Step, IDisposable
    {
        private readonly string _name;
        private readonly IReadOnlyList<long> _shape;
        private readonly Tensor _weight;
        private readonly Tensor? _bias;
        private readonly Func<Tensor, Tensor> _prepare;
        private readonly Func<Tensor, Tensor, Tensor?, Tensor> _apply;
        private readonly Tensor _prepared;
        private readonly Tensor? _preparedBias;
        private readonly long _runOutputs;
        private Tensor? _maskedPrepared;
        private Tensor? _maskedBias;

        /// <param name="weight">The folded weight, in the layer's own shape (masks index it).</param>
        /// <param name="prepare">Puts a (masked, padded) folded weight into the form <paramref name="apply"/> wants (layout, matrix shape).</param>
        /// <param name="runOutputs">Output channels the layer runs with: its own, or more (zero filters, see <see cref="ChannelPadding"/>).</param>
        private AffineStep(string name, Tensor weight, Tensor? bias, Func<Tensor, Tensor> prepare, Func<Tensor, Tensor, Tensor?, Tensor> apply, long? runOutputs = null)
        {
            _name = name;
            _shape = weight.shape;
            _weight = weight;
            _bias = bias;
            _prepare = prepare;
            _apply = apply;
            _runOutputs = runOutputs ?? weight.shape[0];
            _prepared = Prepare(weight);
            _preparedBias = PrepareBias(bias);
        }

        public override bool FreshOutput => true;

        /// <summary>The layer's own output channels.</summary>
        public long Outputs => _shape[0];

        /// <summary>True when the layer runs with zero filters added (its output has more channels than <see cref="Outputs"/>, the extra ones zero).</summary>
        public bool PaddedOutputs => _runOutputs != _shape[0];

        public static AffineStep Conv(string name, Tensor weight, Tensor? bias, TorchSharp.Modules.BatchNorm? norm, long[] stride, long[] padding, long[] dilation, long groups)
        {
            var (w, b) = BatchNormFolding.Fold(weight, bias, norm);
            var outputs = w.shape[0];
            var kernel = new[] { w.shape[2], w.shape[3] };
            if (w.shape[1] == 1 && groups == 1)
            {
                // Single input channel: oneDNN's direct conv is an order of magnitude slower than
                // im2col + one matrix product here (K = kh·kw is tiny). The product is laid out
                // [N, H·W, out], i.e. channels-last, which the next layers want anyway.
                return new AffineStep(name, w, b, t => t.view(outputs, -1).t().contiguous(), (x, wt, bs) =>
                {
                    var height = ((x.shape[2] + (2 * padding[0]) - (dilation[0] * (kernel[0] - 1)) - 1) / stride[0]) + 1;
                    var width = ((x.shape[3] + (2 * padding[1]) - (dilation[1] * (kernel[1] - 1)) - 1) / stride[1]) + 1;
                    using var columns = F.unfold(x, (kernel[0], kernel[1]), (dilation[0], dilation[1]), (padding[0], padding[1]), (stride[0], stride[1]));
                    // Every intermediate handle is disposed here: one left to the GC keeps its storage (megabytes
                    // at batch 64) alive until a finalizer runs, so each pass would take fresh, page-faulting memory.
                    using var transposed = columns.transpose(1, 2);
                    using var rows = transposed.reshape(-1, columns.shape[1]);
                    using var product = bs is null ? rows.mm(wt) : torch.addmm(bs, rows, wt, 1, 1);
                    using var nhwc = product.view(x.shape[0], height, width, outputs);
                    return nhwc.permute(0, 3, 1, 2);
                });
            }
            // Channels-last: oneDNN's NHWC convs and PyTorch's NHWC max-pool are much faster here than NCHW.
            return new AffineStep(name, w, b, ChannelsLast.Of, (x, wt, bs) =>
            {
                if (ChannelsLast.Is(x)) return F.conv2d(x, wt, bs, stride, padding, dilation, groups);
                using var input = ChannelsLast.Of(x);
                return F.conv2d(input, wt, bs, stride, padding, dilation, groups);
            }, ChannelPadding.RunOutputs(outputs, groups));
        }

        public static AffineStep Linear(string name, Tensor weight, Tensor? bias, TorchSharp.Modules.BatchNorm? norm)
        {
            var (w, b) = BatchNormFolding.Fold(weight, bias, norm);
            return new AffineStep(name, w, b, t => t.alias(), (x, wt, bs) => F.linear(x, wt, bs));
        }

        private Tensor Prepare(Tensor weight)
        {
            using var noGrad = no_grad();
            if (!PaddedOutputs) return _prepare(weight);
            using var padded = ChannelPadding.PadRows(weight, _runOutputs);
            return _prepare(padded);
        }

        /// <summary>The bias the layer runs with: its own, or with zeros for the padded filters (a copy either way).</summary>
        private Tensor? PrepareBias(Tensor? bias)
        {
            using var noGrad = no_grad();
            return bias is null ? null : PaddedOutputs ? ChannelPadding.PadRows(bias, _runOutputs) : bias.alias();
        }

        public override Tensor Run(Tensor x, bool mayOverwrite) => _maskedPrepared is null ? _apply(x, _prepared, _preparedBias) : _apply(x, _maskedPrepared, _maskedBias);

        /// <summary>
        /// Masks copies of the folded tensors. For filters the bias row goes too, which is exactly
        /// what zeroing the conv filter, its bias and the following BN's γ and β gives: output 0.
        /// </summary>
        public IDisposable Override(PruningMask mask)
        {
            if (_maskedPrepared is not null)
                throw new InvalidOperationException($"{_name} is already pruned; dispose the previous mask first.");
            if (!_shape.SequenceEqual(mask.WeightShape))
                throw new ArgumentException($"Mask for {_name} expects weight shape [{string.Join(", ", mask.WeightShape)}] but the layer's is [{string.Join(", ", _shape)}].");
            using var noGrad = no_grad();
            using var index = mask.UnitIndexTensor();
            // An explicit Scalar kept alive across the native calls: an implicit one is a temporary the GC may free mid-call.
            using var zero = 0.0.ToScalar();
            using var weight = _weight.clone();
            var bias = _bias?.clone();
            if (mask.PrunedCount > 0)
            {
                if (mask.Criterion == PruningCriterion.Element)
                {
                    using var flat = weight.view(-1);
                    flat.index_fill_(0, index, zero);
                }
                else
                {
                    weight.index_fill_(0, index, zero);
                    bias?.index_fill_(0, index, zero);
                }
            }
            _maskedPrepared = Prepare(weight);
            _maskedBias = PrepareBias(bias);
            bias?.Dispose();
            return new Restore(this);
        }

        public void Dispose()
        {
            ClearOverride();
            _prepared.Dispose();
            _preparedBias?.Dispose();
            _weight.Dispose();
            _bias?.Dispose();
        }

        private void ClearOverride()
        {
            _maskedPrepared?.Dispose();
            _maskedBias?.Dispose();
            _maskedPrepared = null;
            _maskedBias = null;
        }

        private sealed class Restore(AffineStep step) : IDisposable
        {
            private bool _done;

            public void Dispose()
            {
                if (_done) return;
                _done = true;
                step.ClearOverride();
            }
        }
    }
}

/// <summary>
/// Output channels a conv runs with in the inference forward. oneDNN's AVX2 convolutions (brgconv) block output channels
/// by 8; a conv whose count is not a multiple of 8 (a thinned layer: 18, 20, 41 ...) runs its remainder block on a
/// slower path, and PyTorch's channels-last max-pool vectorises over channels the same way. Measured here (batch 64, one
/// thread, ms per call; docs/pruning-plan.md): 20→20 at 28×28 4.66, 20→24 4.01; 18→18 4.30, 18→24 3.71; 36→41 at
/// 14×14 4.16, 36→48 3.71; max-pool of 20 channels at 28×28 1.16, of 24 0.48. So a conv with such a count runs with zero
/// filters (and zero bias) added up to the next multiple of 8: more MACs, less time. The extra channels are exactly 0,
/// stay 0 through ReLU and pooling, and are cut off (one channels-last copy of the smaller, pooled tensor) before any
/// other step reads the activation. Input channels are never padded: there the extra MACs cost time
/// (20→20 with 24 inputs: 6.79 ms).
/// </summary>
internal static class ChannelPadding
{
    /// <summary>Channels are padded to a multiple of this.</summary>
    public const long Multiple = 8;

    /// <summary>The output channels a conv with <paramref name="outputs"/> filters runs with (grouped convs are left alone).</summary>
    public static long RunOutputs(long outputs, long groups) =>
        groups != 1 || outputs <= Multiple || outputs % Multiple == 0 ? outputs : (outputs + Multiple - 1) / Multiple * Multiple;

    /// <summary><paramref name="t"/> with zero rows appended along dimension 0 up to <paramref name="rows"/> (a new tensor).</summary>
    public static Tensor PadRows(Tensor t, long rows)
    {
        var shape = t.shape.ToArray();
        shape[0] = rows;
        var padded = zeros(shape, t.dtype);
        using var head = padded.narrow(0, 0, t.shape[0]);
        head.copy_(t);
        return padded;
    }

    /// <summary>The first <paramref name="channels"/> channels of <paramref name="x"/>, channels-last and dense (a new tensor).</summary>
    public static Tensor Narrow(Tensor x, long channels)
    {
        using var view = x.narrow(1, 0, channels);
        return ChannelsLast.Of(view);
    }
}

/// <summary>
/// Channels-last (NHWC in memory, NCHW in shape) tensors, the layout oneDNN's fast CPU convs and
/// PyTorch's fast max-pool use. TorchSharp has no memory_format argument, so the layout is made by
/// permuting to NHWC, copying, and permuting back, which PyTorch recognises by the strides.
/// </summary>
internal static class ChannelsLast
{
    public static bool Is(Tensor x) => x.dim() == 4 && x.stride(1) == 1 && x.stride(3) == x.shape[1];

    public static Tensor Of(Tensor x)
    {
        if (x.dim() != 4) return x.alias();
        using var nhwc = x.permute(0, 2, 3, 1).contiguous();
        return nhwc.permute(0, 3, 1, 2);
    }

    /// <summary>An uninitialised [N, C, H, W] tensor laid out like <paramref name="like"/> (channels-last or contiguous).</summary>
    public static Tensor EmptyLike(Tensor like, long count)
    {
        var shape = like.shape.ToArray();
        shape[0] = count;
        if (!Is(like) || like.shape[1] == 1) return empty(shape, like.dtype);
        using var nhwc = empty([count, shape[2], shape[3], shape[1]], like.dtype);
        return nhwc.permute(0, 3, 1, 2);
    }
}
