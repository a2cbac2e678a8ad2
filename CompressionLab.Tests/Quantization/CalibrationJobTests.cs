using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Jobs;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

/// <summary><see cref="CalibrationJob"/> directly and through <see cref="CalibrationJobs"/> over a real scheduler and workspace; a random vgg-tiny.</summary>
[Collection(SerialCollection.Name)]
public sealed class CalibrationJobTests : IAsyncLifetime
{
    private SchedulerHarness _harness = null!;
    private CalibrationJobs _jobs = null!;
    private ModelRecord _model = null!;
    private DatasetCatalog _catalog = null!;
    private string _file = null!;

    public async Task InitializeAsync()
    {
        _harness = await SchedulerHarness.StartedAsync();
        _file = Path.Combine(_harness.Workspace.Root, "vgg-tiny.ckpt");
        using (var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 12))
            Checkpoint.Save(network, _file, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        var store = new ModelStore(_harness.Database);
        _model = store.Import(_file, new ModelEntry("tiny", ModelZoo.VggTiny, IdxDataset.FashionMnistName, null, 0));
        _catalog = new DatasetCatalog(new DatasetOptions { Folders = [TestData.FashionMnistFolder], CacheFolder = Path.Combine(_harness.Workspace.Root, "cache"), AllowDownload = false });
        _jobs = new CalibrationJobs(_harness.Scheduler, _catalog, store, new CalibrationProfileStore(_harness.Database));
    }

    public async Task DisposeAsync() => await _harness.DisposeAsync();

    private sealed class Recording(Action<string>? onReport = null) : IJobProgress
    {
        public List<(double Fraction, string Message)> Reports { get; } = [];
        public List<JobPartial> Partials { get; } = [];

        public void Report(double fraction, string message)
        {
            Reports.Add((fraction, message));
            onReport?.Invoke(message);
        }

        public void Publish(JobPartial partial) => Partials.Add(partial);
    }

    [Fact]
    public void ProgressComesPerBatchAndTheProfileIsKeptThenReadBack()
    {
        var profiles = new CalibrationProfileStore(_harness.Database);
        var request = new CalibrationRequest(new CheckpointFile(_file), Method: "mse", SubsetSize: 150);
        var progress = new Recording();
        var outcome = CalibrationJob.Run(request, _catalog, null, profiles, null, progress, CancellationToken.None);

        var batches = progress.Reports.Where(r => r.Message.StartsWith("Collecting statistics:", StringComparison.Ordinal)).ToList();
        Assert.Equal(["Collecting statistics: 64 of 150 images", "Collecting statistics: 128 of 150 images", "Collecting statistics: 150 of 150 images"],
            batches.Select(b => b.Message));
        Assert.True(batches.Zip(batches.Skip(1)).All(p => p.First.Fraction < p.Second.Fraction));
        Assert.Equal(1.0, progress.Reports[^1].Fraction);
        var ready = Assert.IsType<CalibrationProfileReady>(Assert.Single(progress.Partials));
        Assert.False(ready.FromStore);
        Assert.False(outcome.ProfileFromStore);
        Assert.Equal(6 * 3 + 3, outcome.Tensors.Count); // 7 layers × input, output, weight
        Assert.InRange(outcome.Top1Int8, 0, 1);

        var stored = profiles.Find(new CalibrationProfileKey(outcome.WeightsHash, "fashion-mnist", outcome.SubsetKey));
        Assert.NotNull(stored);
        CalibrationProfileStoreTests.AssertSameProfile(outcome.Profile, stored);

        var again = CalibrationJob.Run(request, _catalog, null, profiles, null, new Recording(), CancellationToken.None);
        Assert.True(again.ProfileFromStore);
        Assert.Equal(outcome.Top1Float, again.Top1Float);
        Assert.Equal(outcome.Top1Int8, again.Top1Int8);
        Assert.Equal(outcome.Tensors, again.Tensors);
    }

    [Fact]
    public void CancelDuringCollectionStopsAndKeepsNothing()
    {
        var profiles = new CalibrationProfileStore(_harness.Database);
        using var cancel = new CancellationTokenSource();
        var progress = new Recording(message =>
        {
            if (message.StartsWith("Collecting statistics: 64 ", StringComparison.Ordinal)) cancel.Cancel();
        });
        var request = new CalibrationRequest(new CheckpointFile(_file), Method: "max", SubsetSize: 300);
        Assert.ThrowsAny<OperationCanceledException>(() => CalibrationJob.Run(request, _catalog, null, profiles, null, progress, cancel.Token));
        Assert.Single(progress.Reports, r => r.Message.StartsWith("Collecting statistics:", StringComparison.Ordinal));
        Assert.Empty(profiles.List(Checkpoint.ReadMetadata(_file).ContentHash));
    }

    [Theory]
    [InlineData("Method", "kl", QuantizationMode.Symmetric, 512, null)]
    [InlineData("Method", "entropy", QuantizationMode.Asymmetric, 512, null)]
    [InlineData("Mode", "max", QuantizationMode.Unsigned, 512, null)]
    [InlineData("SubsetSize", "max", QuantizationMode.Symmetric, 0, null)]
    [InlineData("StatsYamlFile", "max", QuantizationMode.Symmetric, 512, " ")]
    public void ValidateNamesTheSetting(string setting, string method, QuantizationMode mode, int size, string? yaml)
    {
        var request = new CalibrationRequest(new CheckpointFile(_file), Method: method, Mode: mode, SubsetSize: size, StatsYamlFile: yaml);
        Assert.Equal(setting, Assert.Throws<InvalidRequestException>(request.Validate).Setting);
    }

    [Fact]
    public async Task TheDashboardStarterRunsTheJobAndAMissingModelIsRefusedBeforeQueueing()
    {
        var started = _jobs.StartCalibration(new CalibrationRequest(_model.Id, Method: "percentile:99.99", SubsetSize: 40));
        Assert.Equal(CalibrationJob.Kind, started.Kind);
        Assert.Contains("percentile:99.99", started.Title);
        var finished = await _harness.WaitAsync(started.Id);
        Assert.True(finished.State == JobState.Succeeded, finished.Error);
        var result = CalibrationJobResult.FromJson(finished.ResultJson!);
        Assert.Equal(40, result.Images);
        Assert.Equal(_model.Id, result.ModelId);
        Assert.NotNull(_jobs.Profiles.Find(new CalibrationProfileKey(result.WeightsHash, result.Dataset, result.Subset)));

        Assert.ThrowsAny<ArgumentException>(() => _jobs.StartCalibration(new CalibrationRequest(Guid.NewGuid())));
        Assert.Single(_harness.Scheduler.List());
    }
}
