using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace CompressionLab.Core.Models;

/// <summary>
/// The built-in architectures. Names and layer names are a public contract: scripts and recipes use them.
/// </summary>
public static class ModelZoo
{
    public const string Lenet300100 = "lenet-300-100";
    public const string Lenet5 = "lenet-5";
    public const string VggSmall = "vgg-small";
    public const string VggTiny = "vgg-tiny";

    public static IReadOnlyList<string> Architectures { get; } = [Lenet300100, Lenet5, VggSmall, VggTiny];

    public static string Describe(string architecture) => architecture switch
    {
        Lenet300100 => "Classic MLP 784-300-100-10 (LeCun et al. 1998).",
        Lenet5 => "LeNet-5 style CNN: two 5×5 conv stages and three fully connected layers.",
        VggSmall => "VGG-style teacher: three stages of two 3×3 conv+BN+ReLU (24/48/96 channels), max-pool, dropout, linear classifier.",
        VggTiny => "VGG-style student: same stage shape as vgg-small at 8/16/24 channels (about a tenth of its parameters).",
        _ => throw UnknownArchitecture(architecture),
    };

    /// <summary>Builds a freshly initialised network. Set <c>torch.manual_seed</c> first for reproducible weights.</summary>
    /// <param name="widths">
    /// Output channels (conv filters, hidden units) of the layers named, in place of the architecture's defaults
    /// (<see cref="DefaultWidths"/>); layers not named keep theirs. A thinned model (<c>Pruning.Thinning</c>) is its
    /// architecture with the widths it kept. The output layer's width is the class count and cannot be given.
    /// </param>
    /// <exception cref="ArgumentException">An unknown architecture, a width for a layer it has not (or for its output layer), or a width below 1.</exception>
    public static ClassifierNetwork Create(string architecture, int classCount = 10, int inputHeight = 28, int inputWidth = 28, IReadOnlyDictionary<string, int>? widths = null)
    {
        var w = ResolveWidths(architecture, widths);
        var specs = architecture switch
        {
            Lenet300100 => Mlp(inputHeight * inputWidth, classCount, w),
            Lenet5 => LeNet5(inputHeight, inputWidth, classCount, w),
            VggSmall or VggTiny => Vgg(w, inputHeight, inputWidth, classCount),
            _ => throw UnknownArchitecture(architecture),
        };
        return new ClassifierNetwork(architecture, inputHeight, inputWidth, classCount, specs, IsDefault(architecture, w) ? null : w);
    }

    /// <summary>
    /// Every layer whose width can be chosen (all but the output layer) with its default width, in layer-table order.
    /// </summary>
    public static IReadOnlyDictionary<string, int> DefaultWidths(string architecture) => architecture switch
    {
        Lenet300100 => Ordered(("hidden.fc1", 300), ("hidden.fc2", 100)),
        Lenet5 => Ordered(("stage1.conv1", 6), ("stage2.conv1", 16), ("classifier.fc1", 120), ("classifier.fc2", 84)),
        // 24/48/96 rather than 32/64/128: 56 % of the MACs, so the CLI default trains to ≥ 93 % within the
        // 12-minute budget on a 2-core CPU (measurements in docs/models.md).
        VggSmall => VggWidths([24, 48, 96]),
        // 8/16/24 rather than 7/14/28 (fewer parameters still): oneDNN's vectorised channels-last convs want channel
        // counts in multiples of 8, and at 7/14/28 a training step took twice as long (docs/models.md).
        VggTiny => VggWidths([8, 16, 24]),
        _ => throw UnknownArchitecture(architecture),
    };

    /// <summary>The defaults with <paramref name="widths"/> applied, in layer-table order; every name and value checked.</summary>
    private static IReadOnlyDictionary<string, int> ResolveWidths(string architecture, IReadOnlyDictionary<string, int>? widths)
    {
        var defaults = DefaultWidths(architecture);
        if (widths is null) return defaults;
        foreach (var (layer, width) in widths)
        {
            if (!defaults.ContainsKey(layer))
                throw new ArgumentException($"{architecture} has no layer '{layer}' whose width can be set (those are {string.Join(", ", defaults.Keys)}; the output layer's width is the class count).", nameof(widths));
            if (width < 1)
                throw new ArgumentException($"{architecture}: layer {layer} needs at least one output channel (got {width}).", nameof(widths));
        }
        return Ordered([.. defaults.Select(d => (d.Key, widths.TryGetValue(d.Key, out var given) ? given : d.Value))]);
    }

