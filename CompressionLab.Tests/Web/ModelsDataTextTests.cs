using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Web;
using CompressionLab.Web.Components.Pages.ModelsData;

namespace CompressionLab.Tests.Web;

public class ModelsDataTextTests
{
    [Theory]
    [InlineData(0.93128, "93.13\u00a0%")]
    [InlineData(1.0, "100.00\u00a0%")]
    [InlineData(null, "—")]
    public void AccuracyIsAPercentWithTwoDecimals(double? fraction, string expected) =>
        Assert.Equal(expected, ModelsDataText.Accuracy(fraction));

    [Theory]
    [InlineData(3, "about 5 s")]
    [InlineData(42, "about 40 s")]
    [InlineData(841, "about 14 min")]
    [InlineData(3599, "about 60 min")]
    [InlineData(4500, "about 1 h 15 min")]
    public void AnEstimateIsRoundedToWhatItCanClaim(double seconds, string expected) =>
        Assert.Equal(expected, ModelsDataText.About(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void ATrainingOutcomeNamesTheModelAndItsAccuracy()
    {
        var result = new TrainingJobResult(Guid.NewGuid(), "Teacher", "vgg-small", "fashion-mnist", 0.9312, 0.998, 0.2, 7, 55_000, 288_554, 512.4);

        Assert.Equal("Stored \"Teacher\": test top-1 93.12\u00a0% in 8 min 33 s.", ModelsDataText.TrainingOutcome(ModelJobJson.Write(result)));
        Assert.Null(ModelsDataText.TrainingOutcome("not json"));
        Assert.Null(ModelsDataText.TrainingOutcome(null));
    }

    [Theory]
    [InlineData("vgg-tiny · 10 epochs · seed 1", "vgg-tiny-10-epochs-seed-1.ckpt")]
    [InlineData("Teacher vgg-small", "Teacher-vgg-small.ckpt")]
    [InlineData("../../etc/passwd", "etc-passwd.ckpt")]
    [InlineData("···", "vgg-small.ckpt")]
    public void ACheckpointDownloadIsNamedAfterTheModelSafely(string displayName, string expected)
    {
        var model = new ModelRecord(Guid.NewGuid(), displayName, "vgg-small", "fashion-mnist", null, 1, "ab", "/x", DateTimeOffset.UnixEpoch, "{}");

        Assert.Equal(expected, CompressionLabWebExtensions.CheckpointFileName(model));
    }

    [Fact]
    public void AQueuedEstimateOrUploadSaysWhatItWaitsFor()
    {
        var train = FakeJobScheduler.Job("Train vgg-small on fashion-mnist", CompressionLab.Core.Jobs.JobState.Running);
        var sweep = FakeJobScheduler.Job("Sweep vgg-tiny");

        Assert.Equal("Queued: measuring this machine's training speed for an estimate starts in a moment.", ModelsDataText.EstimateQueued([]));
        Assert.Equal("Queued behind 2 jobs (\"Train vgg-small on fashion-mnist\" first): the training speed is measured when they finish, so they do not compete for the processor.",
            ModelsDataText.EstimateQueued([train, sweep]));
        Assert.Equal("a.ckpt is uploaded and queued: it is checked in a moment.", ModelsDataText.ImportQueued("a.ckpt", []));
        Assert.Equal("a.ckpt is uploaded and queued behind \"Train vgg-small on fashion-mnist\": it is checked when that finishes.",
            ModelsDataText.ImportQueued("a.ckpt", [train]));
        Assert.Equal("a.ckpt is uploaded and queued behind 2 jobs (\"Train vgg-small on fashion-mnist\" first): it is checked when they finish.",
            ModelsDataText.ImportQueued("a.ckpt", [train, sweep]));
    }

    [Fact]
    public void AnImportOutcomeSaysWhatWasStoredOrThatNothingWasAdded()
    {
        var stored = new CheckpointImportReport("my lenet.ckpt", Guid.NewGuid(), "my lenet", "lenet-5", "fashion-mnist", 0.8765, 61_706, AlreadyPresent: false);

        Assert.Equal("Imported \"my lenet\": lenet-5 trained on fashion-mnist, test top-1 87.65\u00a0%.", ModelsDataText.ImportOutcome(stored));
        Assert.Equal("copy.ckpt is already in the workspace as \"my lenet\"; nothing was added.",
            ModelsDataText.ImportOutcome(stored with { FileName = "copy.ckpt", AlreadyPresent = true }));
    }
}
