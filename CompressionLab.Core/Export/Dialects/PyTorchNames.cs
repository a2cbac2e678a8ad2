using System.Globalization;
using System.Text;
using CompressionLab.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Export.Dialects;

/// <summary>How the PyTorch twin of a zoo network is written, which decides its module names.</summary>
public enum PyTorchNaming
{
    /// <summary>
    /// One flat <c>nn.Sequential</c> of every module in execution order, as <c>benchmarks/pytorch_train_step.py</c> writes
    /// vgg-small: module i is named <c>"i"</c> (<c>stage1.conv1</c> → <c>0</c>, <c>stage1.conv1.weight</c> → <c>0.weight</c>).
    /// </summary>
    Sequential,

    /// <summary>
    /// Our own names: one <c>nn.Sequential(OrderedDict(...))</c> per stage with its modules' local names, so every name is
    /// unchanged (<c>stage1.conv1.weight</c>); what <c>DistillerStatsYaml</c> assumes.
    /// </summary>
    Nested,
}

/// <summary>One module of the PyTorch twin.</summary>
/// <param name="Name">Its name in PyTorch's <c>named_modules()</c>.</param>
/// <param name="Source">Our qualified module name (<c>stage1.bn1</c>).</param>
/// <param name="Definition">Its constructor as PyTorch code, e.g. <c>nn.Conv2d(1, 24, kernel_size=3, padding=1, bias=False)</c>.</param>
public sealed record PyTorchModule(string Name, string Source, string Definition);

/// <summary>One state-dict entry under both names.</summary>
/// <param name="Source">Our state-dict key (<c>stage1.bn1.running_mean</c>).</param>
/// <param name="Name">PyTorch's key for the same tensor (<c>1.running_mean</c> under <see cref="PyTorchNaming.Sequential"/>).</param>
public sealed record PyTorchParameter(string Source, string Name, ScalarType Type, IReadOnlyList<long> Shape);

/// <summary>
/// The names a PyTorch user has for a zoo network (<see cref="ClassifierNetwork"/>, thinned widths included): its modules,
/// with their PyTorch definitions, and every state-dict entry (weights, biases, BatchNorm's γ, β, running mean and variance,
/// <c>num_batches_tracked</c>) under our name and theirs. The modules are read off the network in execution order, the
/// order both nn.Sequential forms run them in, so the mapping cannot drift from the architecture.
/// </summary>
public sealed class PyTorchNames
{
    private readonly Dictionary<string, PyTorchModule> _modules;
    private readonly Dictionary<string, PyTorchParameter> _parameters;

    private PyTorchNames(string architecture, PyTorchNaming naming, IReadOnlyList<PyTorchModule> modules, IReadOnlyList<PyTorchParameter> parameters,
        IReadOnlyList<string> stages)
    {
        Architecture = architecture;
        Naming = naming;
        Modules = modules;
        Parameters = parameters;
        _stages = stages;
        _modules = modules.ToDictionary(m => m.Source, StringComparer.Ordinal);
        _parameters = parameters.ToDictionary(p => p.Source, StringComparer.Ordinal);
    }

    private readonly IReadOnlyList<string> _stages;

    public string Architecture { get; }
    public PyTorchNaming Naming { get; }

    /// <summary>Every module (with or without parameters) in execution order.</summary>
    public IReadOnlyList<PyTorchModule> Modules { get; }

    /// <summary>Every state-dict entry, in our state dict's order.</summary>
    public IReadOnlyList<PyTorchParameter> Parameters { get; }

    public static PyTorchNames Of(ClassifierNetwork network, PyTorchNaming naming = PyTorchNaming.Sequential)
    {
        ArgumentNullException.ThrowIfNull(network);
        var modules = network.Blocks.SelectMany(b => b.Modules)
            .Select((m, i) => new PyTorchModule(naming == PyTorchNaming.Sequential ? i.ToString(CultureInfo.InvariantCulture) : m.Name, m.Name, Definition(m.Name, m.Module)))
            .ToArray();
        var byName = modules.ToDictionary(m => m.Source, StringComparer.Ordinal);
        var parameters = new List<PyTorchParameter>();
        foreach (var (key, tensor) in network.state_dict())
        {
            // A key is the module's qualified name and the tensor's own name: "stage1.bn1.running_mean".
            var dot = key.LastIndexOf('.');
            if (dot < 0 || !byName.TryGetValue(key[..dot], out var module))
                throw new InvalidOperationException($"{network.Architecture}: state-dict entry '{key}' belongs to no module of the execution order.");
            parameters.Add(new PyTorchParameter(key, $"{module.Name}.{key[(dot + 1)..]}", tensor.dtype, tensor.shape));
        }
        var stages = network.Blocks.SelectMany(b => b.Modules).Select(m => m.Name[..m.Name.IndexOf('.')]).Distinct().ToArray();
        return new PyTorchNames(network.Architecture, naming, modules, parameters, stages);
    }

    /// <summary>PyTorch's name of our module (<c>stage1.conv1</c> → <c>0</c>); an unknown name throws, naming the known ones.</summary>
    public string Module(string source) =>
        _modules.TryGetValue(source, out var module) ? module.Name
            : throw new ArgumentException($"{Architecture} has no module '{source}'; its modules are {string.Join(", ", _modules.Keys)}.", nameof(source));

    /// <summary>PyTorch's name of our state-dict entry (<c>stage1.conv1.weight</c> → <c>0.weight</c>).</summary>
    public string Parameter(string source) =>
        _parameters.TryGetValue(source, out var parameter) ? parameter.Name
            : throw new ArgumentException($"{Architecture} has no state-dict entry '{source}'.", nameof(source));

