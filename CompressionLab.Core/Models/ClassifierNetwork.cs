using CompressionLab.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// A run of modules executed in order that contains at most one prunable layer. Pruning that
/// layer changes nothing computed by earlier blocks, which is what prefix caching relies on.
/// </summary>
public sealed class ModelBlock
{
    internal ModelBlock(int index, string? layerName, IReadOnlyList<(string Name, nn.Module<Tensor, Tensor> Module)> modules)
    {
        Index = index;
        LayerName = layerName;
        Modules = modules;
    }

    public int Index { get; }

    /// <summary>Qualified name of the conv or linear layer in this block; null for a block without one.</summary>
    public string? LayerName { get; }

    /// <summary>Modules with their qualified names (e.g. <c>stage1.bn1</c>), in execution order.</summary>
    public IReadOnlyList<(string Name, nn.Module<Tensor, Tensor> Module)> Modules { get; }

    public Tensor Forward(Tensor input)
    {
        var x = input;
        foreach (var (_, module) in Modules)
        {
            var next = SingleChannelConv.ForwardModule(module, x);
            if (!ReferenceEquals(x, input)) x.Dispose();
            x = next;
        }
        return ReferenceEquals(x, input) ? input.alias() : x;
    }
}

/// <summary>What an architecture declares: its blocks, grouped by stage, with local module names.</summary>
internal sealed record BlockSpec(string Stage, string? LayerLocalName, IReadOnlyList<(string LocalName, nn.Module<Tensor, Tensor> Module)> Modules);

/// <summary>
/// A zoo classifier: a sequence of blocks grouped into named stages (<c>stage1</c>, ...,
/// <c>classifier</c>), so parameter names read like <c>stage1.conv1.weight</c>. Exposes an ordered
/// layer table; the engine prunes, hooks and quantizes through it.
/// </summary>
public sealed class ClassifierNetwork : nn.Module<Tensor, Tensor>
{
    private readonly List<ModelBlock> _blocks = [];

    internal ClassifierNetwork(string architecture, int inputHeight, int inputWidth, int classCount, IReadOnlyList<BlockSpec> specs,
        IReadOnlyDictionary<string, int>? widths = null)
        : base(architecture)
    {
        Architecture = architecture;
        Widths = widths;
        InputHeight = inputHeight;
        InputWidth = inputWidth;
        ClassCount = classCount;

        foreach (var stage in specs.Select(s => s.Stage).Distinct())
        {
            var children = specs.Where(s => s.Stage == stage).SelectMany(s => s.Modules).ToArray();
            register_module(stage, nn.Sequential(children));
        }
        for (var i = 0; i < specs.Count; i++)
        {
            var spec = specs[i];
            var layer = spec.LayerLocalName is null ? null : $"{spec.Stage}.{spec.LayerLocalName}";
            _blocks.Add(new ModelBlock(i, layer, spec.Modules.Select(m => ($"{spec.Stage}.{m.LocalName}", m.Module)).ToArray()));
        }
        Layers = MeasureLayers();
        Graph = LayerGraph.Of(this);
    }

    public string Architecture { get; }
    public int InputHeight { get; }
    public int InputWidth { get; }
    public int ClassCount { get; }

    /// <summary>
    /// The output channels of every layer but the output layer when they differ from the architecture's defaults (a
    /// thinned model, <see cref="ModelZoo.Create"/>'s <c>widths</c>), in layer-table order; null for the zoo's own widths.
    /// A checkpoint records them, so the same network is built when it is loaded.
    /// </summary>
    public IReadOnlyDictionary<string, int>? Widths { get; }

    public IReadOnlyList<ModelBlock> Blocks => _blocks;
    public IReadOnlyList<LayerInfo> Layers { get; }

    /// <summary>How the layers' channels connect: each layer's BatchNorm, its consumers, coupled channels.</summary>
    public LayerGraph Graph { get; }

    public LayerInfo Layer(string name) =>
        Layers.FirstOrDefault(l => l.Name == name)
        ?? throw new ArgumentException($"Model {Architecture} has no prunable layer '{name}'. Its layers are: {string.Join(", ", Layers.Select(l => l.Name))}.");

