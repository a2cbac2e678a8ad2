using CompressionLab.Core.Data;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Workspace;
using CompressionLab.Core.Workspace;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Distillation;

/// <summary>Logits of a random vgg-tiny on a validation subset: computed through the folded forward, kept in the workspace, read back.</summary>
[Collection(Models.SerialCollection.Name)]
public sealed class LogitsJobTests : IDisposable
{
    private readonly TempWorkspace _workspace = new();
    private readonly string _model;

    public LogitsJobTests()
    {
        _model = DistillationTestData.SaveRandom(_workspace.Root, ModelZoo.VggTiny, 91, "tiny.ckpt");
    }

    public void Dispose() => _workspace.Dispose();

    private static DatasetCatalog Catalog() => DistillationTestData.Catalog();

    [Fact]
    public void LogitsEqualTheModulesForwardOnTheSubsetAndAreReadBackFromTheWorkspace()
    {
        var cache = new LogitsStore(_workspace.OpenDatabase());
        var request = new LogitsRequest(new CheckpointFile(_model), IdxDataset.FashionMnistName, 130);
        var (logits, fromCache) = LogitsJob.Run(request, Catalog(), null, cache, new RecordingProgress(), CancellationToken.None);
        Assert.False(fromCache);
        Assert.Equal(130, logits.Rows);
        Assert.Equal(10, logits.Classes);

        // Independent path: the network's own modules (BatchNorm not folded), eval mode, on the same subset's images.
        var subset = AnalysisSubset.Validation(TestData.FashionMnist, 130);
        Assert.Equal(subset.Key, logits.SubsetKey);
        Assert.Equal(subset.Images.Labels.Select(l => (int)l), logits.Labels);
        using var checkpoint = Checkpoint.Load(_model);
        Assert.Equal(checkpoint.Metadata.ContentHash, logits.WeightsHash);
        checkpoint.Model.eval();
        float[] expected;
        using (no_grad())
            expected = checkpoint.Model.forward(ImageTensors.Inputs(subset.Images)).data<float>().ToArray();
        Assert.Equal(expected.Length, logits.Values.Length);
        for (var i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - logits.Values[i]) < 1e-4, $"logit {i}: {expected[i]} vs {logits.Values[i]}");

        var (again, fromCacheAgain) = LogitsJob.Run(request, Catalog(), null, cache, new RecordingProgress(), CancellationToken.None);
        Assert.True(fromCacheAgain);
        Assert.Equal(logits.Values, again.Values);
        Assert.Equal(logits.Labels, again.Labels);

        // Another subset is another key.
        Assert.Null(cache.Find(logits.WeightsHash, IdxDataset.FashionMnistName, AnalysisSubset.Validation(TestData.FashionMnist, 131).Key));
    }

    [Fact]
    public void SoftTargetJobOfAModelAgainstItselfHasZeroKlAndFullAgreement()
    {
        var request = new SoftTargetRequest([new CheckpointFile(_model)], new CheckpointFile(_model), IdxDataset.FashionMnistName, [1, 4], 64);
        var report = SoftTargetJob.Run(request, Catalog(), null, null, new RecordingProgress(), CancellationToken.None);
        Assert.All(report.Points, p => Assert.Equal(0, p.Kl, 9));
        Assert.Equal(1, report.Comparison.Agreement);
        Assert.Equal(IdxDataset.FashionMnistClasses, report.ClassNames);
    }

    [Theory]
    [InlineData("1,0")]
    [InlineData("2,x")]
    [InlineData("-1")]
    [InlineData(",")]
    public void BadTemperaturesAreRefusedNamingTheSetting(string text)
    {
        var error = Assert.Throws<InvalidRequestException>(() => SoftTargetRequest.ParseTemperatures(text));
        Assert.Equal(nameof(SoftTargetRequest.Temperatures), error.Setting);
    }
}
