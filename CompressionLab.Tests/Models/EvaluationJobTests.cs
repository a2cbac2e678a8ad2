using CompressionLab.Core.Jobs;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

public sealed class EvaluationJobTests : IDisposable
{
    private readonly ModelJobTestBench _bench = new();
    private readonly string _checkpoint;
    private readonly ModelRecord _model;

    public EvaluationJobTests()
    {
        // An untrained vgg-tiny is enough: the job must report what the evaluator measures, whatever that is.
        manual_seed(21);
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        _checkpoint = Path.Combine(_bench.Workspace.Root, "tiny.ckpt");
        Checkpoint.Save(network, _checkpoint, SyntheticDataset.Name, SyntheticDataset.ClassNames, top1: 0.5);
        _model = CheckpointImport.Import(_bench.Store, _checkpoint).Model;
    }

    public void Dispose() => _bench.Dispose();

    [Fact]
    public void OnTheTestSplitItReportsWhatTheEvaluatorMeasuresAndRecordsTheAccuracy()
    {
        var report = EvaluationJob.Run(new EvaluationRequest(_model.Id), _bench.Catalog, _bench.Store, new RecordingProgress(), CancellationToken.None);

        using var checkpoint = Checkpoint.Load(_checkpoint);
        var expected = Evaluator.Evaluate(checkpoint.Model, _bench.Catalog.Load(SyntheticDataset.Name).Test);
        Assert.Equal((expected.Top1, expected.Top5, expected.Loss, ModelJobTestBench.SyntheticTest), (report.Top1, report.Top5, report.Loss, report.Samples));
        Assert.Equal(expected.PerClassAccuracy, report.PerClassAccuracy);
        Assert.Equal(expected.ConfusionMatrix.Select(r => r.ToArray()), report.ConfusionMatrix.Select(r => r.ToArray()));
        Assert.Equal(SyntheticDataset.ClassNames, report.ClassNames);
        Assert.Equal((_model.Id, "tiny", "vgg-tiny", "synthetic", SplitPart.Test), (report.ModelId, report.ModelName, report.Architecture, report.Dataset, report.Split));
        Assert.True(report.StoredAccuracyUpdated);
        Assert.Equal(report.Top1, _bench.Store.Get(_model.Id)!.Top1);
    }

    [Fact]
    public void OnTheValidationSplitItLeavesTheRecordedAccuracyAlone()
    {
        var progress = new RecordingProgress();
        var report = EvaluationJob.Run(new EvaluationRequest(_model.Id, Split: SplitPart.Validation), _bench.Catalog, _bench.Store,
            progress, CancellationToken.None);

        // Its plan comes first: what is measured, on how many images.
        Assert.Equal(new EvaluationStarted("tiny", "vgg-tiny", "synthetic", SplitPart.Validation, ModelJobTestBench.SyntheticTrain / 5),
            Assert.Single(progress.Partials));

        Assert.Equal(ModelJobTestBench.SyntheticTrain / 5, report.Samples);
        Assert.Equal(report.Samples, report.ConfusionMatrix.Sum(row => row.Sum()));
        Assert.False(report.StoredAccuracyUpdated);
        Assert.Equal(0.5, _bench.Store.Get(_model.Id)!.Top1);
    }

    [Fact]
    public void WithALimitItMeasuresTheAnalysisSubsetASweepOfThatSizeUses()
    {
        var report = EvaluationJob.Run(new EvaluationRequest(_model.Id, Split: SplitPart.Validation, Limit: 60), _bench.Catalog, _bench.Store,
            new RecordingProgress(), CancellationToken.None);

        var subset = AnalysisSubset.Validation(_bench.Catalog.Load(SyntheticDataset.Name), 60);
        using var checkpoint = Checkpoint.Load(_checkpoint);
        var expected = Evaluator.Evaluate(checkpoint.Model, subset.Images);
        Assert.Equal((60, subset.Key), (report.Samples, report.Subset));
        Assert.Equal((expected.Top1, expected.Top5, expected.Loss), (report.Top1, report.Top5, report.Loss));
        // Not the first 60 validation images: those are another subset under the same description.
        var first = Evaluator.Evaluate(checkpoint.Model, TrainingJob.Split(_bench.Catalog.Load(SyntheticDataset.Name)).Validation.Take(60));
        Assert.NotEqual(expected.ConfusionMatrix.Select(r => r.ToArray()), first.ConfusionMatrix.Select(r => r.ToArray()));
    }

    [Fact]
    public void APartOfTheTestSplitIsNotRecordedAsTheModelsAccuracy()
    {
        var report = EvaluationJob.Run(new EvaluationRequest(_model.Id, Limit: 50), _bench.Catalog, _bench.Store, new RecordingProgress(), CancellationToken.None);

        Assert.Equal(50, report.Samples);
        Assert.StartsWith("test/stratified-50/", report.Subset, StringComparison.Ordinal);
        Assert.False(report.StoredAccuracyUpdated);
        Assert.Equal(0.5, _bench.Store.Get(_model.Id)!.Top1);
        Assert.Equal(nameof(EvaluationRequest.Limit), Assert.Throws<InvalidRequestException>(new EvaluationRequest(_model.Id, Limit: 0).Validate).Setting);
    }

    [Fact]
    public void TheReportSurvivesItsJsonRoundTrip()
    {
        var report = EvaluationJob.Run(new EvaluationRequest(_model.Id), _bench.Catalog, _bench.Store, new RecordingProgress(), CancellationToken.None);

        var json = ModelJobJson.Write(report);
        var back = EvaluationReport.FromJson(json);

        Assert.Contains("\"split\":\"test\"", json, StringComparison.Ordinal);
        Assert.Contains("\"confusionMatrix\":[[", json, StringComparison.Ordinal);
        Assert.Equal((report.Top1, report.Top5, report.Loss, report.Samples, report.Split), (back.Top1, back.Top5, back.Loss, back.Samples, back.Split));
        Assert.Equal(report.PerClassAccuracy, back.PerClassAccuracy);
        Assert.Equal(report.ConfusionMatrix.Select(r => r.ToArray()), back.ConfusionMatrix.Select(r => r.ToArray()));
        Assert.Equal(report.ClassNames, back.ClassNames);
    }

    [Fact]
    public void AMissingModelOrASplitThatIsNotAnEvaluationSplitIsAClearError()
    {
        var missing = Guid.NewGuid();
        Assert.Equal($"There is no model with id {missing} in the workspace (was it deleted?).",
            Assert.Throws<InvalidRequestException>(() => EvaluationJob.Run(new EvaluationRequest(missing), _bench.Catalog, _bench.Store,
                new RecordingProgress(), CancellationToken.None)).Message);
        Assert.Equal("A model is evaluated on the test or the validation split, not on Train.",
            Assert.Throws<InvalidRequestException>(new EvaluationRequest(_model.Id, Split: SplitPart.Train).Validate).Message);
    }
}
