using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace CompressionLab.Core.Quantization;

/// <summary>A conv or linear layer of a <see cref="FoldedNetwork"/>: its weight and bias with the BatchNorm folded in.</summary>
/// <param name="Weight">The folded weight in the layer's own shape ([out, in, kh, kw] or [out, in]), contiguous.</param>
/// <param name="Bias">The folded bias, one per output channel (zeros when the layer had neither bias nor BatchNorm).</param>
/// <param name="IsOutputLayer">The layer that produces the logits.</param>
public sealed record FoldedLayer(string Name, LayerKind Kind, Tensor Weight, Tensor Bias, bool IsOutputLayer);

/// <summary>Sees every layer's input and output during <see cref="FoldedNetwork.Forward"/>.</summary>
public interface IFoldedObserver
{
    /// <summary>The layer's input; return <paramref name="x"/> (no change) or a new tensor that replaces it (the forward disposes it after use).</summary>
    Tensor Input(string layer, Tensor x);

    /// <summary>
    /// The layer's output after the folded conv/linear, before ReLU. Read it during the call: the forward may apply
    /// the ReLU in place afterwards.
    /// </summary>
    void Output(string layer, Tensor y);
}

/// <summary>
/// A <see cref="ClassifierNetwork"/> as deployed for INT8: every BatchNorm folded into the conv/linear before it,
/// W' = W·γ/√(var+ε), b' = β + (b − μ)·γ/√(var+ε), with eval-mode semantics (running statistics, dropout skipped).
/// Calibration observes and quantizes these folded layers, because a deployed INT8 conv has no separate BatchNorm.
/// </summary>
/// <remarks>
/// The arithmetic is the evaluation's (<c>FoldedForward</c>: folding in double, channels-last activations, a
/// single-input-channel conv as im2col + one matrix product), so a calibration pass costs what an evaluation costs
/// plus the observer. The network's own modules are never changed: weights are copied when folded.
/// </remarks>
public sealed class FoldedNetwork : IDisposable
{
    private readonly List<Step> _steps;
    private readonly List<LayerStep> _layerSteps;

    private FoldedNetwork(string architecture, List<Step> steps)
    {
        Architecture = architecture;
        _steps = steps;
        _layerSteps = steps.OfType<LayerStep>().ToList();
        Layers = _layerSteps.Select(s => s.Layer).ToArray();
    }

    public string Architecture { get; }

    /// <summary>The conv/linear layers in layer-table order.</summary>
    public IReadOnlyList<FoldedLayer> Layers { get; }

    public FoldedLayer Layer(string name) =>
        Layers.FirstOrDefault(l => l.Name == name)
        ?? throw new ArgumentException($"Model {Architecture} has no layer '{name}'. Its layers are: {string.Join(", ", Layers.Select(l => l.Name))}.", nameof(name));

    /// <summary>Folds a copy of <paramref name="network"/>; the network is not changed.</summary>
    /// <exception cref="NotSupportedException">A BatchNorm that does not directly follow its layer, or a conv with padding other than zeros in pixels.</exception>
    public static FoldedNetwork Fold(ClassifierNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        using var noGrad = no_grad();
        var steps = new List<Step>();
        var output = network.Layers[^1].Name;
        foreach (var block in network.Blocks)
        {
            var modules = block.Modules;
            for (var i = 0; i < modules.Count; i++)
            {
                var (name, module) = modules[i];
                switch (module)
                {
                    case TorchSharp.Modules.Conv2d conv:
                    {
                        if (conv.padding_mode != PaddingModes.Zeros || conv.padding_type is not null || conv.padding is null)
                            throw new NotSupportedException($"{name}: only zero padding given in pixels can be folded.");
                        var norm = FoldableNorm(network, modules, i);
                        var (w, b) = FoldWeights(conv.weight!, conv.bias, norm);
                        steps.Add(new LayerStep(new FoldedLayer(name, LayerKind.Conv, w, b, name == output),
                            new ConvGeometry(conv.stride, conv.padding!, conv.dilation, conv.groups)));
                        if (norm is not null) i++;
                        break;
                    }
                    case TorchSharp.Modules.Linear linear:
                    {
                        var norm = FoldableNorm(network, modules, i);
                        var (w, b) = FoldWeights(linear.weight!, linear.bias, norm);
                        steps.Add(new LayerStep(new FoldedLayer(name, LayerKind.Linear, w, b, name == output), null));
                        if (norm is not null) i++;
                        break;
                    }
                    case TorchSharp.Modules.ReLU:
                        steps.Add(new ReluStep());
                        break;
                    case TorchSharp.Modules.Dropout or TorchSharp.Modules.Dropout2d or TorchSharp.Modules.Dropout1d:
                        break; // eval mode
                    case TorchSharp.Modules.BatchNorm:
                        throw new NotSupportedException($"{name}: a BatchNorm that does not follow a conv or linear layer cannot be folded.");
                    case TorchSharp.Modules.MaxPool2d or TorchSharp.Modules.AvgPool2d:
                        steps.Add(new ModuleStep(module, FreshOutput: true));
                        break;
                    default:
                        // Stateless shape modules (flatten): the network's own instance, which they do not change.
                        steps.Add(new ModuleStep(module, FreshOutput: false));
                        break;
                }
            }
        }
        return new FoldedNetwork(network.Architecture, steps);
    }

