using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>Real TorchSharp on real Fashion-MNIST: a briefly trained lenet-300-100 (a few seconds).</summary>
public class SensitivitySweepIntegrationTests
{
    private static readonly Lazy<ClassifierNetwork> Trained = new(TrainBriefly);

    /// <summary>Two epochs of Adam over 3,000 training images; enough for well above chance.</summary>
    internal static ClassifierNetwork TrainBriefly()
    {
        manual_seed(41);
        var network = ModelZoo.Create(ModelZoo.Lenet300100);
        var train = TestData.FashionMnist.Train.Take(3000);
        using var images = tensor(train.Pixels, ScalarType.Byte).view(train.Count, 1, 28, 28).to_type(ScalarType.Float32)
            .div_(255f).sub_(ImageNormalization.Mean).div_(ImageNormalization.Std);
        using var labels = tensor(train.Labels, ScalarType.Byte).to_type(ScalarType.Int64);
        using var optimizer = optim.Adam(network.parameters(), lr: 1e-3);
        network.train();
        for (var epoch = 0; epoch < 2; epoch++)
        {
            for (var start = 0; start < train.Count; start += 64)
            {
                using var scope = NewDisposeScope();
                var size = Math.Min(64, train.Count - start);
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(network.call(images.narrow(0, start, size)), labels.narrow(0, start, size));
                loss.backward();
                optimizer.step();
            }
        }
        network.eval();
        return network;
    }

    [Fact]
    public void TrainedMlpSweepBehavesAsPruningShould()
    {
        var network = Trained.Value;
        var images = TestData.FashionMnist.Test.Take(300);
        var element = SensitivitySweep.Run(network, images, new SweepSettings { Levels = [0, 0.5, 0.95] });
        var filter = SensitivitySweep.Run(network, images, new SweepSettings { Criterion = PruningCriterion.Filter, Levels = [0, 0.5, 0.9] });

        Assert.InRange(element.Baseline.Top1, 0.70, 1);
        Assert.Equal(element.Baseline, filter.Baseline);
        // Half of the 235,200 first-layer weights by magnitude cost little.
        Assert.InRange(Cell(element, "hidden.fc1", 0.5).Top1Drop, -0.03, 0.03);
        // Filter pruning classifier.fc would silence class logits (removing classes, not compressing): the filter sweep
        // leaves it out and says why; the element sweep covers it.
        Assert.DoesNotContain(filter.Cells, c => c.Layer == "classifier.fc");
        Assert.Equal("classifier.fc", Assert.Single(filter.LeftOut).Layer);
        Assert.Equal(3, element.CellsOf("classifier.fc").Count);
        // Removing whole neurons hurts more than removing as many single weights.
        Assert.True(Cell(filter, "hidden.fc2", 0.9).Loss > Cell(element, "hidden.fc2", 0.95).Loss);
        Assert.All(element.Cells, c => Assert.InRange(c.Top5, c.Top1, 1));
    }

    [Fact]
    public void TrainedMlpCachedEqualsNaiveAndAnIndependentEvaluation()
    {
        var network = Trained.Value;
        var images = TestData.FashionMnist.Test.Take(200);
        var settings = new SweepSettings { Levels = [0.3, 0.8], BatchSize = 50 };
        var cached = SensitivitySweep.Run(network, images, settings);
        var naive = SensitivitySweep.Run(network, images, settings with { Mode = SweepMode.Naive });
        Assert.Equal(naive.Cells, cached.Cells);

        // Independent path: apply the mask to the live network and run its ordinary forward on all images at once.
        var cell = Cell(cached, "hidden.fc2", 0.8);
        var mask = PruningRanking.For(network, "hidden.fc2", PruningCriterion.Element).MaskAt(0.8);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = tensor(images.Pixels, ScalarType.Byte).view(images.Count, 1, 28, 28).to_type(ScalarType.Float32).div_(255f).sub_(ImageNormalization.Mean).div_(ImageNormalization.Std);
        var y = tensor(images.Labels, ScalarType.Byte).to_type(ScalarType.Int64);
        Tensor logits;
        using (mask.ApplyTo(network)) logits = network.call(x);
        var top1 = (double)logits.argmax(1).eq(y).sum().item<long>() / images.Count;
        var loss = nn.functional.cross_entropy(logits, y).item<float>();
        Assert.Equal(top1, cell.Top1);
        Assert.Equal(loss, cell.Loss, 4);
    }

    private static SweepCell Cell(SensitivityResult result, string layer, double level) =>
        result.Cells.Single(c => c.Layer == layer && c.Sparsity == level);
}
