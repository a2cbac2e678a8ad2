using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// A sweep and an evaluation of the same images give the same numbers: real TorchSharp on real Fashion-MNIST, a
/// vgg-tiny (convs, BatchNorm, pooling) trained for two short epochs so that its predictions are not all one class.
/// Serial, like the other tests that train: it seeds and draws from TorchSharp's global generator (an AdamW step failed
/// once with a non-finite scalar while other tests ran beside it).
/// </summary>
[Collection(SerialCollection.Name)]
public class OneEvaluationPathTests
{
    private static readonly Lazy<ClassifierNetwork> Trained = new(() =>
    {
        manual_seed(61);
        var network = ModelZoo.Create(ModelZoo.VggTiny);
        Trainer.Train(network, ModelTestData.FashionTrain(2_400),
            TrainingSettings.ForArchitecture(ModelZoo.VggTiny) with { Epochs = 2, BatchSize = 64, Seed = 61 });
        return network;
    });

    [Theory]
    [InlineData(SweepMode.Cached)] // baseline from the cached input of the first swept layer's block
    [InlineData(SweepMode.Naive)]  // baseline from the images
    public void ASweepsDenseBaselineIsTheEvaluationOfItsSubset(SweepMode mode)
    {
        var network = Trained.Value;
        // 300 images in batches of 64: the last batch has 44, so the batching is exercised as a whole.
        var subset = AnalysisSubset.Validation(TestData.FashionMnist, 300);
        var settings = new SweepSettings { Levels = [0, 0.5], Layers = ["stage2.conv1", "stage3.conv2"], Mode = mode };

        var sweep = SensitivitySweep.Run(network, subset.Images, settings);
        var evaluation = Evaluator.Evaluate(network, subset.Images);

        Assert.Equal(300, evaluation.Samples);
        Assert.InRange(evaluation.Top1, 0.4, 1); // trained: well above chance (0.1)
        Assert.Equal((evaluation.Top1, evaluation.Top5, evaluation.Loss), (sweep.Baseline.Top1, sweep.Baseline.Top5, sweep.Baseline.Loss));
        Assert.All(sweep.Cells.Where(c => c.Sparsity == 0), c => Assert.Equal(sweep.Baseline, c.Metrics));
    }

    [Fact]
    public void EvaluationAgreesWithTheNetworksOwnModulesToFloatRounding()
    {
        // Independent of the engine: the modules' forward (BatchNorm not folded, NCHW), all 300 images in one batch,
        // scored by hand from the logits.
        var network = Trained.Value;
        var images = AnalysisSubset.Validation(TestData.FashionMnist, 300).Images;
        var evaluation = Evaluator.Evaluate(network, images);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        network.eval();
        var logits = network.call(ImageTensors.Inputs(images));
        var labels = ImageTensors.Labels(images);
        var right = logits.argmax(1).eq(labels).sum().item<long>();
        var loss = nn.functional.cross_entropy(logits, labels).item<float>();

        Assert.InRange(Math.Abs(evaluation.Top1 - ((double)right / images.Count)), 0, 1.0 / images.Count); // one near-tie image at most
        Assert.Equal(loss, evaluation.Loss, 4);
    }
}
