using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>The sweep job over a temporary workspace, a stored random lenet-300-100 and the small synthetic dataset.</summary>
public sealed class SweepJobTests : IDisposable
{
    private static readonly double[] Levels = [0, 0.5, 0.9];
    private readonly ModelJobTestBench _bench = new();
    private readonly SqliteSweepCellStore _cells;
    private readonly SweepHistory _history;
    private readonly ModelRecord _model;
    private readonly string _checkpoint;

    public SweepJobTests()
    {
        manual_seed(17);
        using var network = ModelZoo.Create(ModelZoo.Lenet300100);
        _checkpoint = Path.Combine(_bench.Workspace.Root, "lenet.ckpt");
        Checkpoint.Save(network, _checkpoint, SyntheticDataset.Name, SyntheticDataset.ClassNames);
        _model = CheckpointImport.Import(_bench.Store, _checkpoint).Model;
        var database = _bench.Workspace.OpenDatabase();
        _cells = new SqliteSweepCellStore(database);
        _history = new SweepHistory(database);
    }

    public void Dispose() => _bench.Dispose();

    private SweepRequest Request(PruningCriterion criterion = PruningCriterion.Element) =>
        new(_model.Id, Criterion: criterion, Levels: Levels, SubsetSize: 60);

    private SweepJobResult Run(SweepRequest request, RecordingProgress progress, Guid? sweepId = null, CancellationToken cancellationToken = default) =>
        SweepJob.Run(request, sweepId ?? Guid.NewGuid(), _bench.Catalog, _bench.Store, _cells, _history, Guid.NewGuid(), progress, cancellationToken).Summary;

