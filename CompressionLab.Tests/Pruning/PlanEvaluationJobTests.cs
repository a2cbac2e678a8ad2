using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// The plan evaluation job on a briefly trained lenet-300-100 and real Fashion-MNIST validation images, against an
/// evaluation of a copy masked by hand.
/// </summary>
public sealed class PlanEvaluationJobTests : IDisposable
{
    private const int Images = 400;
    private static readonly Lazy<string> TrainedCheckpoint = new(SaveTrained);
    private readonly ModelJobTestBench _bench = new(withFashionMnist: true);
    private readonly SqliteSweepCellStore _cells;
    private readonly PlanEvaluationStore _evaluations;

    public PlanEvaluationJobTests()
    {
        var database = _bench.Workspace.OpenDatabase();
        _cells = new SqliteSweepCellStore(database);
        _evaluations = new PlanEvaluationStore(database);
    }

    public void Dispose() => _bench.Dispose();

    /// <summary>Trained once per test run and kept in a folder of its own (the job reads it where it is).</summary>
    private static string SaveTrained()
    {
        using var network = SensitivitySweepIntegrationTests.TrainBriefly();
        var path = Path.Combine(Directory.CreateTempSubdirectory("clab-plan-eval-").FullName, "lenet.ckpt");
        Checkpoint.Save(network, path, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        return path;
    }

    private static PruningPlan Plan(IReadOnlyList<LayerInfo> layers) =>
        PruningPlan.Default(layers, PruningMethod.Element)
            .WithOverride("hidden.fc1", 0.8)
            .WithOverride("hidden.fc2", 0.5, PruningMethod.FilterL1);

    private PlanEvaluationOutcome Run(PruningPlan plan, RecordingProgress progress) =>
        PlanEvaluationJob.Run(new PlanEvaluationRequest(new CheckpointFile(TrainedCheckpoint.Value), plan, SubsetSize: Images),
            _bench.Catalog, _bench.Store, _cells, _evaluations, new JobContext(Guid.NewGuid(), progress), CancellationToken.None);

    [Fact]
    public void MeasuresWhatAnIndependentlyMaskedCopyMeasuresAndReadsARepeatBack()
    {
        using var reference = Checkpoint.Load(TrainedCheckpoint.Value);
        var progress = new RecordingProgress();

        var outcome = Run(Plan(reference.Model.Layers), progress);

        // By hand: fc1's 188,160 smallest |w| (0.8 of 784×300) and fc2's 50 rows of smallest L1 norm (with their biases) zeroed.
        using (no_grad())
        {
            ZeroSmallestWeights(reference.Model, "hidden.fc1", 188_160);
            ZeroSmallestRows(reference.Model, "hidden.fc2", 50);
        }
        var images = AnalysisSubset.Validation(_bench.Catalog.Load(IdxDataset.FashionMnistName), Images).Images;
        var expected = Evaluator.Evaluate(reference.Model, images);
        Assert.Equal(expected.Top1, outcome.Measured.Top1);
        Assert.Equal(expected.Top5, outcome.Measured.Top5);
        Assert.Equal(expected.Loss, outcome.Measured.Loss, 6);
        Assert.InRange(outcome.Measured.Top1, 0.5, 1); // a trained model, not chance
        Assert.False(outcome.FromStore);
        // Without a sweep there is nothing to predict from; the sizes are there.
        var predicted = Assert.IsType<PlanPredicted>(Assert.Single(progress.Partials));
        Assert.Null(predicted.Prediction);
        Assert.Null(outcome.Prediction);
        // fc1 keeps 47,040 of 235,200, fc2 50 of 100 rows (15,000 weights), fc's inputs from the removed rows go too: 10×50 of 1,000.
        Assert.Equal(1 - ((47_040 + 15_000 + 500) / 266_200.0), outcome.Pruned.Sparsity, 12);

        var stored = Assert.Single(_evaluations.List());
        Assert.Equal(outcome.Key, stored.Key);
        Assert.Equal([new PlanLevel("hidden.fc1", 0.8, "element"), new PlanLevel("hidden.fc2", 0.5, "filter-l1")], stored.Levels);

        // The same masks written another way (stage rates instead of overrides) are the same plan: read back, not measured.
        var layers = reference.Model.Layers;
        var again = Run(PruningPlan.Default(layers, PruningMethod.FilterL1).WithStageRate("hidden", 0.5).WithOverride("hidden.fc1", 0.8, PruningMethod.Element), new RecordingProgress());
        Assert.True(again.FromStore);
        Assert.Equal(outcome.Key, again.Key);
        Assert.Equal(outcome.Measured, again.Measured);
        Assert.Single(_evaluations.List());
    }

    [Fact]
    public void AfterASweepThePredictionIsBesideTheMeasurementAndAgreesAtASweptLevel()
    {
        var model = new CheckpointFile(TrainedCheckpoint.Value);
        SweepJob.Run(new SweepRequest(model, IdxDataset.FashionMnistName, Levels: [0, 0.5, 0.9], SubsetSize: Images, Layers: ["hidden.fc1", "hidden.fc2"]),
            Guid.NewGuid(), _bench.Catalog, _bench.Store, _cells, new SweepHistory(_bench.Workspace.OpenDatabase()), jobId: null, new RecordingProgress(),
            CancellationToken.None);
        using var reference = Checkpoint.Load(TrainedCheckpoint.Value);
        var layers = reference.Model.Layers;

        // One layer at a swept level: the prediction is that cell, and the measurement (another evaluation path, same masks) agrees.
        var single = Run(PruningPlan.Default(layers, PruningMethod.Element).WithOverride("hidden.fc1", 0.9), new RecordingProgress());
        Assert.NotNull(single.Prediction);
        Assert.Empty(single.Prediction.LayersWithoutCurve);
        Assert.Equal(single.Measured.Top1, single.Prediction.PredictedTop1, 1.0 / Images);

        // Two layers: drops added; fc2 between swept levels is interpolated, the output layer stays dense (excluded).
        var both = Run(PruningPlan.Default(layers, PruningMethod.Element, 0.7), new RecordingProgress());
        var fc1 = both.Prediction!.Layers.Single(l => l.Layer == "hidden.fc1").PredictedDrop!.Value;
        var fc2 = both.Prediction.Layers.Single(l => l.Layer == "hidden.fc2").PredictedDrop!.Value;
        Assert.Equal(both.Prediction.BaselineTop1 - fc1 - fc2, both.Prediction.PredictedTop1, 12);
        Assert.Empty(both.Prediction.LayersWithoutCurve);

        // A filter plan has no filter sweep to read: its pruned layers are listed, not guessed.
        var filter = Run(PruningPlan.Default(layers, PruningMethod.FilterL1, 0.3), new RecordingProgress());
        Assert.Equal(["hidden.fc1", "hidden.fc2"], filter.Prediction!.LayersWithoutCurve);
    }

    [Fact]
    public void APlanThatDoesNotFitTheModelIsRefusedNamingThePlan()
    {
        using var reference = Checkpoint.Load(TrainedCheckpoint.Value);
        var plan = Plan(reference.Model.Layers).WithOverride("stage9.conv1", 0.5);

        var e = Assert.Throws<InvalidRequestException>(() => Run(plan, new RecordingProgress()));

        Assert.Equal("Plan", e.Setting);
        Assert.Contains("'stage9.conv1'", e.Message, StringComparison.Ordinal);
        Assert.Empty(_evaluations.List());
    }

    private static void ZeroSmallestWeights(ClassifierNetwork network, string layer, int count)
    {
        var weight = network.LayerWeight(layer);
        var values = weight.data<float>().ToArray();
        var order = Enumerable.Range(0, values.Length).OrderBy(i => Math.Abs(values[i])).ThenBy(i => i).Take(count);
        foreach (var i in order) values[i] = 0;
        weight.copy_(tensor(values).view(weight.shape));
    }

    private static void ZeroSmallestRows(ClassifierNetwork network, string layer, int count)
    {
        var weight = network.LayerWeight(layer);
        var (rows, columns) = ((int)weight.shape[0], (int)weight.shape[1]);
        var values = weight.data<float>().ToArray();
        var norms = Enumerable.Range(0, rows).Select(r => values.Skip(r * columns).Take(columns).Sum(v => Math.Abs((double)v))).ToArray();
        var bias = ((TorchSharp.Modules.Linear)network.LayerModule(layer)).bias!;
        foreach (var r in Enumerable.Range(0, rows).OrderBy(r => norms[r]).ThenBy(r => r).Take(count))
        {
            weight[r].zero_();
            bias[r].zero_();
        }
    }
}
