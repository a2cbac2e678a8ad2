using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// <c>kd train</c> promises channels-last convs only (KdTrainCommand.ChannelsLastConvolutionsOnly), so on the AMD
/// processors whose oneDNN AVX-512 NCHW convs are wrong it runs AVX-512. Run as a child process with FitNets hints (the
/// objective with the most conv paths: student, folded teacher every step, 1×1 regressors, folded evaluation); the test
/// process, capped at AVX2, re-evaluates the student it wrote and must get the child's own test top-1.
/// </summary>
[Collection(Models.SerialCollection.Name)]
public sealed class ChannelsLastDistillationProcessTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-kd-avx512-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void KdTrainWithHintsRunsWithCheckedAvx512ConvolutionsAndItsTestTop1IsReproducedCapped()
    {
        var teacher = Path.Combine(_folder, "teacher.ckpt");
        using (var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, 5))
            Checkpoint.Save(network, teacher, SyntheticDataset.Name, SyntheticDataset.ClassNames);
        var student = Path.Combine(_folder, "student.ckpt");

        var (code, output, error) = ChannelsLastTrainingProcessTests.RunCli("kd", "train", "--teacher", teacher, "--student-arch", "vgg-tiny",
            "--dataset", "synthetic", "--objective", "hints", "--epochs", "1", "--limit", "256", "--seed", "1", "--out", student, "--json");

        Assert.True(code == CliApp.Success, error);
        var affected = OperatingSystem.IsLinux() && TorchRuntime.HasUnsafeAvx512Convolutions(File.ReadAllText("/proc/cpuinfo"));
        if (affected) Assert.Contains($"DNNL_MAX_CPU_ISA={TorchRuntime.ChannelsLastOneDnnIsa} ", error);
        var json = JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        var reported = json.GetProperty("top1").GetDouble();
        using var saved = Checkpoint.Load(student);
        var test = SyntheticDataset.Generate().Test;
        var again = Evaluator.Evaluate(saved.Model, test);
        // The child's evaluation ran AVX-512 convs, this one AVX2: the same predictions up to float rounding (one image in 2,000).
        Assert.InRange(Math.Abs(again.Top1 - reported), 0, (1.0 / test.Count) + 1e-9);
        Assert.InRange(reported, 0.0, 1.0);
    }

    [Theory]
    [InlineData(ModelZoo.VggTiny)]
    [InlineData(ModelZoo.VggSmall)]
    [InlineData(ModelZoo.Lenet5)]
    public void EveryBlockOutputAHintRegressorCanReadIsChannelsLastInTraining(string architecture)
    {
        // FitNets' 1×1 regressors read the student's stage outputs (block outputs): the zoo's forward leaves them channels-last,
        // so in a channels-last-only process HintObjective.HintLoss copies nothing, and an NCHW map would be a regression.
        using var network = PruningTestModels.RandomZooModel(architecture, 3);
        network.train();
        using var scope = NewDisposeScope();
        var x = randn(4, 1, network.InputHeight, network.InputWidth);
        var checkedMaps = 0;
        for (var b = 0; b < network.Blocks.Count; b++)
        {
            x = network.ForwardRange(b, b + 1, x);
            if (x.dim() != 4 || x.shape[1] <= 1) continue;
            Assert.True(Core.Pruning.ChannelsLast.Is(x), $"{architecture}: block {b} ({network.Blocks[b].LayerName}) gives an NCHW map");
            checkedMaps++;
        }
        Assert.True(checkedMaps > 0);
    }
}
