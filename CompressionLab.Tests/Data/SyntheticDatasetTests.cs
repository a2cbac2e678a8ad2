using System.Diagnostics;
using CompressionLab.Core.Data;
using Xunit.Abstractions;

namespace CompressionLab.Tests.Data;

public sealed class SyntheticDatasetTests(ITestOutputHelper output)
{
    [Fact]
    public void SameSeedGivesIdenticalBytesAndAnotherSeedDoesNot()
    {
        var a = SyntheticDataset.Generate(seed: 7, trainCount: 300, testCount: 100);
        var b = SyntheticDataset.Generate(seed: 7, trainCount: 300, testCount: 100);
        var c = SyntheticDataset.Generate(seed: 8, trainCount: 300, testCount: 100);
        Assert.Equal(a.Train.Pixels, b.Train.Pixels);
        Assert.Equal(a.Train.Labels, b.Train.Labels);
        Assert.Equal(a.Test.Pixels, b.Test.Pixels);
        Assert.NotEqual(a.Train.Pixels, c.Train.Pixels);
        Assert.NotEqual(a.Test.Pixels, c.Test.Pixels);
    }

    [Fact]
    public void TestImagesDoNotDependOnTheTrainSize()
    {
        var small = SyntheticDataset.Generate(seed: 3, trainCount: 50, testCount: 40);
        var large = SyntheticDataset.Generate(seed: 3, trainCount: 500, testCount: 40);
        Assert.Equal(small.Test.Pixels, large.Test.Pixels);
        Assert.NotEqual(small.Test.Pixels, small.Train.Pixels.AsSpan(0, small.Test.Pixels.Length).ToArray());
    }

    [Fact]
    public void IsNamedFlaggedAndShapedLikeFashionMnist()
    {
        var d = SyntheticDataset.Generate(seed: 1, trainCount: 20, testCount: 10);
        Assert.Equal("synthetic", d.Name);
        Assert.True(d.IsSynthetic);
        Assert.Contains("generated in code", d.Source);
        Assert.Equal((28, 28), (d.Train.Height, d.Train.Width));
        Assert.Equal(10, d.Train.ClassCount);
        Assert.Equal(10, d.Train.ClassNames.Distinct().Count());
        Assert.Contains("ring", d.Train.ClassNames);
        Assert.Equal((20, 10), (d.Train.Count, d.Test.Count));
    }

    [Theory]
    [InlineData(1000, 100)]
    [InlineData(1003, 97)]
    public void ClassesAreBalanced(int train, int test)
    {
        var d = SyntheticDataset.Generate(seed: 5, trainCount: train, testCount: test);
        foreach (var part in new[] { d.Train, d.Test })
        {
            var counts = Enumerable.Range(0, 10).Select(c => part.Labels.Count(l => l == c)).ToArray();
            Assert.Equal(part.Count, counts.Sum());
            Assert.True(counts.Max() - counts.Min() <= 1, string.Join(",", counts));
        }
    }

    [Fact]
    public void ImagesHaveInkAndNoiseButAreNotSaturated()
    {
        var d = SyntheticDataset.Generate(seed: 2, trainCount: 200, testCount: 10);
        for (var i = 0; i < d.Train.Count; i++)
        {
            var image = d.Train.Pixels.AsSpan(i * 784, 784);
            var ink = 0;
            foreach (var p in image) if (p > 128) ink++;
            // Every shape covers more than a stroke's worth of pixels and far less than the whole canvas.
            Assert.InRange(ink, 10, 500);
        }
    }

    /// <summary>
    /// Learnable but not trivial: a nearest-class-mean classifier (an independent, model-free method) does much
    /// better than chance (10%) yet far from perfect, because of position, size and tilt jitter.
    /// </summary>
    [Fact]
    public void NearestClassMeanIsWellAboveChanceButFarFromPerfect()
    {
        var watch = Stopwatch.StartNew();
        var d = SyntheticDataset.Generate();
        output.WriteLine($"default synthetic ({d.Train.Count} + {d.Test.Count}) generated in {watch.ElapsedMilliseconds} ms");

        var means = new double[10, 784];
        var counts = new int[10];
        for (var i = 0; i < d.Train.Count; i++)
        {
            var label = d.Train.Labels[i];
            counts[label]++;
            for (var p = 0; p < 784; p++) means[label, p] += d.Train.Pixels[(i * 784) + p];
        }
        for (var c = 0; c < 10; c++) for (var p = 0; p < 784; p++) means[c, p] /= counts[c];

        var correct = 0;
        for (var i = 0; i < d.Test.Count; i++)
        {
            var best = (Class: -1, Distance: double.MaxValue);
            for (var c = 0; c < 10; c++)
            {
                double distance = 0;
                for (var p = 0; p < 784; p++)
                {
                    var diff = d.Test.Pixels[(i * 784) + p] - means[c, p];
                    distance += diff * diff;
                }
                if (distance < best.Distance) best = (c, distance);
            }
            if (best.Class == d.Test.Labels[i]) correct++;
        }
        var accuracy = (double)correct / d.Test.Count;
        output.WriteLine($"nearest-class-mean accuracy {accuracy:P1}");
        Assert.InRange(accuracy, 0.3, 0.9);
    }
}
