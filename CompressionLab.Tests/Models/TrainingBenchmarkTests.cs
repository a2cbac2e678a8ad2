using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

public class TrainingBenchmarkTests
{
    /// <summary>
    /// The two timed paths must train the same model: from the same weights and batch, the engine's forward
    /// (im2col first conv, channels-last) and PyTorch's module-by-module forward give the same loss and gradients.
    /// </summary>
    [Theory]
    [InlineData(ModelZoo.VggTiny)]
    [InlineData(ModelZoo.Lenet5)]
    public void EngineAndModuleByModuleGiveTheSameLossAndGradients(string architecture)
    {
        using var scope = NewDisposeScope();
        using var engine = ModelZoo.Create(architecture);
        using var module = ModelZoo.Create(architecture);
        module.load_state_dict(engine.state_dict()); // the same weights (tests run in parallel, so no re-seeding)
        engine.eval(); // no dropout draws, so both see exactly the same function
        module.eval();
        var inputs = randn(16, 1, 28, 28, generator: new Generator(2));
        var targets = randint(0, 10, [16], generator: new Generator(3));

        var engineLoss = nn.functional.cross_entropy(engine.call(inputs), targets);
        var moduleLoss = nn.functional.cross_entropy(TrainingBenchmark.ModuleByModule(module, inputs), targets);
        engineLoss.backward();
        moduleLoss.backward();

        Assert.Equal(moduleLoss.item<float>(), engineLoss.item<float>(), 4);
        foreach (var ((name, a), (_, b)) in engine.named_parameters().Zip(module.named_parameters()))
            Assert.True(a.grad!.allclose(b.grad!, rtol: 1e-3, atol: 1e-5), $"{name}: max |Δgrad| {(a.grad! - b.grad!).abs().max().item<float>()}");
    }

    [Fact]
    public void ReportsBothPathsPerStepAndTheirRatio()
    {
        var images = SyntheticDataset.Generate(trainCount: 64, testCount: 10).Train;

        var result = TrainingBenchmark.Run(ModelZoo.Lenet5, images, steps: 3, batchSize: 16);

        Assert.Equal((ModelZoo.Lenet5, 16, 3), (result.Architecture, result.BatchSize, result.Steps));
        Assert.True(result.ModuleMilliseconds > 0 && result.EngineMilliseconds > 0);
        Assert.Equal(result.ModuleMilliseconds / result.EngineMilliseconds, result.Speedup, 10);
        Assert.Equal(4 * result.EngineMilliseconds / 1000, result.EpochSeconds(64), 10); // 64 images = 4 steps of 16
        Assert.Equal(16 * 1000 / result.EngineMilliseconds, result.ImagesPerSecond, 10);
        // The trainer's whole step and the medians: timed, finite; the median of 3 steps lies within them, so at most 3× the mean.
        Assert.True(result.TrainerMedianMilliseconds > 0 && double.IsFinite(result.TrainerMedianMilliseconds));
        Assert.InRange(result.EngineMedianMilliseconds, 0, 3 * result.EngineMilliseconds);
        Assert.InRange(result.ModuleMedianMilliseconds, 0, 3 * result.ModuleMilliseconds);
        if (OperatingSystem.IsLinux())
        {
            Assert.True(result.TrainerMedianCpuMilliseconds > 0);
            // Every part timed, in step order; the forward and backward passes cost something.
            var parts = result.TrainerPartsMedianCpuMilliseconds!;
            Assert.Equal(TrainingBenchmarkResult.TrainerParts, parts.Keys);
            Assert.All(parts.Values, v => Assert.True(v >= 0 && double.IsFinite(v)));
            Assert.True(parts["forward"] > 0 && parts["backward"] > 0);
        }
    }

    [Fact]
    public void RefusesABatchLargerThanTheImages()
    {
        var images = SyntheticDataset.Generate(trainCount: 20, testCount: 10).Train;

        var error = Assert.Throws<ArgumentException>(() => TrainingBenchmark.Run(ModelZoo.Lenet5, images, steps: 1, batchSize: 32));
        Assert.Contains("32", error.Message);
    }
}
