using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Jobs;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

/// <summary>The dashboard's way in: <see cref="QuantizationJobs"/> over a real scheduler and workspace, a random lenet-300-100, a few dozen images.</summary>
[Collection(SerialCollection.Name)]
public sealed class QuantizationJobsTests : IAsyncLifetime
{
    private SchedulerHarness _harness = null!;
    private QuantizationJobs _jobs = null!;
    private ModelRecord _model = null!;

    public async Task InitializeAsync()
    {
        _harness = await SchedulerHarness.StartedAsync();
        var file = Path.Combine(_harness.Workspace.Root, "lenet.ckpt");
        manual_seed(9);
        using (var network = ModelZoo.Create(ModelZoo.Lenet300100))
            Checkpoint.Save(network, file, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        var store = new ModelStore(_harness.Database);
        _model = store.Import(file, new ModelEntry("lenet", ModelZoo.Lenet300100, IdxDataset.FashionMnistName, null, 266_610));
        var catalog = new DatasetCatalog(new DatasetOptions { Folders = [TestData.FashionMnistFolder], CacheFolder = Path.Combine(_harness.Workspace.Root, "cache"), AllowDownload = false });
        _jobs = new QuantizationJobs(_harness.Scheduler, catalog, store, new CalibrationProfileStore(_harness.Database), new Int8EvaluationStore(_harness.Database));
    }

    public async Task DisposeAsync() => await _harness.DisposeAsync();

    private Int8ComparisonRequest Request(int evaluationSize = 60) => new(
        _model.Id,
        Methods: [ClippingMethod.Parse("max"), ClippingMethod.Parse("mse")],
        Choice: QuantizationChoice.Parse("symmetric", "mse", floatLayers: ["classifier.fc"]),
        Images: new Int8Images(40, SplitPart.Validation, evaluationSize));

    [Fact]
    public async Task AComparisonPublishesEachConfigurationAndARepeatIsReadBackFromTheWorkspace()
    {
        var partials = new List<Int8ConfigurationMeasured>();
        using var subscription = _harness.Scheduler.Subscribe(update =>
        {
            if (update.Partial is Int8ConfigurationMeasured measured) lock (partials) partials.Add(measured);
        });
        var started = _jobs.StartComparison(Request());
        Assert.Equal(Int8ComparisonJob.Kind, started.Kind);
        Assert.Contains("\"calibrationSize\":40", started.ParametersJson);
        Assert.Contains("\"dataset\":\"fashion-mnist\"", started.ParametersJson);

        var finished = await _harness.WaitAsync(started.Id);
        Assert.True(finished.State == JobState.Succeeded, finished.Error);
        var outcome = Int8ComparisonOutcome.FromJson(finished.ResultJson!);
        Assert.Equal(["float", "max", "mse", Int8ComparisonJob.ChosenMix], outcome.Results.Select(r => r.Label));
        Assert.All(outcome.Results, r => Assert.False(r.FromStore));
        Assert.All(outcome.Results, r => Assert.Equal(60, r.Measured!.Samples));
        Assert.Equal("symmetric mse; float: classifier.fc; logits float", outcome.Results[3].Configuration);
        lock (partials) Assert.Equal([0, 1, 2, 3], partials.Select(p => p.Index));

        var again = await _harness.WaitAsync(_jobs.StartComparison(Request()).Id);
        var repeated = Int8ComparisonOutcome.FromJson(again.ResultJson!);
        Assert.All(repeated.Results, r => Assert.True(r.FromStore));
        Assert.Equal(outcome.Results.Select(r => r.Measured), repeated.Results.Select(r => r.Measured));
        Assert.Equal(4, _jobs.Evaluations.List().Count);
        // The thresholds came from one profile, kept in the workspace for the page and later runs.
        Assert.Single(new CalibrationProfileStore(_harness.Database).List(outcome.WeightsHash));
    }

    [Fact]
    public async Task BadRequestsAreRefusedBeforeQueueingAndAWrongLayerFailsTheJobNamingIt()
    {
        var refused = Assert.Throws<InvalidRequestException>(() => _jobs.StartComparison(Request(evaluationSize: 0)));
        Assert.Equal(nameof(Int8Images.EvaluationSize), refused.Setting);
        Assert.Empty(_harness.Scheduler.List());

        var wrong = Request() with { Choice = QuantizationChoice.Parse("symmetric", "mse", floatLayers: ["stage9.conv1"]) };
        var failed = await _harness.WaitAsync(_jobs.StartComparison(wrong).Id);
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Contains("stage9.conv1", failed.Error);
        Assert.Empty(_jobs.Evaluations.List()); // checked before anything was measured
    }

    [Fact]
    public async Task SensitivityMeasuresEachLayerAloneAndCancelStopsIt()
    {
        var request = new QuantSensitivityRequest(_model.Id, [ClippingMethod.Parse("max")], Images: new Int8Images(40, SplitPart.Validation, 60), SuggestMix: true, Tolerance: 0.5);
        var finished = await _harness.WaitAsync(_jobs.StartSensitivity(request).Id);
        Assert.True(finished.State == JobState.Succeeded, finished.Error);
        var outcome = QuantSensitivityOutcome.FromJson(finished.ResultJson!);
        Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], outcome.Layers.Select(l => l.Layer));
        // A tolerance of 50 points is met by the first mix: nothing kept in float.
        Assert.NotNull(outcome.Mix);
        Assert.Empty(outcome.Mix.FloatLayers);
        Assert.True(outcome.Mix.WithinTolerance);
        Assert.Single(outcome.Mix.Steps);

        var big = new QuantSensitivityRequest(_model.Id, QuantizationChoice.StandardMethods, Images: new Int8Images(40, SplitPart.Validation, 2000));
        var started = _jobs.StartSensitivity(big);
        Assert.True(_harness.Scheduler.Cancel(started.Id));
        Assert.Equal(JobState.Cancelled, (await _harness.WaitAsync(started.Id)).State);
    }
}
