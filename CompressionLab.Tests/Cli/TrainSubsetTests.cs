using CompressionLab.Core.Models;

using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// <c>train --limit N</c> trains on the images the dashboard's training job takes for N training images: the CLI runs
/// that job's body with <c>TrainingImages = N</c>, so this pins the selection itself and that the CLI asks for it.
/// </summary>
public sealed class TrainSubsetTests
{
    [Fact]
    public void LimitTakesTheDashboardsClassStratifiedSubsetSeededByTheSeed()
    {
        var split = TrainingJob.Split(TestData.FashionMnist);

        var subset = TrainingJob.TrainingImages(new TrainingRequest("vgg-tiny", "fashion-mnist", Seed: 4, TrainingImages: 500), split);

        // Known answer: 500 images of 10 classes, stratified, are 50 of each; the first 500 are not.
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(50, subset.Labels.Count(l => l == c)));
        Assert.NotEqual(split.Train.Take(500).Labels, subset.Labels);
        // The seed reaches the draw: another seed, other images.
        Assert.NotEqual(subset.Pixels, TrainingJob.TrainingImages(new TrainingRequest("vgg-tiny", "fashion-mnist", Seed: 5, TrainingImages: 500), split).Pixels);
    }

    [Fact]
    public void WithoutLimitItIsTheWholeTrainPart()
    {
        var split = TrainingJob.Split(TestData.FashionMnist);

        Assert.Same(split.Train, TrainingJob.TrainingImages(new TrainingRequest("vgg-tiny", "fashion-mnist", Seed: 1), split));
    }

    [Fact]
    public void TheCliReportsTheImagesItTrainedOn()
    {
        using var folder = new CliFolder("clab-cli-subset-");

        var (code, output, error) = Run("train", "--arch", "lenet-300-100", "--dataset", "synthetic", "--limit", "40", "--epochs", "1",
            "--out", folder.PathOf("m.ckpt"), "--json");

        Assert.True(code == 0, error);
        Assert.Equal(40, LastJsonLine(output).GetProperty("training_images").GetInt32());
    }
}
