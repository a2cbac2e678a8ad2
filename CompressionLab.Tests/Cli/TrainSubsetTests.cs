using CompressionLab.Cli;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;

using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// <c>train --limit N</c> trains on the images the dashboard's training job takes for N training images: the CLI runs
/// that job's body with <c>TrainingImages = N</c>, so this pins the selection itself and that the CLI gets it. Serial: the
/// weights are compared bit for bit (global generator).
/// </summary>
[Collection(SerialCollection.Name)]
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

    /// <summary>
    /// The same request through the CLI and through the dashboard's job body gives the same weights, bit for bit, so the
    /// CLI trained on the very images the job selects (the weights depend on which images, in which order).
    /// </summary>
    [Fact]
    public void TheCliTrainsOnTheImagesTheDashboardsJobSelects()
    {
        using var folder = new CliFolder("clab-cli-subset-");
        string[] train = ["train", "--arch", "lenet-300-100", "--dataset", "synthetic", "--seed", "4", "--epochs", "1", "--json"];

        var (code, output, error) = Run([.. train, "--limit", "40", "--out", folder.PathOf("cli.ckpt")]);

        Assert.True(code == 0, error);
        var cli = LastJsonLine(output);
        Assert.Equal(40, cli.GetProperty("training_images").GetInt32());
        var job = TrainingJob.Run(new TrainingRequest("lenet-300-100", "synthetic", Epochs: 1, Seed: 4, TrainingImages: 40, OutputFile: folder.PathOf("job.ckpt")),
            DatasetSource.Catalog(new CliSettings(new(), new())), store: null, new RecordingProgress(), CancellationToken.None);
        Assert.Equal(job.WeightsHash, cli.GetProperty("weights_hash").GetString());

        // The hash sees the images: two more of them, other weights.
        var more = Run([.. train, "--limit", "42", "--out", folder.PathOf("more.ckpt")]);
        Assert.True(more.Code == 0, more.Err);
        Assert.NotEqual(job.WeightsHash, LastJsonLine(more.Out).GetProperty("weights_hash").GetString());
    }
}
