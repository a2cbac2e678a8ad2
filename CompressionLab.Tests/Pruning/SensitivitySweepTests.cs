using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

public class SensitivitySweepTests
{
    private static readonly double[] HandLevels = [0, 0.5, 0.625, 0.75, 0.875];

    [Fact]
    public void HandMadeMlpElementSweepGivesHandCalculatedAccuracy()
    {
        using var network = PruningTestModels.HandMadeMlp();
        var images = PruningTestModels.HandMadeImages();
        var result = SensitivitySweep.Run(network, images, new SweepSettings { Levels = HandLevels });
        Assert.Equal(["hidden.fc1", "classifier.fc"], result.Settings.Layers); // element sweeps cover the output layer too
        Assert.Empty(result.LeftOut);

        // fc1 = [[2, .5, 0, 0], [0, 0, 1, -3]]. Order: the four zeros (2,3,4,5), then .5 (1), 1 (6), 2 (0), 3 (7).
        // 0.5 prunes the zeros only; 0.625 also .5; 0.75 also 1; 0.875 also 2, which kills class 0's logit.
        // Dense: image 4 (pixel 1 bright, class 0) is misread as class 1, the rest are right: 3 of 4 (fractions, as Core keeps them).
        var fc1 = result.CellsOf("hidden.fc1");
        Assert.Equal([0.75, 0.75, 0.75, 0.75, 0.5], fc1.Select(c => c.Top1));
        Assert.Equal([0.0, 0, 0, 0, 0.25], fc1.Select(c => c.Top1Drop));
        Assert.All(result.Cells, c => Assert.Equal(1.0, c.Top5)); // two classes: top-5 holds every class
        Assert.Equal([0, 0.5, 0.625, 0.75, 0.875], fc1.Select(c => c.ActualSparsity));

        var pruned = new[] { Array.Empty<int>(), [2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6] };
        for (var i = 0; i < HandLevels.Length; i++)
            Assert.Equal(ReferenceLoss(pruned[i], filterRows: []), fc1[i].Loss, 5);
        Assert.Equal(ReferenceLoss([], []), result.Baseline.Loss, 5);

        // classifier.fc = [[1, 0], [0, 1]], four weights. Order: the zeros (1, 2), then the tied ones by index (0, 3).
        // 0.5 × 4 = 2 prunes the zeros: nothing changes. 0.625 × 4 = 2.5 rounds to 3 and also prunes w[0,0], so logit 0
        // is 0 while logit 1 = ReLU(fc1 row 1 · x) = ReLU(x2 − 3·x3) is positive for all four images (x3 is a dark pixel,
        // below the mean): every image reads as class 1, and only images 2 and 3 (class 1) are right: 2 of 4. 0.75 × 4 = 3 prunes the same.
        // 0.875 × 4 = 3.5 rounds to all 4, but a level leaves a unit: still 3, and w[1,1] stays.
        var fc = result.CellsOf("classifier.fc");
        Assert.Equal([0.75, 0.75, 0.5, 0.5, 0.5], fc.Select(c => c.Top1));
        Assert.Equal([0.0, 0, 0.25, 0.25, 0.25], fc.Select(c => c.Top1Drop));
        Assert.Equal([0, 0.5, 0.75, 0.75, 0.75], fc.Select(c => c.ActualSparsity));
        var prunedFc = new[] { Array.Empty<int>(), [1, 2], [0, 1, 2], [0, 1, 2], [0, 1, 2] };
        for (var i = 0; i < HandLevels.Length; i++)
            Assert.Equal(ReferenceLoss([], [], prunedFc[i]), fc[i].Loss, 5);
        Assert.NotEqual(fc[1].Loss, fc[2].Loss);
    }