    /// <summary>
    /// Logits of <paramref name="images"/> (normalised, [N, 1, H, W]). The observer sees each layer's input (and may
    /// replace it, e.g. fake-quantized) and its output (after the folded conv/linear, before ReLU). The input is never modified.
    /// </summary>
    public Tensor Forward(Tensor images, IFoldedObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        using var noGrad = no_grad();
        var x = images;
        // owned = x was made here, so in-place ops may overwrite it; the caller's images never are.
        var owned = false;
        foreach (var step in _steps)
        {
            var y = step.Run(x, owned, observer);
            if (ReferenceEquals(y, x)) continue;
            if (owned) x.Dispose();
            owned = step.FreshOutput || owned;
            x = y;
        }
        return owned ? x : x.alias();
    }

    /// <summary>
    /// A copy whose layer weights are <paramref name="weight"/>(layer) (e.g. fake-quantized per channel); biases and
    /// everything else kept. The copy owns the tensors returned (returning the layer's own <see cref="FoldedLayer.Weight"/> is fine: it is cloned).
    /// </summary>
    public FoldedNetwork WithWeights(Func<FoldedLayer, Tensor> weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        using var noGrad = no_grad();
        var steps = new List<Step>();
        foreach (var step in _steps)
        {
            if (step is not LayerStep layerStep)
            {
                steps.Add(step);
                continue;
            }
            var old = layerStep.Layer;
            var given = weight(old);
            if (!given.shape.SequenceEqual(old.Weight.shape))
                throw new ArgumentException($"{old.Name}: a replacement weight must have the layer's shape [{string.Join(", ", old.Weight.shape)}], not [{string.Join(", ", given.shape)}].", nameof(weight));
            var owned = ReferenceEquals(given, old.Weight) ? given.clone() : given;
            var w = owned.detach().to_type(old.Weight.dtype).contiguous();
            if (!ReferenceEquals(w, owned)) owned.Dispose();
            steps.Add(new LayerStep(old with { Weight = w, Bias = old.Bias.clone() }, layerStep.Geometry));
        }
        return new FoldedNetwork(Architecture, steps);
    }

    public void Dispose()
    {
        foreach (var step in _layerSteps) step.Dispose();
    }

    /// <summary>The BatchNorm the layer graph says normalises <c>modules[i]</c>, when it directly follows it; null when none.</summary>
    private static TorchSharp.Modules.BatchNorm? FoldableNorm(ClassifierNetwork network, IReadOnlyList<(string Name, nn.Module<Tensor, Tensor> Module)> modules, int i)
    {
        var channels = network.Graph.Layer(modules[i].Name);
        if (channels.Norm is null) return null;
        if (!channels.NormFollowsDirectly || i + 1 >= modules.Count || modules[i + 1].Name != channels.Norm)
            throw new NotSupportedException($"{channels.Name}: its BatchNorm {channels.Norm} does not directly follow it, so it cannot be folded.");
        return (TorchSharp.Modules.BatchNorm)modules[i + 1].Module;
    }

    /// <summary>
    /// The evaluation's fold (<see cref="BatchNormFolding"/>), with a contiguous weight and a bias always present (zeros
    /// for a layer with neither bias nor BatchNorm), as the observer and fake quantization expect.
    /// </summary>
    private static (Tensor Weight, Tensor Bias) FoldWeights(Tensor weight, Tensor? bias, TorchSharp.Modules.BatchNorm? norm)
    {
        var (folded, foldedBias) = BatchNormFolding.Fold(weight, bias, norm);
        if (!folded.is_contiguous())
        {
            var dense = folded.contiguous();
            folded.Dispose();
            folded = dense;
        }
        return (folded, foldedBias ?? zeros(weight.shape[0], dtype: weight.dtype));
    }