    private static bool IsDefault(string architecture, IReadOnlyDictionary<string, int> widths) =>
        DefaultWidths(architecture).All(d => widths[d.Key] == d.Value);

    private static IReadOnlyDictionary<string, int> VggWidths(int[] stages) =>
        Ordered([.. stages.SelectMany((width, s) => new[] { ($"stage{s + 1}.conv1", width), ($"stage{s + 1}.conv2", width) })]);

    // A plain Dictionary enumerates in insertion order while nothing is removed: the layer-table order, also in JSON.
    private static Dictionary<string, int> Ordered(params (string Layer, int Width)[] widths) => widths.ToDictionary(w => w.Layer, w => w.Width);

    private static ArgumentException UnknownArchitecture(string architecture) =>
        new($"Unknown architecture '{architecture}'. Known: {string.Join(", ", Architectures)}.");

    private static List<BlockSpec> Mlp(int inputs, int classes, IReadOnlyDictionary<string, int> w) =>
    [
        new("hidden", "fc1", [("flatten", Flatten()), ("fc1", Linear(inputs, w["hidden.fc1"])), ("relu1", ReLU())]),
        new("hidden", "fc2", [("fc2", Linear(w["hidden.fc1"], w["hidden.fc2"])), ("relu2", ReLU())]),
        new("classifier", "fc", [("fc", Linear(w["hidden.fc2"], classes))]),
    ];

    private static List<BlockSpec> LeNet5(int height, int width, int classes, IReadOnlyDictionary<string, int> w)
    {
        // 5×5 convs; the first is padded so 28×28 stays 28×28 as in the original 32×32 input.
        var (conv1, conv2, fc1, fc2) = (w["stage1.conv1"], w["stage2.conv1"], w["classifier.fc1"], w["classifier.fc2"]);
        var flat = conv2 * (((height / 2) - 4) / 2) * (((width / 2) - 4) / 2);
        return
        [
            new("stage1", "conv1", [("conv1", Conv2d(1, conv1, 5, padding: 2)), ("relu1", ReLU()), ("pool", MaxPool2d(2))]),
            new("stage2", "conv1", [("conv1", Conv2d(conv1, conv2, 5)), ("relu1", ReLU()), ("pool", MaxPool2d(2))]),
            new("classifier", "fc1", [("flatten", Flatten()), ("fc1", Linear(flat, fc1)), ("relu1", ReLU())]),
            new("classifier", "fc2", [("fc2", Linear(fc1, fc2)), ("relu2", ReLU())]),
            new("classifier", "fc", [("fc", Linear(fc2, classes))]),
        ];
    }

    private static List<BlockSpec> Vgg(IReadOnlyDictionary<string, int> widths, int height, int width, int classes)
    {
        var blocks = new List<BlockSpec>();
        var inputs = 1;
        for (var s = 0; s < widths.Count / 2; s++)
        {
            var stage = $"stage{s + 1}";
            var (first, second) = (widths[$"{stage}.conv1"], widths[$"{stage}.conv2"]);
            // Bias is redundant before BatchNorm, as in VGG-BN.
            blocks.Add(new(stage, "conv1",
                [("conv1", Conv2d(inputs, first, 3, padding: 1, bias: false)), ("bn1", BatchNorm2d(first)), ("relu1", ReLU())]));
            blocks.Add(new(stage, "conv2",
                [("conv2", Conv2d(first, second, 3, padding: 1, bias: false)), ("bn2", BatchNorm2d(second)), ("relu2", ReLU()), ("pool", MaxPool2d(2))]));
            inputs = second;
            height /= 2;
            width /= 2;
        }
        blocks.Add(new("classifier", "fc",
            [("flatten", Flatten()), ("dropout", Dropout(0.3)), ("fc", Linear(inputs * height * width, classes))]));
        return blocks;
    }
}