    [Fact]
    public void FilterSweepsLeaveOutTheOutputLayerAndRefuseItWhenAsked()
    {
        using var network = PruningTestModels.HandMadeMlp();
        var images = PruningTestModels.HandMadeImages();

        var result = SensitivitySweep.Run(network, images, new SweepSettings { Criterion = PruningCriterion.Filter, Levels = [0, 0.5] });
        Assert.Equal(["hidden.fc1"], result.Settings.Layers);
        Assert.Equal(["hidden.fc1", "hidden.fc1"], result.Cells.Select(c => c.Layer));
        var leftOut = Assert.Single(result.LeftOut);
        Assert.Equal("classifier.fc", leftOut.Layer);
        Assert.Contains("removes a class", leftOut.Reason);

        var error = Assert.Throws<ArgumentException>(() => SensitivitySweep.Run(network, images,
            new SweepSettings { Criterion = PruningCriterion.Filter, Levels = [0.5], Layers = ["hidden.fc1", "classifier.fc"] }));
        Assert.StartsWith("Layer 'classifier.fc' cannot be in a filter sweep: it is the output layer", error.Message);
        Assert.Contains("Sweep it with the element criterion", error.Message);

        // A zoo model: vgg-tiny's filter sweep covers its six convs, its element sweep all seven layers.
        using var vgg = ModelZoo.Create(ModelZoo.VggTiny);
        Assert.Equal(["stage1.conv1", "stage1.conv2", "stage2.conv1", "stage2.conv2", "stage3.conv1", "stage3.conv2"],
            new SweepSettings { Criterion = PruningCriterion.Filter }.Normalize(vgg).Layers);
        Assert.Equal(7, new SweepSettings().Normalize(vgg).Layers!.Count);
    }

    [Theory]
    [InlineData(FilterNorm.L1)]
    [InlineData(FilterNorm.L2)]
    public void HandMadeMlpFilterSweepRemovesTheWeakerNeuron(FilterNorm norm)
    {
        using var network = PruningTestModels.HandMadeMlp();
        var result = SensitivitySweep.Run(network, PruningTestModels.HandMadeImages(),
            new SweepSettings { Criterion = PruningCriterion.Filter, Norm = norm, Levels = [0, 0.2, 0.25, 0.5], Layers = ["hidden.fc1"] });
        // Neuron norms: L1 2.5 and 4, L2 2.06 and 3.16: neuron 0 goes first either way.
        // 0.2 × 2 = 0.4 rounds to none; 0.25 × 2 = 0.5 rounds away from zero to one; then every image reads as class 1.
        Assert.Equal([0.75, 0.75, 0.5, 0.5], result.Cells.Select(c => c.Top1));
        Assert.Equal([0, 0, 0.5, 0.5], result.Cells.Select(c => c.ActualSparsity));
        Assert.Equal(ReferenceLoss([], filterRows: [0]), result.Cells[2].Loss, 5);
    }

    /// <summary>Plain C# forward of the hand-made MLP in double, independent of TorchSharp.</summary>
    /// <param name="prunedElements">Zeroed weights of hidden.fc1 (flat indices).</param>
    /// <param name="filterRows">Zeroed neurons (rows) of hidden.fc1.</param>
    /// <param name="prunedFc">Zeroed weights of classifier.fc (flat indices of its [[1, 0], [0, 1]]).</param>
    private static double ReferenceLoss(int[] prunedElements, int[] filterRows, int[]? prunedFc = null)
    {
        var images = PruningTestModels.HandMadeImages();
        var w = PruningTestModels.Fc1Weights.Select(v => (double)v).ToArray();
        foreach (var i in prunedElements) w[i] = 0;
        foreach (var row in filterRows) for (var j = 0; j < 4; j++) w[(row * 4) + j] = 0;
        var w2 = new double[] { 1, 0, 0, 1 };
        foreach (var i in prunedFc ?? []) w2[i] = 0;
        double total = 0;
        for (var n = 0; n < images.Count; n++)
        {
            var x = Enumerable.Range(0, 4).Select(j => ((images.Pixels[(n * 4) + j] / 255.0) - ImageNormalization.Mean) / ImageNormalization.Std).ToArray();
            var hidden = Enumerable.Range(0, 2).Select(c => Math.Max(0, Enumerable.Range(0, 4).Sum(j => w[(c * 4) + j] * x[j]))).ToArray();
            var logits = Enumerable.Range(0, 2).Select(c => Enumerable.Range(0, 2).Sum(j => w2[(c * 2) + j] * hidden[j])).ToArray();
            var logSum = Math.Log(logits.Sum(Math.Exp));
            total += logSum - logits[images.Labels[n]];
        }
        return total / images.Count;
    }

