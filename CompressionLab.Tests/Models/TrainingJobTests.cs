using System.Globalization;
using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Jobs;

namespace CompressionLab.Tests.Models;

public sealed class TrainingJobTests : IDisposable
{
    // 784·300 + 300 + 300·100 + 100 + 100·10 + 10, counted by hand.
    private const long Lenet300100Parameters = 266_610;

    private readonly ModelJobTestBench _bench = new(withFashionMnist: true);

    public void Dispose() => _bench.Dispose();

    [Fact]
    public void TrainsOnASubsetStoresTheModelWithItsTestAccuracyAndReportsProgress()
    {
        var request = new TrainingRequest(ModelZoo.Lenet300100, "fashion-mnist", Epochs: 2, Seed: 3, TrainingImages: 1000);
        var progress = new RecordingProgress();

        var result = TrainingJob.Run(request, _bench.Catalog, _bench.Store, progress, CancellationToken.None);

        Assert.Equal((2, 1000, Lenet300100Parameters), (result.Epochs, result.TrainingImages, result.ParameterCount));
        var record = Assert.Single(_bench.Store.List());
        Assert.Equal(result.ModelId, record.Id);
        Assert.Equal(("lenet-300-100 · 2 epochs · 1,000 images · seed 3", "lenet-300-100", "fashion-mnist", result.Top1, Lenet300100Parameters),
            (record.DisplayName, record.Architecture, record.Dataset, record.Top1, record.ParameterCount));
        Assert.True(result.Top1 > 0.4, $"test top-1 {result.Top1:P1} after training on 1,000 images (chance is 10 %)");

        // Independently: the stored file, loaded and evaluated on the whole test split, gives the recorded accuracy.
        using (var checkpoint = Checkpoint.Load(record.FilePath))
        {
            var check = Evaluator.Evaluate(checkpoint.Model, TestData.FashionMnist.Test);
            Assert.Equal(10_000, check.Samples);
            Assert.Equal(result.Top1, check.Top1);
            Assert.Equal(result.Top1, checkpoint.Metadata.Top1);
            Assert.Equal(2, checkpoint.Metadata.Training!.Epochs);
        }
        using (var details = JsonDocument.Parse(record.MetadataJson))
        {
            Assert.Equal("trained", details.RootElement.GetProperty("source").GetString());
            Assert.Equal(1000, details.RootElement.GetProperty("trainingImages").GetInt32());
        }

        // Only the content-addressed checkpoint is left; no temporary file.
        Assert.Equal([$"{record.ContentHash}.ckpt"], _bench.ModelFiles());

        // 1,000 images in batches of 128: 7 full batches and one of 104.
        var fractions = progress.Reports.Select(r => r.Fraction).ToArray();
        Assert.Equal(fractions.Order(), fractions);
        Assert.Equal(1.0, fractions[^1]);
        Assert.Equal(0.99, fractions[^2]);
        // The last message, which the job list keeps, says what was stored.
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"Stored \"{record.DisplayName}\": test top-1 {record.Top1!.Value * 100:0.00}%"),
            progress.Reports[^1].Message);
        Assert.Contains(progress.Reports, r => r.Message.StartsWith("epoch 1/2 · batch 1/8 · loss ", StringComparison.Ordinal));
        Assert.Contains(progress.Reports, r => r.Message.StartsWith("epoch 2/2 · batch 8/8 · loss ", StringComparison.Ordinal) && r.Message.Contains("· validation ", StringComparison.Ordinal));
        Assert.IsType<TrainingStarted>(progress.Partials[0]); // the plan comes first
        var epochs = progress.Partials.Skip(1).Cast<TrainingEpochFinished>().Select(p => p.Epoch).ToArray();
        Assert.Equal([1, 2], epochs.Select(e => e.Epoch));
        Assert.All(epochs, e => Assert.InRange(e.ValidationTop1!.Value, 0, 1));
    }

    [Fact]
    public void ACancelledRunStoresNothing()
    {
        using var cancel = new CancellationTokenSource();
        var progress = new RecordingProgress
        {
            OnReport = (_, message) =>
            {
                if (message.Contains("batch 2/", StringComparison.Ordinal)) cancel.Cancel();
            },
        };
        var request = new TrainingRequest(ModelZoo.Lenet300100, SyntheticDataset.Name, Epochs: 3);

        Assert.ThrowsAny<OperationCanceledException>(() => TrainingJob.Run(request, _bench.Catalog, _bench.Store, progress, cancel.Token));

        Assert.Empty(_bench.Store.List());
        Assert.Empty(_bench.ModelFiles());
        Assert.DoesNotContain(progress.Reports, r => r.Message.Contains("batch 3/", StringComparison.Ordinal));
    }

    [Fact]
    public void MoreTrainingImagesThanTheTrainPartHasIsAClearErrorAndStoresNothing()
    {
        var request = new TrainingRequest(ModelZoo.Lenet300100, SyntheticDataset.Name, Epochs: 1, TrainingImages: 5000);

        var error = Assert.Throws<InvalidRequestException>(() =>
            TrainingJob.Run(request, _bench.Catalog, _bench.Store, new RecordingProgress(), CancellationToken.None));

        // 600 synthetic train images: 120 held out for validation, 480 left to train on.
        Assert.Equal("Training images: 5,000 asked, but the train part of synthetic has 480 (its official train images minus 120 held out for validation).", error.Message);
        Assert.Empty(_bench.Store.List());
    }

    [Fact]
    public void AnUnknownDatasetFailsInWordsAndStoresNothing()
    {
        var request = new TrainingRequest(ModelZoo.Lenet300100, "cifar-10", Epochs: 1);

        var error = Assert.Throws<DatasetNotFoundException>(() =>
            TrainingJob.Run(request, _bench.Catalog, _bench.Store, new RecordingProgress(), CancellationToken.None));

        Assert.Contains("Unknown dataset 'cifar-10'", error.Message);
        Assert.Empty(_bench.Store.List());
    }

    [Theory]
    [InlineData("resnet-50", 1, 1, null, "Unknown architecture 'resnet-50'. Known: lenet-300-100, lenet-5, vgg-small, vgg-tiny.")]
    [InlineData("vgg-tiny", 0, 1, null, "Epochs must be between 1 and 1000 (got 0).")]
    [InlineData("vgg-tiny", 2, -1, null, "The seed must be zero or positive (got -1).")]
    [InlineData("vgg-tiny", 2, 1, 1, "Training images must be at least 2, or all (got 1).")]
    public void ARequestThatMakesNoSenseNamesTheSetting(string arch, int epochs, int seed, int? images, string message)
    {
        var request = new TrainingRequest(arch, SyntheticDataset.Name, epochs, seed, images);

        Assert.Equal(message, Assert.Throws<InvalidRequestException>(request.Validate).Message);
    }

    [Fact]
    public void DefaultsComeFromTheArchitecture()
    {
        Assert.Equal(TrainingSettings.ForArchitecture(ModelZoo.VggSmall) with { Seed = 4 }, new TrainingRequest(ModelZoo.VggSmall, "x", Seed: 4).Settings());
        Assert.Equal(3, new TrainingRequest(ModelZoo.VggSmall, "x", Epochs: 3).Settings().Epochs);
        Assert.Equal("vgg-tiny · 10 epochs · seed 1", new TrainingRequest(ModelZoo.VggTiny, "x").ResolvedDisplayName(55_000));
        Assert.Equal("Mine", new TrainingRequest(ModelZoo.VggTiny, "x", DisplayName: " Mine ").ResolvedDisplayName(55_000));
    }

    [Fact]
    public async Task ThroughTheSchedulerAFinishedRunIsStoredAndACancelledOneIsNot()
    {
        await using var harness = await SchedulerHarness.StartedAsync();
        var jobs = new ModelJobs(harness.Scheduler, _bench.Catalog, _bench.Store, new DatasetDownloader(_bench.Options, new HttpClient()));
        var request = new TrainingRequest(ModelZoo.Lenet300100, SyntheticDataset.Name, Epochs: 1, TrainingImages: 300);

        var queued = jobs.StartTraining(request);

        Assert.Equal((TrainingJob.Kind, "Train lenet-300-100 on synthetic"), (queued.Kind, queued.Title));
        Assert.Equal(request, ModelJobJson.Read<TrainingRequest>(queued.ParametersJson));
        var done = await harness.WaitAsync(queued.Id);
        Assert.True(done.State == JobState.Succeeded, done.Error);
        var result = ModelJobJson.Read<TrainingJobResult>(done.ResultJson!);
        Assert.Equal(result.Top1, _bench.Store.Get(result.ModelId!.Value)!.Top1);

        // Long enough that it is still running when the cancel arrives.
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = harness.Scheduler.Subscribe(u =>
        {
            if (u.Job.Kind == TrainingJob.Kind && u.Job.State == JobState.Running && u.Job.Message.StartsWith("epoch", StringComparison.Ordinal)) running.TrySetResult();
        });
        var slow = jobs.StartTraining(request with { Epochs = 500, TrainingImages = null });
        await running.Task.WaitAsync(SchedulerHarness.Timeout);
        Assert.True(harness.Scheduler.Cancel(slow.Id));

        Assert.Equal(JobState.Cancelled, (await harness.WaitAsync(slow.Id)).State);
        Assert.Equal([result.ModelId!.Value], _bench.Store.List().Select(m => m.Id));
        Assert.Equal([$"{_bench.Store.Get(result.ModelId!.Value)!.ContentHash}.ckpt"], _bench.ModelFiles());
    }

    [Fact]
    public void StarterPairTrainsTheTeacherThenTheStudentOnFashionMnistOrElseSynthetic()
    {
        var withFashion = new DatasetListing([new("fashion-mnist", "/x", 60_000, 10_000, false, ""), new("synthetic", null, 1, 1, true, "")], []);
        var without = new DatasetListing([new("synthetic", null, 1, 1, true, "")], []);

        Assert.Equal("fashion-mnist", StarterPair.Dataset(withFashion));
        Assert.Equal("synthetic", StarterPair.Dataset(without));
        Assert.Equal([("vgg-small", "Teacher vgg-small"), ("vgg-tiny", "Student vgg-tiny")],
            StarterPair.Requests("synthetic").Select(r => (r.Architecture, r.DisplayName!)));
    }

    [Fact]
    public void TimeEstimateScalesMeasuredBatchesToTheWholeRun()
    {
        var dataset = _bench.Catalog.Load(SyntheticDataset.Name);
        var split = TrainingJob.Split(dataset);
        var settings = TrainingSettings.ForArchitecture(ModelZoo.Lenet300100) with { Epochs = 5 };

        var estimate = TrainingTimeEstimate.Measure(ModelZoo.Lenet300100, split.Train, split.Validation.Count, dataset.Test.Count, settings);

        // 480 train images in batches of 128: 3 full batches and one of 96. Evaluated: 5 × 120 validation + 200 test.
        Assert.Equal((480, 120), (split.Train.Count, split.Validation.Count));
        Assert.Equal((4, 5, 800, Lenet300100Parameters), (estimate.BatchesPerEpoch, estimate.Epochs, estimate.EvaluatedImages, estimate.ParameterCount));
        Assert.True(estimate.SecondsPerBatch > 0 && estimate.SecondsPerEvaluatedImage > 0);
        Assert.Equal((5 * 4 * estimate.SecondsPerBatch) + (800 * estimate.SecondsPerEvaluatedImage), estimate.Total.TotalSeconds, tolerance: 1e-6); // TimeSpan keeps 100 ns ticks
    }

    [Fact]
    public void TimeEstimateStopsWhenCancelled()
    {
        // The dashboard measures when a page opens; a stop of the app cancels it and must not wait for the measurement.
        var dataset = _bench.Catalog.Load(SyntheticDataset.Name);
        var split = TrainingJob.Split(dataset);
        var settings = TrainingSettings.ForArchitecture(ModelZoo.Lenet300100);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() =>
            TrainingTimeEstimate.Measure(ModelZoo.Lenet300100, split.Train, split.Validation.Count, dataset.Test.Count, settings, cancellationToken: cancelled.Token));
    }
}
