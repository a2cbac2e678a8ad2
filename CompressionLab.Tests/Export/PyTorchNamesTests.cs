using System.Globalization;
using System.Text.RegularExpressions;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Export;

/// <summary>The PyTorch twin's names: every state-dict entry mapped once, shapes as PyTorch would make them from the twin's definition.</summary>
public sealed partial class PyTorchNamesTests
{
    public static TheoryData<string, PyTorchNaming> Architectures()
    {
        var data = new TheoryData<string, PyTorchNaming>();
        foreach (var architecture in ModelZoo.Architectures)
        {
            data.Add(architecture, PyTorchNaming.Sequential);
            data.Add(architecture, PyTorchNaming.Nested);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void EveryEntryIsMappedOnceWithTheShapePyTorchGivesItsDefinition(string architecture, PyTorchNaming naming)
    {
        using var network = ModelZoo.Create(architecture);
        var names = PyTorchNames.Of(network, naming);
        var state = network.state_dict();

        Assert.Equal(state.Keys.Order(StringComparer.Ordinal), names.Parameters.Select(p => p.Source).Order(StringComparer.Ordinal));
        Assert.Equal(names.Parameters.Count, names.Parameters.Select(p => p.Name).Distinct().Count());
        Assert.Equal(names.Modules.Count, names.Modules.Select(m => m.Name).Distinct().Count());

        // PyTorch's state dict of the twin, computed from the definitions' text by PyTorch's rules, not from our tensors.
        var expected = names.Modules.SelectMany(m => PyTorchEntries(m.Name, m.Definition)).ToDictionary(e => e.Name, e => e.Shape);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), names.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal));
        foreach (var parameter in names.Parameters)
        {
            Assert.Equal(expected[parameter.Name], parameter.Shape);
            Assert.Equal(state[parameter.Source].shape, parameter.Shape);
            Assert.Equal(parameter.Source.EndsWith("num_batches_tracked", StringComparison.Ordinal) ? ScalarType.Int64 : ScalarType.Float32, parameter.Type);
        }
        if (naming == PyTorchNaming.Nested) Assert.All(names.Parameters, p => Assert.Equal(p.Source, p.Name));
    }

    [Fact]
    public void SequentialNamesAreTheModulesIndexInExecutionOrder()
    {
        using var vgg = ModelZoo.Create(ModelZoo.VggSmall);
        var names = PyTorchNames.Of(vgg);
        // conv, bn, relu, conv, bn, relu, pool per stage (7 modules), then flatten, dropout, fc: as the train-step benchmark's nn.Sequential.
        Assert.Equal("0.weight", names.Parameter("stage1.conv1.weight"));
        Assert.Equal("1.running_var", names.Parameter("stage1.bn1.running_var"));
        Assert.Equal("4.num_batches_tracked", names.Parameter("stage1.bn2.num_batches_tracked"));
        Assert.Equal("17.weight", names.Weight("stage3.conv2"));
        Assert.Equal("23.bias", names.Parameter("classifier.fc.bias"));
        Assert.Equal("nn.Conv2d(1, 24, kernel_size=3, padding=1, bias=False)", names.Modules[0].Definition);
        Assert.Equal("nn.Linear(864, 10)", names.Modules[^1].Definition);
        Assert.Equal("Conv2d", names.ModuleType("stage2.conv1"));

        using var lenet5 = ModelZoo.Create(ModelZoo.Lenet5);
        var lenet = PyTorchNames.Of(lenet5);
        Assert.Equal(["0", "3", "7", "9", "11"], lenet5.Layers.Select(l => lenet.Module(l.Name)));
        Assert.Equal("nn.Conv2d(1, 6, kernel_size=5, padding=2)", lenet.Modules[0].Definition);
        Assert.Equal("nn.Linear(400, 120)", lenet.Modules[7].Definition);

        using var mlp = ModelZoo.Create(ModelZoo.Lenet300100);
        Assert.Equal(["1", "3", "5"], mlp.Layers.Select(l => PyTorchNames.Of(mlp).Module(l.Name)));
    }

    [Fact]
    public void AThinnedNetworkGetsTheWidthsItKept()
    {
        using var thin = ModelZoo.Create(ModelZoo.VggSmall, widths: new Dictionary<string, int> { ["stage1.conv1"] = 16, ["stage3.conv2"] = 40 });
        var names = PyTorchNames.Of(thin);
        Assert.Equal("nn.Conv2d(1, 16, kernel_size=3, padding=1, bias=False)", names.Modules[0].Definition);
        Assert.Equal("nn.BatchNorm2d(16)", names.Modules[1].Definition);
        Assert.Equal("nn.Conv2d(16, 24, kernel_size=3, padding=1, bias=False)", names.Modules[3].Definition);
        Assert.Equal("nn.Linear(360, 10)", names.Modules[^1].Definition); // 40 channels × 3 × 3
    }

    [Fact]
    public void ThePythonSourceListsEveryModuleUnderItsName()
    {
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        var sequential = PyTorchNames.Of(network).PythonSource();
        Assert.Contains("def build():\n    return nn.Sequential(\n        nn.Conv2d(1, 6, kernel_size=5, padding=2),  # 0: stage1.conv1\n", sequential, StringComparison.Ordinal);
        Assert.Contains("        nn.Linear(84, 10),  # 11: classifier.fc\n    )\n", sequential, StringComparison.Ordinal);

        var nested = PyTorchNames.Of(network, PyTorchNaming.Nested).PythonSource();
        Assert.Contains("        (\"stage2\", nn.Sequential(OrderedDict([\n            (\"conv1\", nn.Conv2d(6, 16, kernel_size=5)),\n", nested, StringComparison.Ordinal);
        Assert.Contains("(\"fc\", nn.Linear(84, 10)),\n        ]))),\n    ]))\n", nested, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ModelZoo.Lenet300100)]
    [InlineData(ModelZoo.Lenet5)]
    [InlineData(ModelZoo.VggSmall)]
    [InlineData(ModelZoo.VggTiny)]
    public void TheDocumentedTwinIsTheOneTheCodeWrites(string architecture)
    {
        using var network = ModelZoo.Create(architecture);
        var source = PyTorchNames.Of(network).PythonSource();
        var body = source[source.IndexOf("def build():", StringComparison.Ordinal)..];
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "pytorch-models.md"));
        var section = doc[doc.IndexOf($"## {architecture}\n", StringComparison.Ordinal)..];
        Assert.StartsWith($"## {architecture}\n\n```python\n{body}```\n", section, StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CompressionLab.sln"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("CompressionLab.sln not found above the test output folder.");
    }

    [Fact]
    public void AnUnknownNameIsRefusedNamingTheKnownOnes()
    {
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var names = PyTorchNames.Of(network);
        var error = Assert.Throws<ArgumentException>(() => names.Module("hidden.fc9"));
        Assert.Contains("hidden.fc1", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => names.Weight("hidden.fc9"));
    }

    /// <summary>The state-dict entries PyTorch creates for a module, from its constructor text.</summary>
    private static IEnumerable<(string Name, long[] Shape)> PyTorchEntries(string module, string definition)
    {
        var call = Call().Match(definition);
        Assert.True(call.Success, definition);
        var args = call.Groups[2].Value.Split(", ", StringSplitOptions.RemoveEmptyEntries);
        var positional = args.Where(a => !a.Contains('=', StringComparison.Ordinal)).ToArray();
        long At(int i) => long.Parse(positional[i], CultureInfo.InvariantCulture);
        var named = args.Where(a => a.Contains('=', StringComparison.Ordinal)).Select(a => a.Split('=')).ToDictionary(a => a[0], a => a[1]);
        var bias = named.GetValueOrDefault("bias") != "False";
        switch (call.Groups[1].Value)
        {
            case "Conv2d":
                var kernel = long.Parse(named["kernel_size"], CultureInfo.InvariantCulture);
                yield return ($"{module}.weight", [At(1), At(0), kernel, kernel]);
                if (bias) yield return ($"{module}.bias", [At(1)]);
                break;
            case "Linear":
                yield return ($"{module}.weight", [At(1), At(0)]);
                if (bias) yield return ($"{module}.bias", [At(1)]);
                break;
            case "BatchNorm2d":
                foreach (var name in new[] { "weight", "bias", "running_mean", "running_var" }) yield return ($"{module}.{name}", [At(0)]);
                yield return ($"{module}.num_batches_tracked", []);
                break;
        }
    }

    [GeneratedRegex(@"^nn\.(\w+)\((.*)\)$")]
    private static partial Regex Call();
}