    [Theory]
    [InlineData(PruningCriterion.Element, true)]
    [InlineData(PruningCriterion.Filter, true)]
    [InlineData(PruningCriterion.Filter, false)]
    public void CachedAndNaiveGiveIdenticalNumbers(PruningCriterion criterion, bool fold)
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 21);
        var images = PruningTestModels.FashionTest(40);
        var settings = new SweepSettings { Criterion = criterion, Levels = [0, 0.3, 0.7, 0.9], BatchSize = 16, FoldBatchNorm = fold };
        var cached = SensitivitySweep.Run(network, images, settings with { Mode = SweepMode.Cached });
        var naive = SensitivitySweep.Run(network, images, settings with { Mode = SweepMode.Naive });
        Assert.Equal(naive.Baseline, cached.Baseline);
        Assert.Equal(naive.Cells, cached.Cells); // exact: same batches, same kernels, activations reused bit for bit
        var layers = criterion == PruningCriterion.Filter ? 6 : 7; // filter sweeps leave out classifier.fc
        Assert.Equal(layers * 4, cached.Cells.Count);
        Assert.Equal(layers * 3, cached.CellsComputed);
    }

    [Fact]
    public void CachedAndNaiveAgreeOnAnMlpWhoseActivationsAreNotCacheLineMultiples()
    {
        // hidden.fc2's input rows are 300 floats: cached rows start at offsets a fresh tensor would not.
        using var network = PruningTestModels.RandomZooModel(ModelZoo.Lenet300100, seed: 22);
        var images = PruningTestModels.FashionTest(30);
        var settings = new SweepSettings { Levels = [0.4, 0.8], BatchSize = 7 };
        var cached = SensitivitySweep.Run(network, images, settings);
        var naive = SensitivitySweep.Run(network, images, settings with { Mode = SweepMode.Naive });
        Assert.Equal(naive.Cells, cached.Cells);
    }

    [Fact]
    public void ACellDoesNotDependOnWhichCellsRanBefore()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.Lenet5, seed: 23);
        var images = PruningTestModels.FashionTest(40);
        foreach (var fold in new[] { true, false })
        {
            var settings = new SweepSettings { Levels = [0.2, 0.5, 0.9], BatchSize = 16, FoldBatchNorm = fold, Criterion = PruningCriterion.Filter };
            var full = SensitivitySweep.Run(network, images, settings);
            // Each cell alone, in a shuffled order (high levels before low ones), on the same network instance.
            var shuffled = full.Cells.ToArray();
            new Random(5).Shuffle(shuffled);
            foreach (var cell in shuffled)
            {
                var alone = SensitivitySweep.Run(network, images, settings with { Layers = [cell.Layer], Levels = [cell.Sparsity] });
                Assert.Equal(cell, Assert.Single(alone.Cells));
                Assert.Equal(full.Baseline, alone.Baseline);
            }
        }
    }

    [Fact]
    public void VggTinysEightFilterLayerKeepsAFilterAtTheTopLevelAndEveryCellReportsWhatItPruned()
    {
        // The reviewer's case (then 7 filters): stage1.conv1 has 8; 0.95 × 8 = 7.6 rounds to all 8 (100 %) unless capped at 7, and 0.05 × 8 to none.
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 30);
        var result = SensitivitySweep.Run(network, PruningTestModels.FashionTest(8),
            new SweepSettings { Criterion = PruningCriterion.Filter, Levels = [0.05, 0.5, 0.95] });
        Assert.Equal([0, 4.0 / 8, 7.0 / 8], result.CellsOf("stage1.conv1").Select(c => c.ActualSparsity));
        foreach (var cell in result.Cells)
        {
            var layer = SweepLayer.From(network.Layer(cell.Layer));
            Assert.Equal(PruningRanking.ActualSparsity(cell.Sparsity, layer.Filters), cell.ActualSparsity);
            Assert.True(cell.ActualSparsity < 1, $"{cell.Layer} at {cell.Sparsity} pruned every filter.");
        }
        Assert.Equal(8, SweepLayer.From(network.Layer("stage1.conv1")).Filters);
        Assert.Equal(7, SweepLayer.From(network.Layer("stage1.conv1")).PrunedUnits(0.95, PruningCriterion.Filter));
    }

    [Theory]
    [InlineData(PruningCriterion.Element)]
    [InlineData(PruningCriterion.Filter)]
    public void CellsStoredByTwoSweepsInAnotherOrderEqualThoseOfOneSweep(PruningCriterion criterion)
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 29);
        var images = PruningTestModels.FashionTest(24);
        var identity = new SweepIdentity("hash-vgg-tiny-29", "fashion-mnist", "test[:24]", BatchSize: 8);
        var settings = new SweepSettings { Criterion = criterion, BatchSize = 8 };

        // Store A: the high level first, then the two low ones, each by a sweep of its own.
        var split = new InMemorySweepCellStore();
        var high = SensitivitySweep.Run(network, images, settings with { Levels = [0.9] }, split, identity);
        var low = SensitivitySweep.Run(network, images, settings with { Levels = [0.1, 0.5] }, split, identity);
        // Store B: all three levels in one sweep.
        var whole = new InMemorySweepCellStore();
        var all = SensitivitySweep.Run(network, images, settings with { Levels = [0.1, 0.5, 0.9] }, whole, identity);

        var layers = criterion == PruningCriterion.Filter ? 6 : 7;
        Assert.Equal((layers, 2 * layers, 3 * layers), (high.CellsComputed, low.CellsComputed, all.CellsComputed));
        Assert.Equal(whole.Keys.OrderBy(k => (k.Layer, k.Level)), split.Keys.OrderBy(k => (k.Layer, k.Level)));
        foreach (var key in whole.Keys)
        {
            Assert.True(split.TryGet(key, out var a));
            Assert.True(whole.TryGet(key, out var b));
            Assert.Equal(b, a); // every number, bit for bit
        }
        Assert.Equal(all.Cells, high.Cells.Concat(low.Cells).OrderBy(c => Array.IndexOf(all.Settings.Layers!.ToArray(), c.Layer)).ThenBy(c => c.Sparsity));
        Assert.Equal(all.Baseline, high.Baseline);
        Assert.Equal(all.Baseline, low.Baseline);
    }

    [Fact]
    public void ResultsDoNotDependOnBatchSizeBeyondFloatRounding()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 24);
        var images = PruningTestModels.FashionTest(40);
        var settings = new SweepSettings { Levels = [0, 0.5, 0.9], Layers = ["stage1.conv2", "stage3.conv1"] };
        var small = SensitivitySweep.Run(network, images, settings with { BatchSize = 3 });
        var large = SensitivitySweep.Run(network, images, settings with { BatchSize = 40 });
        // Logits may differ in the last float bits (kernels pick algorithms by shape), so the loss is
        // compared to 1e-6 relative; top-1 and top-5 are counts and agree exactly here.
        Assert.Equal(small.Cells.Select(c => (c.Layer, c.Sparsity, c.Top1, c.Top5)), large.Cells.Select(c => (c.Layer, c.Sparsity, c.Top1, c.Top5)));
        foreach (var (a, b) in small.Cells.Zip(large.Cells))
            Assert.Equal(1.0, a.Loss / b.Loss, 6);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DenseWeightsAreBitIdenticalAfterEveryCell(bool fold)
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 25);
        var dense = PruningTestModels.Snapshot(network);
        var reports = 0;
        var progress = new SynchronousProgress<SweepProgress>(_ =>
        {
            PruningTestModels.AssertSameSnapshot(dense, PruningTestModels.Snapshot(network));
            reports++;
        });
        var settings = new SweepSettings { Criterion = PruningCriterion.Filter, Levels = [0.9, 0.1, 0.5], BatchSize = 8, FoldBatchNorm = fold };
        SensitivitySweep.Run(network, PruningTestModels.FashionTest(16), settings, progress);
        Assert.Equal(6 * 3, reports); // six conv layers; a filter sweep leaves out classifier.fc
        PruningTestModels.AssertSameSnapshot(dense, PruningTestModels.Snapshot(network));
    }

    [Fact]
    public void FoldedAndModuleEvaluationAgreeToFloatRounding()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 26);
        var images = PruningTestModels.FashionTest(40);
        var settings = new SweepSettings { Levels = [0, 0.6], Criterion = PruningCriterion.Filter };
        var folded = SensitivitySweep.Run(network, images, settings);
        var modules = SensitivitySweep.Run(network, images, settings with { FoldBatchNorm = false });
        foreach (var (a, b) in folded.Cells.Zip(modules.Cells))
        {
            Assert.Equal(b.Loss, a.Loss, 4);
            Assert.InRange(Math.Abs(a.Top1 - b.Top1), 0, 1.0 / 40); // at most one near-tie image may flip
        }
    }

    [Fact]
    public void ResumeAfterCancelComputesOnlyTheMissingCells()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 27);
        var images = PruningTestModels.FashionTest(24);
        var identity = new SweepIdentity("hash-vgg-tiny-27", "fashion-mnist", "test[:24]", BatchSize: 8);
        var settings = new SweepSettings { Levels = [0, 0.25, 0.5, 0.75], BatchSize = 8 };
        var uninterrupted = SensitivitySweep.Run(network, images, settings);

        var store = new CountingStore();
        using var cancel = new CancellationTokenSource();
        var computed = 0;
        var stopAfterFive = new SynchronousProgress<SweepProgress>(p =>
        {
            if (!p.FromStore && p.Cell.Sparsity > 0 && ++computed == 5) cancel.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            SensitivitySweep.Run(network, images, settings, store, identity, stopAfterFive, cancel.Token));
        Assert.Equal(1 + 5, store.Saves); // the baseline and five cells

        store.Saves = 0;
        var resumed = SensitivitySweep.Run(network, images, settings, store, identity);
        Assert.Equal((7 * 3) - 5, resumed.CellsComputed);
        Assert.Equal(5, resumed.CellsFromStore);
        Assert.Equal((7 * 3) - 5, store.Saves);
        Assert.Equal(uninterrupted.Baseline, resumed.Baseline);
        Assert.Equal(uninterrupted.Cells, resumed.Cells);

        store.Saves = 0;
        var again = SensitivitySweep.Run(network, images, settings, store, identity);
        Assert.Equal(0, again.CellsComputed);
        Assert.Equal(0, store.Saves);
        Assert.Equal(uninterrupted.Cells, again.Cells);

        // Another criterion is another set of cells (of the six conv layers: filter sweeps leave out classifier.fc).
        var filter = SensitivitySweep.Run(network, images, settings with { Criterion = PruningCriterion.Filter }, store, identity);
        Assert.Equal(6 * 3, filter.CellsComputed);
    }

    [Theory]
    [InlineData(1.0, "Sparsity level 1 is outside [0, 1): a level is the fraction of a layer to prune, and pruning all of it is not a level.")]
    [InlineData(1.5, "Sparsity level 1.5 is outside [0, 1): a level is the fraction of a layer to prune, and pruning all of it is not a level.")]
    [InlineData(-0.1, "Sparsity level -0.1 is outside [0, 1): it is negative, and a level is the fraction of a layer to prune, from 0 (nothing) up to but not including 1.")]
    [InlineData(double.NaN, "Sparsity level NaN is not a number.")]
    [InlineData(1e-20, "Sparsity level 0.00000000000000000001 is finer than 0.0001: give levels with at most 4 decimals.")]
    [InlineData(0.12345, "Sparsity level 0.12345 is finer than 0.0001: give levels with at most 4 decimals.")]
    public void BadLevelsAreRefusedWithAMessageThatFitsTheValue(double bad, string message)
    {
        using var network = PruningTestModels.HandMadeMlp();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            SensitivitySweep.Run(network, PruningTestModels.HandMadeImages(), new SweepSettings { Levels = [0, 0.5, bad] }));
        Assert.Equal(message, error.Message.Split(" (Parameter", 2)[0]);
    }

    [Fact]
    public void EveryLevelWithFourDecimalsIsAcceptedAndPrintsAsTyped()
    {
        // The resolution rule rejects 1e-20 and 0.12345 (above); everything a person types with up to four decimals passes and reads back unchanged.
        for (var step = 0; step < 10_000; step++)
        {
            var typed = step == 0 ? "0" : "0." + step.ToString("D4", System.Globalization.CultureInfo.InvariantCulture).TrimEnd('0');
            var level = Assert.Single(SweepLevels.Parse(typed));
            Assert.Equal(typed, SweepLevels.Format(level));
        }
        Assert.Equal("12.34", SweepLevels.FormatPercent(0.1234));
        Assert.Equal("5", SweepLevels.FormatPercent(0.05));
        Assert.Equal("0.01", SweepLevels.FormatPercent(0.0001));
        Assert.Equal("Sparsity level 0.30000000000000004 is finer than 0.0001: give levels with at most 4 decimals.",
            Assert.Throws<ArgumentOutOfRangeException>(() => SweepLevels.Validate(0.1 + 0.2)).Message.Split(" (Parameter", 2)[0]);
    }

    [Fact]
    public void LevelsAreSortedAndDeduplicated()
    {
        Assert.Equal([0, 0.1, 0.5], SweepLevels.Normalize([0.5, 0.1, 0.5, 0, 0.1]));
        // A computed level that misses its decimal by float rounding is that decimal (and then a duplicate of it).
        Assert.Equal([0.3, 0.7], SweepLevels.Normalize([0.1 + 0.2, 0.3, 0.1 * 7]));
        Assert.Equal([0, 0.25, 0.9], SweepLevels.Parse("0.9, 0,0.25"));
        Assert.Contains("'abc'", Assert.Throws<FormatException>(() => SweepLevels.Parse("0.1,abc")).Message);
        Assert.Equal(20, SweepLevels.Default.Count);
        Assert.Equal("0.15", SweepLevels.Default[3].ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0.95, SweepLevels.Default[^1]);

        using var network = PruningTestModels.HandMadeMlp();
        var result = SensitivitySweep.Run(network, PruningTestModels.HandMadeImages(), new SweepSettings { Levels = [0.75, 0.5, 0.75], Layers = ["classifier.fc", "hidden.fc1"] });
        Assert.Equal([0.5, 0.75], result.Settings.Levels);
        Assert.Equal(["hidden.fc1", "classifier.fc"], result.Settings.Layers); // table order
        Assert.Equal(["hidden.fc1", "hidden.fc1", "classifier.fc", "classifier.fc"], result.Cells.Select(c => c.Layer));
    }

    [Fact]
    public void UnknownLayersAreNamedWithTheValidOnes()
    {
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var error = Assert.Throws<ArgumentException>(() =>
            SensitivitySweep.Run(network, PruningTestModels.FashionTest(4), new SweepSettings { Layers = ["stage1.conv1", "stage4.conv1", "fc"] }));
        Assert.Contains("'stage4.conv1', 'fc'", error.Message);
        Assert.Contains("stage1.conv1, stage1.conv2, stage2.conv1, stage2.conv2, stage3.conv1, stage3.conv2, classifier.fc", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            SensitivitySweep.Run(network, PruningTestModels.FashionTest(4), new SweepSettings { BatchSize = 0 }));
    }

    [Fact]
    public void NetworkModeIsRestoredAndStoreNeedsAnIdentity()
    {
        using var network = PruningTestModels.HandMadeMlp();
        network.train();
        SensitivitySweep.Run(network, PruningTestModels.HandMadeImages(), new SweepSettings { Levels = [0.5] });
        Assert.True(network.training);
        Assert.Throws<ArgumentNullException>(() =>
            SensitivitySweep.Run(network, PruningTestModels.HandMadeImages(), new SweepSettings(), new InMemorySweepCellStore(), identity: null));
    }

    [Fact]
    public void ProgressFractionGrowsToOneWeightedByCost()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 28);
        var reports = new List<SweepProgress>();
        var result = SensitivitySweep.Run(network, PruningTestModels.FashionTest(8), new SweepSettings { Levels = [0, 0.5] },
            new SynchronousProgress<SweepProgress>(reports.Add));
        Assert.Equal(result.Cells, reports.Select(r => r.Cell));
        Assert.Equal(Enumerable.Range(1, 14), reports.Select(r => r.CellsDone));
        Assert.All(reports, r => Assert.Equal(14, r.CellsTotal));
        Assert.Equal(1.0, reports[^1].Fraction, 12);
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.Second.Fraction >= p.First.Fraction));
        // stage1.conv1's pruned cell runs the whole network, classifier.fc's almost nothing: the fraction says so.
        Assert.True(reports[1].Fraction > 0.2);
        Assert.True(reports[^1].Fraction - reports[^3].Fraction < 0.01);
    }

    private sealed class CountingStore : ISweepCellStore
    {
        private readonly InMemorySweepCellStore _inner = new();

        public int Saves { get; set; }

        public bool TryGet(SweepCellKey key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SweepCell? cell) => _inner.TryGet(key, out cell);

        public void Save(SweepCellKey key, SweepCell cell)
        {
            Saves++;
            _inner.Save(key, cell);
        }
    }
}

/// <summary>An IProgress that calls back on the reporting thread (Progress&lt;T&gt; posts asynchronously).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