    /// <summary>PyTorch's name of a layer's weight (<c>stage1.conv1</c> → <c>0.weight</c>).</summary>
    public string Weight(string layer) => Parameter(layer + ".weight");

    /// <summary>The PyTorch class of a module (<c>Conv2d</c>, <c>Linear</c>, ...): NNI's <c>op_types</c>.</summary>
    public string ModuleType(string source)
    {
        Module(source);
        var definition = _modules[source].Definition;
        return definition["nn.".Length..definition.IndexOf('(')];
    }

    /// <summary>
    /// A Python module that builds the network under these names: <c>build()</c> returns it, so
    /// <c>build().load_state_dict(...)</c> takes an exported state dict as it is.
    /// </summary>
    public string PythonSource()
    {
        var text = new StringBuilder();
        text.Append("# The PyTorch twin of CompressionLab's ").Append(Architecture).Append(" (").Append(Naming == PyTorchNaming.Sequential ? "flat nn.Sequential" : "nested, our names")
            .Append("), written by CompressionLab.\n");
        text.Append("# Load an exported state dict with build().load_state_dict(state_dict); see docs/dialects.md.\n");
        if (Naming == PyTorchNaming.Nested) text.Append("from collections import OrderedDict\n\n");
        text.Append("import torch.nn as nn\n\n\n");
        text.Append("def build():\n");
        if (Naming == PyTorchNaming.Sequential)
        {
            text.Append("    return nn.Sequential(\n");
            foreach (var module in Modules)
                text.Append("        ").Append(module.Definition).Append(",  # ").Append(module.Name).Append(": ").Append(module.Source).Append('\n');
            text.Append("    )\n");
        }
        else
        {
            text.Append("    return nn.Sequential(OrderedDict([\n");
            foreach (var stage in _stages)
            {
                text.Append("        (\"").Append(stage).Append("\", nn.Sequential(OrderedDict([\n");
                foreach (var module in Modules.Where(m => m.Source.StartsWith(stage + ".", StringComparison.Ordinal)))
                    text.Append("            (\"").Append(module.Source[(stage.Length + 1)..]).Append("\", ").Append(module.Definition).Append("),\n");
                text.Append("        ]))),\n");
            }
            text.Append("    ]))\n");
        }
        return text.ToString();
    }

    /// <summary>The module's PyTorch constructor, with the arguments that differ from PyTorch's defaults.</summary>
    private static string Definition(string name, nn.Module<Tensor, Tensor> module)
    {
        static string Pair(long[] values) => values.Length == 2 && values[0] != values[1]
            ? $"({values[0]}, {values[1]})"
            : values[0].ToString(CultureInfo.InvariantCulture);
        static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
        switch (module)
        {
            case TorchSharp.Modules.Conv2d conv:
                {
                    var shape = conv.weight!.shape;
                    var groups = conv.groups;
                    var args = new List<string> { (shape[1] * groups).ToString(CultureInfo.InvariantCulture), shape[0].ToString(CultureInfo.InvariantCulture), $"kernel_size={Pair([shape[2], shape[3]])}" };
                    if (conv.stride.Any(s => s != 1)) args.Add($"stride={Pair(conv.stride)}");
                    if (conv.padding_mode != PaddingModes.Zeros || conv.padding_type is not null || conv.padding is null)
                        throw new NotSupportedException($"{name}: only zero padding given in pixels has a PyTorch twin here.");
                    if (conv.padding.Any(p => p != 0)) args.Add($"padding={Pair(conv.padding)}");
                    if (conv.dilation.Any(d => d != 1)) args.Add($"dilation={Pair(conv.dilation)}");
                    if (groups != 1) args.Add($"groups={groups}");
                    if (conv.bias is null) args.Add("bias=False");
                    return $"nn.Conv2d({string.Join(", ", args)})";
                }
            case TorchSharp.Modules.Linear linear:
                {
                    var shape = linear.weight!.shape;
                    return $"nn.Linear({shape[1]}, {shape[0]}{(linear.bias is null ? ", bias=False" : "")})";
                }
            case TorchSharp.Modules.BatchNorm2d norm:
                {
                    var features = (norm.weight ?? norm.running_mean ?? throw new NotSupportedException($"{name}: a BatchNorm without weights or statistics.")).shape[0];
                    var args = new List<string> { features.ToString(CultureInfo.InvariantCulture) };
                    if (norm.eps != 1e-5) args.Add($"eps={Number(norm.eps)}");
                    if (norm.momentum is double momentum && momentum != 0.1) args.Add($"momentum={Number(momentum)}");
                    if (!norm.affine) args.Add("affine=False");
                    if (!norm.track_running_stats) args.Add("track_running_stats=False");
                    return $"nn.BatchNorm2d({string.Join(", ", args)})";
                }
            case TorchSharp.Modules.ReLU:
                return "nn.ReLU()";
            case TorchSharp.Modules.MaxPool2d pool:
                {
                    var kernel = pool.kernel_size;
                    var args = new List<string> { $"kernel_size={Pair(kernel)}" };
                    if (pool.stride is { } stride && !stride.SequenceEqual(kernel)) args.Add($"stride={Pair(stride)}");
                    if (pool.padding is { } padding && padding.Any(p => p != 0)) args.Add($"padding={Pair(padding)}");
                    if (pool.ceil_mode) args.Add("ceil_mode=True");
                    return $"nn.MaxPool2d({string.Join(", ", args)})";
                }
            case TorchSharp.Modules.Flatten:
                return "nn.Flatten()";
            case TorchSharp.Modules.Dropout dropout:
                return $"nn.Dropout({Number(dropout.p)})";
            default:
                throw new NotSupportedException($"{name}: a {module.GetType().Name} has no PyTorch twin here.");
        }
    }
}
