using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Pruning;

/// <summary>Serial: the benchmark sets libtorch's thread count, which other tests' convolutions read while they run.</summary>
[Collection(SerialCollection.Name)]
public class SweepBenchmarkTests
{
    [Fact]
    public void SmallBenchmarkReportsConsistentNumbers()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 31);
        var images = PruningTestModels.FashionTest(32);
        var settings = new SweepSettings { Levels = [0, 0.5, 0.9], Layers = ["stage1.conv2", "stage3.conv2"], BatchSize = 16 };
        var result = SweepBenchmark.Run(network, images, settings, threads: 1);

        Assert.True(result.ResultsIdentical);
        Assert.Equal(SweepCost.Of(network, settings).FlopRatio, result.FlopRatio);
        // Caching can never cost more than the naive way, nor save more than skipping stage 1 in every stage-3 cell.
        Assert.True(result.TimeRatio > 1 && result.TimeRatio < 2, $"time ratio {result.TimeRatio}");
        Assert.Equal(result.Speedup / result.TimeRatio, result.SpeedupOfTimeCeiling, 12);
        Assert.Equal(4, result.PrunedCells);
        Assert.Equal(result.NaiveSeconds / result.CachedSeconds, result.Speedup, 12);
        Assert.Equal((1 + 4) * 32 / result.NaiveSeconds, result.ImagesPerSecond, 6);
        Assert.True(result.PeakGflops > 0 && result.Gflops > 0 && result.CachedGflops > 0);
        Assert.True(result.PeakRssBytes > 0);
        Assert.Equal(16, result.BatchSize);
        Assert.Equal(1, result.Threads);
    }

    [Fact]
    public void MatrixMultiplyPeakIsPositiveAndFinite()
    {
        var peak = SweepBenchmark.MeasureMatrixMultiplyGflops(size: 256, repetitions: 2);
        Assert.True(peak > 0 && double.IsFinite(peak));
    }
}
