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
    public static ClassifierNetwork Create(string architecture, int classCount = 10, int inputHeight = 28, int inputWidth = 28)
    {
        var specs = architecture switch
        {
            Lenet300100 => Mlp(inputHeight * inputWidth, classCount),
            Lenet5 => LeNet5(inputHeight, inputWidth, classCount),
            // 24/48/96 rather than 32/64/128: 56 % of the MACs, so the CLI default trains to ≥ 93 % within the
            // 12-minute budget on a 2-core CPU (measurements in docs/models.md).
            VggSmall => Vgg([24, 48, 96], inputHeight, inputWidth, classCount),
            // 8/16/24 rather than 7/14/28 (fewer parameters still): oneDNN's vectorised channels-last convs want channel
            // counts in multiples of 8, and at 7/14/28 a training step took twice as long (docs/models.md).
            VggTiny => Vgg([8, 16, 24], inputHeight, inputWidth, classCount),
            _ => throw UnknownArchitecture(architecture),
        };
        return new ClassifierNetwork(architecture, inputHeight, inputWidth, classCount, specs);
    }

    private static ArgumentException UnknownArchitecture(string architecture) =>
        new($"Unknown architecture '{architecture}'. Known: {string.Join(", ", Architectures)}.");

    private static List<BlockSpec> Mlp(int inputs, int classes) =>
    [
        new("hidden", "fc1", [("flatten", Flatten()), ("fc1", Linear(inputs, 300)), ("relu1", ReLU())]),
        new("hidden", "fc2", [("fc2", Linear(300, 100)), ("relu2", ReLU())]),
        new("classifier", "fc", [("fc", Linear(100, classes))]),
    ];

    private static List<BlockSpec> LeNet5(int height, int width, int classes)
    {
        // 5×5 convs; the first is padded so 28×28 stays 28×28 as in the original 32×32 input.
        var flat = 16 * (((height / 2) - 4) / 2) * (((width / 2) - 4) / 2);
        return
        [
            new("stage1", "conv1", [("conv1", Conv2d(1, 6, 5, padding: 2)), ("relu1", ReLU()), ("pool", MaxPool2d(2))]),
            new("stage2", "conv1", [("conv1", Conv2d(6, 16, 5)), ("relu1", ReLU()), ("pool", MaxPool2d(2))]),
            new("classifier", "fc1", [("flatten", Flatten()), ("fc1", Linear(flat, 120)), ("relu1", ReLU())]),
            new("classifier", "fc2", [("fc2", Linear(120, 84)), ("relu2", ReLU())]),
            new("classifier", "fc", [("fc", Linear(84, classes))]),
        ];
    }

    private static List<BlockSpec> Vgg(int[] widths, int height, int width, int classes)
    {
        var blocks = new List<BlockSpec>();
        var inputs = 1;
        for (var s = 0; s < widths.Length; s++)
        {
            var stage = $"stage{s + 1}";
            var channels = widths[s];
            // Bias is redundant before BatchNorm, as in VGG-BN.
            blocks.Add(new(stage, "conv1",
                [("conv1", Conv2d(inputs, channels, 3, padding: 1, bias: false)), ("bn1", BatchNorm2d(channels)), ("relu1", ReLU())]));
            blocks.Add(new(stage, "conv2",
                [("conv2", Conv2d(channels, channels, 3, padding: 1, bias: false)), ("bn2", BatchNorm2d(channels)), ("relu2", ReLU()), ("pool", MaxPool2d(2))]));
            inputs = channels;
            height /= 2;
            width /= 2;
        }
        blocks.Add(new("classifier", "fc",
            [("flatten", Flatten()), ("dropout", Dropout(0.3)), ("fc", Linear(inputs * height * width, classes))]));
        return blocks;
    }
}
