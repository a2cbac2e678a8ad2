using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Quantization;

[Collection(SerialCollection.Name)]
public class DistillerStatsYamlTests
{
    [Fact]
    public void ACollectedProfileRoundTripsExactlyWithDistillersLayerNamesAndLayout()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 6);
        var profile = CalibrationCollector.Collect(network, "h", "fashion-mnist", AnalysisSubset.Validation(TestData.FashionMnist, 20), batchSize: 8);
        var yaml = DistillerStatsYaml.Write(profile);
        var read = DistillerStatsYaml.Read(yaml);
        Assert.Equal(DistillerStatsYaml.From(profile), read);
        // PyTorch's named_modules() paths, input 0 and output, block style, the shape as size2str prints it.
        Assert.StartsWith("stage1.conv1:\n  inputs:\n    0:\n      min: ", yaml);
        Assert.Contains("\n      shape: (8, 1, 28, 28)\n  output:\n    min: ", yaml);
        Assert.Contains("\nclassifier.fc:\n", yaml);
        Assert.Contains("    shape: (8, 10)\n", yaml);
        Assert.Equal(network.Layers.Select(l => l.Name), read.Select(l => l.Layer));
    }

    [Fact]
    public void ReadsFormatsOneLineEntriesAndSkipsOtherKeys()
    {
        const string yaml = """
            # Distiller, flow style as in FORMATS.md
            conv1:
              inputs:
                0: {min: -2.11, max: 2.64, avg_min: -2.01, avg_max: 2.48, mean: -0.05, std: 1.0, shape: (256, 1, 28, 28)}
              output: {min: -35.7, max: 35.2, avg_min: -22.4, avg_max: 22.8, mean: 0.0, std: 4.1, b: 2.9, shape: (256, 32, 28, 28)}
            'fc':
              inputs:
                0:
                  min: 0.0
                  max: 1.5e+01
                  avg_min: 0.0
                  avg_max: 12.5
                  mean: 3.25
                  std: 2.0
                  total_numel: 1000
                  shape: (256, 512)
              output:
                min: -.inf
                max: 7.0
                avg_min: -1.0
                avg_max: 6.0
                mean: .nan
                std: 1.0
                shape: (256, 10)
            """;
        var read = DistillerStatsYaml.Read(yaml);
        Assert.Equal(2, read.Count);
        Assert.Equal(new DistillerTensorStats(-2.11, 2.64, -2.01, 2.48, -0.05, 1.0, "(256, 1, 28, 28)"), read[0].Input);
        Assert.Equal(new DistillerTensorStats(-35.7, 35.2, -22.4, 22.8, 0.0, 4.1, "(256, 32, 28, 28)"), read[0].Output);
        Assert.Equal("fc", read[1].Layer);
        Assert.Equal(15.0, read[1].Input.Max);
        Assert.Equal(double.NegativeInfinity, read[1].Output.Min);
        Assert.True(double.IsNaN(read[1].Output.Mean));
    }

    [Theory]
    [InlineData(1e-5, "1.0e-05")]
    [InlineData(0.0, "0.0")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(12345678901234567890.0, "1.2345678901234567e+19")]
    [InlineData(3.0, "3.0")]
    public void NumbersAreWrittenAsPythonReprSoPyYamlReadsFloats(double value, string text) =>
        Assert.Equal(text, DistillerStatsYaml.Number(value));

    [Fact]
    public void AMissingStatisticNamesTheLine()
    {
        var error = Assert.Throws<FormatException>(() => DistillerStatsYaml.Read("conv1:\n  inputs:\n    0: {min: 1, max: 2}\n  output: {min: 0}\n"));
        Assert.Contains("Line 3", error.Message);
        Assert.Contains("avg_min", error.Message);
    }
}