    /// <summary>The conv or linear module of a layer in the table.</summary>
    public nn.Module<Tensor, Tensor> LayerModule(string name)
    {
        var layer = Layer(name);
        return _blocks[layer.BlockIndex].Modules.First(m => m.Name == name).Module;
    }

    /// <summary>Any module of the network by its qualified name (e.g. <c>stage1.bn1</c>, a name of <see cref="Graph"/>).</summary>
    public nn.Module<Tensor, Tensor> ModuleNamed(string name) =>
        _blocks.SelectMany(b => b.Modules).FirstOrDefault(m => m.Name == name).Module
        ?? throw new ArgumentException($"Model {Architecture} has no module '{name}'.");

    /// <summary>The weight tensor of a layer in the table (a live parameter, not a copy).</summary>
    public Tensor LayerWeight(string name) => LayerModule(name) switch
    {
        TorchSharp.Modules.Conv2d conv => conv.weight!,
        TorchSharp.Modules.Linear linear => linear.weight!,
        var other => throw new InvalidOperationException($"Layer {name} is a {other.GetType().Name}, not conv or linear."),
    };

    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Throws an <see cref="ArgumentException"/> when <paramref name="images"/> do not fit this model's input or classes.</summary>
    public void CheckAccepts(LabeledImages images)
    {
        if (ClassCount != images.ClassCount)
            throw new ArgumentException($"Model {Architecture} has {ClassCount} classes but {images.Name} has {images.ClassCount}.");
        if (InputHeight != images.Height || InputWidth != images.Width)
            throw new ArgumentException($"Model {Architecture} takes {InputHeight}×{InputWidth} images but {images.Name} has {images.Height}×{images.Width}.");
    }

    public override Tensor forward(Tensor input) => ForwardFrom(0, input);

    /// <summary>Runs blocks <paramref name="firstBlock"/>.. to the logits, starting from that block's input.</summary>
    public Tensor ForwardFrom(int firstBlock, Tensor blockInput) => ForwardRange(firstBlock, _blocks.Count, blockInput);

    /// <summary>Runs blocks [<paramref name="from"/>, <paramref name="to"/>); returns the input of block <paramref name="to"/>.</summary>
    public Tensor ForwardRange(int from, int to, Tensor input)
    {
        var x = input;
        for (var i = from; i < to; i++)
        {
            var next = _blocks[i].Forward(x);
            if (!ReferenceEquals(x, input)) x.Dispose();
            x = next;
        }
        return ReferenceEquals(x, input) ? input.alias() : x;
    }

    /// <summary>Output sizes come from one real forward pass, so the table cannot drift from the code.</summary>
    private List<LayerInfo> MeasureLayers()
    {
        var wasTraining = training;
        eval();
        var layers = new List<LayerInfo>();
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var x = zeros(1, 1, InputHeight, InputWidth);
            foreach (var block in _blocks)
            {
                foreach (var (name, module) in block.Modules)
                {
                    // As the forward pass runs it, so no NCHW conv reaches oneDNN in a channels-last-only process (TorchRuntime).
                    x = SingleChannelConv.ForwardModule(module, x);
                    if (name != block.LayerName) continue;
                    var (kind, weight, bias) = module switch
                    {
                        TorchSharp.Modules.Conv2d c => (LayerKind.Conv, c.weight!, c.bias),
                        TorchSharp.Modules.Linear l => (LayerKind.Linear, l.weight!, l.bias),
                        _ => throw new InvalidOperationException($"{name} is neither conv nor linear."),
                    };
                    var shape = weight.shape;
                    int height = 1, width = 1;
                    if (kind == LayerKind.Conv)
                    {
                        height = (int)x.shape[2];
                        width = (int)x.shape[3];
                    }
                    // A conv output element costs in·kh·kw MACs; a linear output costs in.
                    var macsPerOutput = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
                    var macs = macsPerOutput * shape[0] * height * width;
                    var parameters = weight.numel() + (bias?.numel() ?? 0);
                    var stage = name[..name.IndexOf('.')];
                    layers.Add(new LayerInfo(name, kind, shape, height, width, stage, parameters, macs, block.Index));
                }
            }
        }
        if (wasTraining) train();
        return layers;
    }
}