    private abstract class Step
    {
        /// <summary>True when the output is a new tensor nothing else references.</summary>
        public abstract bool FreshOutput { get; }

        public abstract Tensor Run(Tensor x, bool mayOverwrite, IFoldedObserver? observer);
    }

    private sealed class ReluStep : Step
    {
        public override bool FreshOutput => true;

        public override Tensor Run(Tensor x, bool mayOverwrite, IFoldedObserver? observer) => mayOverwrite ? x.relu_() : x.relu();
    }

    private sealed class ModuleStep(nn.Module<Tensor, Tensor> module, bool FreshOutput) : Step
    {
        public override bool FreshOutput { get; } = FreshOutput;

        public override Tensor Run(Tensor x, bool mayOverwrite, IFoldedObserver? observer) => module.call(x);
    }

    private sealed record ConvGeometry(long[] Stride, long[] Padding, long[] Dilation, long Groups);

    private sealed class LayerStep : Step, IDisposable
    {
        private readonly Tensor _prepared;

        public LayerStep(FoldedLayer layer, ConvGeometry? geometry)
        {
            Layer = layer;
            Geometry = geometry;
            using var noGrad = no_grad();
            var w = layer.Weight;
            _prepared = geometry is null ? w.alias()
                : SingleChannel ? w.view(w.shape[0], -1).t().contiguous()
                : ChannelsLast.Of(w);
        }

        public FoldedLayer Layer { get; }
        public ConvGeometry? Geometry { get; }

        private bool SingleChannel => Geometry is not null && Layer.Weight.shape[1] == 1 && Geometry.Groups == 1;

        public override bool FreshOutput => true;

        public override Tensor Run(Tensor x, bool mayOverwrite, IFoldedObserver? observer)
        {
            var input = observer?.Input(Layer.Name, x) ?? x;
            try
            {
                var y = Apply(input);
                observer?.Output(Layer.Name, y);
                return y;
            }
            finally
            {
                if (!ReferenceEquals(input, x)) input.Dispose();
            }
        }

        private Tensor Apply(Tensor x)
        {
            if (Geometry is null) return F.linear(x, _prepared, Layer.Bias);
            var g = Geometry;
            if (SingleChannel && x.dim() == 4 && x.shape[1] == 1)
            {
                // im2col + one matrix product: oneDNN's direct conv is far slower with one input channel; the
                // product comes out [N, H·W, out], i.e. channels-last, which the later layers want.
                var outputs = Layer.Weight.shape[0];
                var (kh, kw) = (Layer.Weight.shape[2], Layer.Weight.shape[3]);
                var height = ((x.shape[2] + (2 * g.Padding[0]) - (g.Dilation[0] * (kh - 1)) - 1) / g.Stride[0]) + 1;
                var width = ((x.shape[3] + (2 * g.Padding[1]) - (g.Dilation[1] * (kw - 1)) - 1) / g.Stride[1]) + 1;
                using var columns = F.unfold(x, (kh, kw), (g.Dilation[0], g.Dilation[1]), (g.Padding[0], g.Padding[1]), (g.Stride[0], g.Stride[1]));
                using var rows = columns.transpose(1, 2).reshape(-1, columns.shape[1]);
                using var product = addmm(Layer.Bias, rows, _prepared, 1, 1);
                return product.view(x.shape[0], height, width, outputs).permute(0, 3, 1, 2);
            }
            if (SingleChannel)
            {
                using var plain = Layer.Weight.alias();
                return F.conv2d(x, plain, Layer.Bias, g.Stride, g.Padding, g.Dilation, g.Groups);
            }
            if (ChannelsLast.Is(x)) return F.conv2d(x, _prepared, Layer.Bias, g.Stride, g.Padding, g.Dilation, g.Groups);
            using var nhwc = ChannelsLast.Of(x);
            return F.conv2d(nhwc, _prepared, Layer.Bias, g.Stride, g.Padding, g.Dilation, g.Groups);
        }

        public void Dispose()
        {
            _prepared.Dispose();
            Layer.Weight.Dispose();
            Layer.Bias.Dispose();
        }
    }
}