    [Fact]
    public void PublishesThePlanThenEveryCellAndStoresTheSweep()
    {
        var progress = new RecordingProgress();
        var sweepId = Guid.NewGuid();

        var result = Run(Request(), progress, sweepId);

        // The same numbers as the engine on the same subset.
        using var checkpoint = Checkpoint.Load(_checkpoint);
        var subset = AnalysisSubset.Validation(_bench.Catalog.Load(SyntheticDataset.Name), 60);
        var expected = SensitivitySweep.Run(checkpoint.Model, subset.Images, new SweepSettings { Levels = Levels });
        Assert.Equal(expected.Baseline, result.Baseline);
        Assert.Equal((sweepId, 9, 6, 0, 60, "element", subset.Key), (result.SweepId, result.Cells, result.CellsComputed, result.CellsFromStore, result.SubsetSize, result.Criterion, result.Subset));

        var started = Assert.IsType<SweepStarted>(progress.Partials[0]);
        Assert.Equal(sweepId, started.Sweep.Id);
        Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], started.Sweep.Layers.Select(l => l.Name));
        Assert.Equal(235_500, started.Sweep.Layers[0].Parameters);
        Assert.Null(started.Baseline); // nothing stored yet
        var cells = progress.Partials.Skip(1).Cast<SweepCellFinished>().ToArray();
        Assert.Equal(expected.Cells, cells.Select(c => c.Cell));
        Assert.Equal(Enumerable.Range(1, 9), cells.Select(c => c.CellsDone));
        Assert.All(cells, c => Assert.Equal((sweepId, 9, false), (c.SweepId, c.CellsTotal, c.FromStore && c.Cell.Sparsity > 0)));

        // Progress rises to 1 and names layer, sparsity and top-1.
        var fractions = progress.Reports.Select(r => r.Fraction).ToArray();
        Assert.Equal(fractions.Order(), fractions);
        Assert.Equal(1, fractions[^1]);
        Assert.Contains(progress.Reports, r => r.Message.StartsWith("hidden.fc2 · 50% · top-1 ", StringComparison.Ordinal) && r.Message.EndsWith("cell 5/9", StringComparison.Ordinal));

        var record = Assert.Single(_history.List());
        Assert.Equal((sweepId, _model.Id, "lenet", 60, "element"), (record.Id, record.ModelId, record.ModelName, record.SubsetSize, record.Criterion));
        Assert.True(record.IsFinished);
        var stored = SensitivityExport.FromJson(record.ResultJson!);
        Assert.Equal(expected.Cells, stored.Cells);
        Assert.Equal(6, _cells.Cells(record.Identity, "element").Count);
    }

    [Fact]
    public void ACancelledSweepKeepsItsCellsAndTheNextRunComputesOnlyTheRest()
    {
        using var cancel = new CancellationTokenSource();
        var computed = 0;
        var first = new RecordingProgress
        {
            OnReport = (_, message) =>
            {
                if (message.Contains(" · cell ", StringComparison.Ordinal) && !message.Contains(" · 0% · ", StringComparison.Ordinal) && ++computed == 3) cancel.Cancel();
            },
        };
        Assert.ThrowsAny<OperationCanceledException>(() => Run(Request(), first, cancellationToken: cancel.Token));
        var interrupted = Assert.Single(_history.List());
        Assert.False(interrupted.IsFinished);
        Assert.Equal(3, _cells.Cells(interrupted.Identity, "element").Count);

        var second = new RecordingProgress();
        var result = Run(Request(), second);

        Assert.Equal((3, 3), (result.CellsComputed, result.CellsFromStore));
        Assert.NotNull(Assert.IsType<SweepStarted>(second.Partials[0]).Baseline); // the baseline was stored by the first run
        var repeat = Run(Request(), new RecordingProgress());
        Assert.Equal((0, 6), (repeat.CellsComputed, repeat.CellsFromStore));
        // All three runs are one sweep: one row, finished once the second run measured the rest.
        var row = Assert.Single(_history.List());
        Assert.Equal(interrupted.Id, row.Id);
        Assert.True(row.IsFinished);
        Assert.Equal((interrupted.Id, interrupted.Id), (result.SweepId, repeat.SweepId));
    }

    [Fact]
    public void ResumeQueuesTheRecordedSweepUnderItsOwnIdAndFinishesItsRow()
    {
        using var cancel = new CancellationTokenSource();
        var computed = 0;
        var first = new RecordingProgress
        {
            OnReport = (_, message) =>
            {
                if (message.Contains(" · cell ", StringComparison.Ordinal) && !message.Contains(" · 0% · ", StringComparison.Ordinal) && ++computed == 2) cancel.Cancel();
            },
        };
        var request = Request(PruningCriterion.Filter) with { Norm = FilterNorm.L2 };
        Assert.ThrowsAny<OperationCanceledException>(() => Run(request, first, cancellationToken: cancel.Token));
        var interrupted = Assert.Single(_history.List());

        var scheduler = new NoScheduler();
        var job = new SweepJobs(scheduler, _bench.Catalog, _bench.Store, _cells, _history).Resume(interrupted.Id);

        Assert.Equal(interrupted.Id, job.Links.Subject);
        var resumed = SweepJobs.ResumeRequest(interrupted);
        Assert.Equal(((ModelSource)_model.Id, SyntheticDataset.Name, PruningCriterion.Filter, FilterNorm.L2, 60), (resumed.Model, resumed.Dataset, resumed.Criterion, resumed.Norm, resumed.SubsetSize));
        Assert.Equal(Levels, resumed.Levels);
        Assert.Equal(["hidden.fc1", "hidden.fc2"], resumed.Layers); // a filter sweep left classifier.fc out
        Assert.Contains("\"criterion\":\"filter-l2\"", job.ParametersJson);

        // What the queued job runs: only the missing cells, in the same row, which is then done.
        var result = Run(resumed, new RecordingProgress(), interrupted.Id);
        Assert.Equal((interrupted.Id, 2, 2), (result.SweepId, result.CellsComputed, result.CellsFromStore));
        Assert.True(Assert.Single(_history.List()).IsFinished);

        var cli = interrupted with { ModelId = null };
        Assert.Contains("run the same sweep command again", Assert.Throws<ArgumentException>(() => SweepJobs.ResumeRequest(cli)).Message);
        Assert.Throws<ArgumentException>(() => new SweepJobs(scheduler, _bench.Catalog, _bench.Store, _cells, _history).Resume(Guid.NewGuid()));
    }

    [Fact]
    public void FilterSweepIsKeptApartFromElementSweep()
    {
        var elementProgress = new RecordingProgress();
        Run(Request(), elementProgress);
        var filterProgress = new RecordingProgress();
        var filter = Run(Request(PruningCriterion.Filter), filterProgress);

        // The plan already names what the sweep leaves out (an element sweep covers every layer).
        Assert.Empty(Assert.IsType<SweepStarted>(elementProgress.Partials[0]).LeftOut);
        var leftOut = Assert.Single(Assert.IsType<SweepStarted>(filterProgress.Partials[0]).LeftOut);
        Assert.Equal(("classifier.fc", SweepCandidates.OutputLayerReason), (leftOut.Layer, leftOut.Reason));

        // Two layers × two pruned levels: a filter sweep leaves out classifier.fc, the output layer.
        Assert.Equal((4, 0, "filter-l1"), (filter.CellsComputed, filter.CellsFromStore, filter.Criterion));
        var record = _history.Get(filter.SweepId)!;
        Assert.Equal(["hidden.fc1", "hidden.fc2"], record.Layers.Select(l => l.Name));
        var document = System.Text.Json.JsonDocument.Parse(record.ResultJson!).RootElement;
        Assert.Equal("classifier.fc", document.GetProperty("settings").GetProperty("leftOut")[0].GetProperty("layer").GetString());
        Assert.Equal(_model.DisplayName, document.GetProperty("model").GetProperty("name").GetString());
        Assert.Equal(record.ModelHash, document.GetProperty("model").GetProperty("weightsHash").GetString());
        Assert.Equal((60, record.Subset), (document.GetProperty("data").GetProperty("subsetSize").GetInt32(), document.GetProperty("data").GetProperty("subset").GetString()));

        var asked = Assert.Throws<InvalidRequestException>(() => Run(Request(PruningCriterion.Filter) with { Layers = ["classifier.fc"] }, new RecordingProgress()));
        Assert.Contains("'classifier.fc' cannot be in a filter sweep", asked.Message);
        Assert.Equal(nameof(SweepRequest.Layers), asked.Setting);
    }

    [Theory]
    [InlineData("1.5", "Sparsity level 1.5")]
    [InlineData("-0.1", "Sparsity level -0.1")]
    public void BadLevelsAreRefusedBeforeAnythingIsQueued(string level, string message)
    {
        var request = Request() with { Levels = [0, double.Parse(level, System.Globalization.CultureInfo.InvariantCulture)] };
        var scheduler = new NoScheduler();
        var jobs = new SweepJobs(scheduler, _bench.Catalog, _bench.Store, _cells, _history);

        var error = Assert.ThrowsAny<ArgumentException>(() => jobs.StartSweep(request));
        Assert.Contains(message, error.Message);
        Assert.Equal(0, scheduler.Enqueued);
    }

    /// <summary>The request owns every rule of its settings, so each front end gets the same refusal naming the setting.</summary>
    [Fact]
    public void ANormOutsideTheFilterCriterionAndABatchOutOfRangeAreRefusedByTheRequest()
    {
        var norm = Assert.Throws<InvalidRequestException>(() => (Request() with { Norm = FilterNorm.L2 }).Validate());
        Assert.Equal(nameof(SweepRequest.Norm), norm.Setting);
        Assert.Contains("only applies to the filter criterion", norm.Message);
        (Request(PruningCriterion.Filter) with { Norm = FilterNorm.L2 }).Validate();
        Assert.Equal(("filter-l1", "element"), (Request(PruningCriterion.Filter).CriterionKey, Request().CriterionKey)); // no norm: L1

        foreach (var batch in new[] { 0, SweepRequest.MaxBatchSize + 1 })
        {
            var refused = Assert.Throws<InvalidRequestException>(() => (Request() with { BatchSize = batch }).Validate());
            Assert.Equal(nameof(SweepRequest.BatchSize), refused.Setting);
            Assert.Contains("1 to 65,536", refused.Message);
        }
        (Request() with { BatchSize = SweepRequest.MaxBatchSize }).Validate();
    }

    [Fact]
    public void TooLargeASubsetAndUnknownLayersAreNamed()
    {
        var tooMany = Assert.Throws<InvalidRequestException>(() => Run(Request() with { SubsetSize = 121 }, new RecordingProgress()));
        Assert.Contains("between 1 and 120", tooMany.Message);
        Assert.Equal(nameof(SweepRequest.SubsetSize), tooMany.Setting);
        var unknown = Assert.Throws<InvalidRequestException>(() => Run(Request() with { Layers = ["hidden.fc9"] }, new RecordingProgress()));
        Assert.Contains("'hidden.fc9'", unknown.Message);
        Assert.Equal(nameof(SweepRequest.Layers), unknown.Setting);
    }

    [Fact]
    public void StartSweepLinksTheJobToItsSweepId()
    {
        var scheduler = new NoScheduler();
        var job = new SweepJobs(scheduler, _bench.Catalog, _bench.Store, _cells, _history).StartSweep(Request());

        Assert.Equal(SweepJob.Kind, job.Kind);
        Assert.Equal("Sweep lenet · element · synthetic", job.Title);
        Assert.NotNull(job.Links.Subject);
        Assert.DoesNotContain("sweepId", job.ParametersJson); // a typed link, not a parameter to parse back
    }

    /// <summary>Counts what would be queued and runs nothing.</summary>
    private sealed class NoScheduler : IJobScheduler
    {
        public int Enqueued { get; private set; }

        public JobSnapshot Enqueue(string kind, string title, string parametersJson, JobWork work, JobLinks? links = null)
        {
            Enqueued++;
            return new JobSnapshot(Guid.NewGuid(), kind, title, parametersJson, JobState.Queued, 0, null, "", null, null, DateTimeOffset.UnixEpoch, null, null)
            {
                Links = links ?? JobLinks.None,
            };
        }

        public bool Cancel(Guid id) => false;

        public JobSnapshot? Get(Guid id) => null;

        public IReadOnlyList<JobSnapshot> List() => [];

        public IDisposable Subscribe(Action<JobUpdate> onUpdate) => new Nothing();

        private sealed class Nothing : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }
}
