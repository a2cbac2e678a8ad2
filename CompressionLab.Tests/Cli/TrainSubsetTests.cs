using CompressionLab.Cli.Commands;
using CompressionLab.Core.Models;

namespace CompressionLab.Tests.Cli;

/// <summary><c>train --limit N</c> trains on the images the dashboard's training job takes for N training images.</summary>
public sealed class TrainSubsetTests
{
    [Fact]
    public void LimitTakesTheDashboardsClassStratifiedSubsetSeededByTheSeed()
    {
        var split = TrainingJob.Split(TestData.FashionMnist);

        var cli = TrainCommand.TrainingImages("vgg-tiny", split, limit: 500, seed: 4);

        var dashboard = TrainingJob.TrainingImages(new TrainingRequest("vgg-tiny", "fashion-mnist", Seed: 4, TrainingImages: 500), split);
        Assert.Equal(dashboard.Labels, cli.Labels);
        Assert.Equal(dashboard.Pixels, cli.Pixels);
        // Known answer: 500 images of 10 classes, stratified, are 50 of each; the first 500 are not.
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(50, cli.Labels.Count(l => l == c)));
        Assert.NotEqual(split.Train.Take(500).Labels, cli.Labels);
        // The seed reaches the draw: another seed, other images.
        Assert.NotEqual(cli.Pixels, TrainCommand.TrainingImages("vgg-tiny", split, limit: 500, seed: 5).Pixels);
    }

    [Fact]
    public void WithoutLimitItIsTheWholeTrainPart()
    {
        var split = TrainingJob.Split(TestData.FashionMnist);

        Assert.Same(split.Train, TrainCommand.TrainingImages("vgg-tiny", split, limit: null, seed: 1));
    }
}
