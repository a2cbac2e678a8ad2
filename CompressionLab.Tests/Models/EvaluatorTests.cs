using System.Diagnostics;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

public class EvaluatorTests
{
    // Seven classes, four images. Row i = logits for image i; labels chosen so that:
    // image 0 (label 0): right;  image 1 (label 1): predicted 0, true class 2nd -> top-5 hit;
    // image 2 (label 6): predicted 0, true class last of 7 -> top-5 miss;  image 3 (label 2): right.
    private static readonly float[,] Logits =
    {
        { 5, 0, 0, 0, 0, 0, 0 },
        { 3, 1, 0, 0, 0, 0, 0 },
        { 6, 5, 4, 3, 2, 1, 0 },
        { 0, 0, 9, 0, 0, 0, 0 },
    };

    private static readonly byte[] Labels = [0, 1, 6, 2];

    /// <summary>Cross-entropy by hand: log(sum(exp(z))) - z[label].</summary>
    private static double CrossEntropy(int row, int label)
    {
        var sum = 0.0;
        for (var c = 0; c < Logits.GetLength(1); c++) sum += Math.Exp(Logits[row, c]);
        return Math.Log(sum) - Logits[row, label];
    }

    [Fact]
    public void NumbersMatchHandCalculation()
    {
        using var model = new LogitTableModel(Logits);
        var images = ModelTestData.IndexedImages(Labels, classCount: 7);

        // Batch size 3 makes the four images span two batches.
        var result = Evaluator.Evaluate(model, images, batchSize: 3);

        Assert.Equal(4, result.Samples);
        Assert.Equal(0.5, result.Top1);
        Assert.Equal(0.75, result.Top5);
        var expectedLoss = (CrossEntropy(0, 0) + CrossEntropy(1, 1) + CrossEntropy(2, 6) + CrossEntropy(3, 2)) / 4;
        Assert.Equal(expectedLoss, result.Loss, 5);

        Assert.Equal([1.0, 0.0, 1.0, null, null, null, 0.0], result.PerClassAccuracy);
        var confusion = new int[7, 7];
        confusion[0, 0] = 1;
        confusion[1, 0] = 1;
        confusion[6, 0] = 1;
        confusion[2, 2] = 1;
        for (var t = 0; t < 7; t++)
            for (var p = 0; p < 7; p++)
                Assert.True(confusion[t, p] == result.ConfusionMatrix[t][p], $"confusion[{t}][{p}]");
        Assert.True(result.Seconds >= 0);
    }

    [Fact]
    public void RestoresTrainingModeAndComputesWithoutGradients()
    {
        manual_seed(3);
        using var model = ModelZoo.Create(ModelZoo.VggTiny);
        model.train();
        var images = ModelTestData.FashionTest(64);

        var first = Evaluator.Evaluate(model, images, batchSize: 20);
        var second = Evaluator.Evaluate(model, images, batchSize: 64);

        Assert.True(model.training);
        // Eval mode: dropout off and BatchNorm on running statistics, so batching cannot change the answer.
        Assert.Equal(first.Top1, second.Top1);
        Assert.Equal(first.Loss, second.Loss, 4);
        Assert.All(model.parameters(), p => Assert.True(p.grad is null));
    }

    [Fact]
    public void RejectsImagesTheModelCannotTake()
    {
        using var model = ModelZoo.Create(ModelZoo.Lenet300100);
        var images = ModelTestData.IndexedImages(Labels, classCount: 7);

        var error = Assert.Throws<ArgumentException>(() => Evaluator.Evaluate(model, images));
        Assert.Contains("7", error.Message);
    }
}

[Collection(SerialCollection.Name)]
public class EvaluatorMemoryTests
{
    [Fact]
    public void RepeatedEvaluationDoesNotGrowNativeMemory()
    {
        manual_seed(5);
        using var model = ModelZoo.Create(ModelZoo.VggTiny);
        var images = ModelTestData.FashionTest(1000);
        for (var i = 0; i < 3; i++) Evaluator.Evaluate(model, images, batchSize: 250);
        var before = WorkingSet(collectFirst: true);

        for (var i = 0; i < 20; i++) Evaluator.Evaluate(model, images, batchSize: 250);
        // Without a collection first: tensors left to the finalizer count too. Measured here, an
        // evaluator without its per-batch dispose scope grew 67-78 MB over these 20 runs; this one 3-14 MB.
        var growth = WorkingSet(collectFirst: false) - before;
        var retained = WorkingSet(collectFirst: true) - before;

        Assert.True(growth < 40L << 20, $"working set grew by {growth >> 20} MB over 20 evaluations");
        Assert.True(retained < 16L << 20, $"working set kept {retained >> 20} MB after 20 evaluations and a full collection");
    }

    private static long WorkingSet(bool collectFirst)
    {
        if (collectFirst)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
