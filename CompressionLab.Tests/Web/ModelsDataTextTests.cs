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
}
