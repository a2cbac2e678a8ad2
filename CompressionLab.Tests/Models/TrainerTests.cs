using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

public class TrainerTests
{
    [Fact]
    public void LearnsFromAFewHundredRealImages()
    {
        manual_seed(11);
        using var model = ModelZoo.Create(ModelZoo.Lenet300100);
        var train = ModelTestData.FashionTrain(600);
        var test = ModelTestData.FashionTest(500);
        var settings = TrainingSettings.ForArchitecture(ModelZoo.Lenet300100) with { Epochs = 4, BatchSize = 50 };
        var before = Evaluator.Evaluate(model, test);

        var result = Trainer.Train(model, train, settings);
        var after = Evaluator.Evaluate(model, test);

        Assert.Equal(4, result.EpochsRun);
        Assert.Equal([1, 2, 3, 4], result.History.Select(e => e.Epoch));
        Assert.True(result.History[^1].TrainLoss < result.History[0].TrainLoss * 0.7,
            $"loss {result.History[0].TrainLoss:F3} -> {result.History[^1].TrainLoss:F3}");
        Assert.True(after.Top1 > 0.6, $"test top-1 {after.Top1:P1} after training (chance is 10 %)");
        Assert.True(after.Top1 > before.Top1 + 0.3, $"top-1 {before.Top1:P1} -> {after.Top1:P1}");
        Assert.False(model.training); // left ready for evaluation
        Assert.Equal(result.History[^1].TrainLoss, result.FinalTrainLoss);
    }

    [Fact]
    public void ReportsProgressAfterEveryBatchAndValidatesEachEpoch()
    {
        manual_seed(12);
        using var model = ModelZoo.Create(ModelZoo.VggTiny);
        var train = ModelTestData.FashionTrain(130); // 64 + 64 + a last batch of 2
        var validation = ModelTestData.FashionTest(100);
        var settings = TrainingSettings.ForArchitecture(ModelZoo.VggTiny) with { Epochs = 2, BatchSize = 64 };
        var reports = new List<TrainingProgress>();

        var result = Trainer.Train(model, train, settings, validation, reports.Add);

        Assert.Equal(6, reports.Count);
        Assert.All(reports, r => Assert.Equal(3, r.BatchesPerEpoch));
        Assert.Equal([1, 2, 3, 1, 2, 3], reports.Select(r => r.Batch));
        Assert.Equal([1.0 / 6, 2.0 / 6, 3.0 / 6, 4.0 / 6, 5.0 / 6, 1.0], reports.Select(r => r.Fraction));
        Assert.Equal(TimeSpan.Zero, reports[^1].Eta);
        Assert.All(reports, r => Assert.True(r.Eta >= TimeSpan.Zero && r.Loss > 0 && r.Accuracy is >= 0 and <= 1 && r.LearningRate > 0));
        // One-cycle: the learning rate ends far below its peak.
        Assert.True(reports[^1].LearningRate < settings.MaxLearningRate / 100);

        var summaries = reports.Where(r => r.CompletedEpoch is not null).Select(r => r.CompletedEpoch!).ToArray();
        Assert.Equal([3, 6], reports.Select((r, i) => (r, i)).Where(x => x.r.CompletedEpoch is not null).Select(x => x.i + 1));
        Assert.Equal(result.History, summaries);
        Assert.All(summaries, s => Assert.InRange(s.ValidationTop1!.Value, 0, 1));
        var check = Evaluator.Evaluate(model, validation);
        Assert.Equal(check.Top1, summaries[^1].ValidationTop1);
    }

    [Fact]
    public void CancellationStopsBetweenBatchesAndLeavesAUsableModel()
    {
        manual_seed(13);
        using var model = ModelZoo.Create(ModelZoo.VggTiny);
        var train = ModelTestData.FashionTrain(512);
        var settings = TrainingSettings.ForArchitecture(ModelZoo.VggTiny) with { Epochs = 3, BatchSize = 64 };
        using var cancel = new CancellationTokenSource();
        var batches = 0;

        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(model, train, settings, progress: p =>
        {
            batches++;
            if (p.Batch == 3) cancel.Cancel();
        }, cancellationToken: cancel.Token));

        Assert.Equal(3, batches); // no batch ran after the request
        Assert.False(model.training);
        Assert.All(model.parameters(), p => Assert.True(p.isfinite().all().item<bool>()));
        var result = Evaluator.Evaluate(model, ModelTestData.FashionTest(100));
        Assert.Equal(100, result.Samples);
    }

    [Fact]
    public void AlreadyCancelledTokenTrainsNothing()
    {
        manual_seed(14);
        using var model = ModelZoo.Create(ModelZoo.Lenet300100);
        var before = model.LayerWeight("hidden.fc1").clone();
        var calls = 0;

        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(model, ModelTestData.FashionTrain(100),
            new TrainingSettings { Epochs = 1 }, progress: _ => calls++, cancellationToken: new CancellationToken(canceled: true)));

        Assert.Equal(0, calls);
        Assert.True(model.LayerWeight("hidden.fc1").eq(before).all().item<bool>());
    }

    [Theory]
    [InlineData(0, 128, "Epochs")]
    [InlineData(1, 1, "Batch size")]
    public void RejectsSettingsThatMakeNoSense(int epochs, int batchSize, string named)
    {
        using var model = ModelZoo.Create(ModelZoo.Lenet300100);
        var settings = new TrainingSettings { Epochs = epochs, BatchSize = batchSize };

        var error = Assert.Throws<ArgumentException>(() => Trainer.Train(model, ModelTestData.FashionTrain(10), settings));
        Assert.Contains(named, error.Message);
    }
}

[Collection(SerialCollection.Name)]
public class TrainerDeterminismTests
{
    private static Dictionary<string, float[]> TrainVggTiny(int seed)
    {
        manual_seed(seed);
        using var model = ModelZoo.Create(ModelZoo.VggTiny);
        // Flips and dropout on, so every random draw of the recipe is exercised.
        var settings = TrainingSettings.ForArchitecture(ModelZoo.VggTiny) with { Epochs = 2, BatchSize = 64, Seed = seed };
        Assert.True(settings.HorizontalFlip);
        Trainer.Train(model, ModelTestData.FashionTrain(256), settings);
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void SameSeedGivesIdenticalWeightsAndAnotherSeedDoesNot()
    {
        var first = TrainVggTiny(21);
        var second = TrainVggTiny(21);
        var other = TrainVggTiny(22);

        Assert.Equal(first.Keys, second.Keys);
        foreach (var (name, values) in first)
            Assert.True(values.SequenceEqual(second[name]), $"{name} differs between two runs with the same seed");
        Assert.False(first["stage1.conv1.weight"].SequenceEqual(other["stage1.conv1.weight"]));
    }
}
