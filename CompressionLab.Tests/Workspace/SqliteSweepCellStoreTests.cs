using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Pruning;

namespace CompressionLab.Tests.Workspace;

public sealed class SqliteSweepCellStoreTests : IDisposable
{
    private static readonly SweepIdentity Identity = new("ab12", "fashion-mnist", "validation/stratified-64/0011");
    private readonly TempWorkspace _workspace = new();

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public void CellsRoundTripExactlyAcrossReopenedDatabases()
    {
        var cell = new SweepCell("stage1.conv1", 0.15, 0.1499, 81.25, 97.5, 0.61234567890123, 3.75);
        var key = SweepCellKey.For(Identity, "filter-l2", "stage1.conv1", 0.15);
        new SqliteSweepCellStore(_workspace.OpenDatabase()).Save(key, cell);

        var reopened = new SqliteSweepCellStore(_workspace.OpenDatabase());

        Assert.True(reopened.TryGet(key, out var read));
        Assert.Equal(cell, read); // bit-exact doubles
        // Any part of the key that differs finds nothing.
        Assert.False(reopened.TryGet(key with { Level = 0.1 + 0.05 }, out _)); // 0.15000000000000002 is another level
        Assert.False(reopened.TryGet(key with { Criterion = "filter-l1" }, out _));
        Assert.False(reopened.TryGet(key with { Subset = "validation/stratified-65/0011" }, out _));
        Assert.False(reopened.TryGet(key with { ModelHash = "ab13" }, out _));
        Assert.False(reopened.TryGet(key with { Layer = "stage1.conv2" }, out _));
        Assert.Equal([cell], reopened.Cells(Identity, "filter-l2"));
        Assert.Empty(reopened.Cells(Identity, "element"));
    }

    [Fact]
    public void SavingACellAgainReplacesIt()
    {
        var store = new SqliteSweepCellStore(_workspace.OpenDatabase());
        var key = SweepCellKey.For(Identity, "element", "fc1", 0.5);
        store.Save(key, new SweepCell("fc1", 0.5, 0.5, 80, 95, 0.7, 1));
        store.Save(key, new SweepCell("fc1", 0.5, 0.5, 79, 94, 0.8, 2));

        Assert.True(store.TryGet(key, out var cell));
        Assert.Equal(79, cell.Top1);
        Assert.Single(store.Cells(Identity, "element"));
    }

    [Fact]
    public void InterruptedSweepResumesWithOnlyTheMissingCellsAndARepeatIsServedFromTheStore()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.Lenet300100, seed: 5);
        var images = PruningTestModels.FashionTest(64);
        var settings = new SweepSettings { Levels = [0, 0.3, 0.6, 0.9], BatchSize = 32 };
        var total = network.Layers.Count * 3; // levels above 0
        var reference = SensitivitySweep.Run(network, images, settings);

        // The first run is stopped after its fourth computed cell, as a cancel or a crash would stop it.
        using (var cancel = new CancellationTokenSource())
        {
            var store = new SqliteSweepCellStore(_workspace.OpenDatabase());
            var computed = 0;
            var progress = new Synchronous(p =>
            {
                if (!p.FromStore && p.Cell.Sparsity > 0 && ++computed == 4) cancel.Cancel();
            });
            Assert.ThrowsAny<OperationCanceledException>(() =>
                SensitivitySweep.Run(network, images, settings, store, Identity, progress, cancel.Token));
        }

        var resumed = SensitivitySweep.Run(network, images, settings, new SqliteSweepCellStore(_workspace.OpenDatabase()), Identity);
        Assert.Equal(4, resumed.CellsFromStore);
        Assert.Equal(total - 4, resumed.CellsComputed);
        Assert.Equal(reference.Baseline, resumed.Baseline);
        Assert.Equal(reference.Cells, resumed.Cells);

        var again = SensitivitySweep.Run(network, images, settings, new SqliteSweepCellStore(_workspace.OpenDatabase()), Identity);
        Assert.Equal(0, again.CellsComputed);
        Assert.Equal(total, again.CellsFromStore);
        Assert.Equal(reference.Cells, again.Cells);

        // Proof that a repeat reads rather than recomputes (a timing comparison of two millisecond runs was
        // flaky): under the same identity, other images give the stored numbers, not their own.
        var otherImages = TestData.FashionMnist.Test.Subset(Enumerable.Range(1000, 64).ToArray());
        var ownNumbers = SensitivitySweep.Run(network, otherImages, settings).Cells.Where(c => c.Sparsity > 0).ToArray();
        var stored = SensitivitySweep.Run(network, otherImages, settings, new SqliteSweepCellStore(_workspace.OpenDatabase()), Identity)
            .Cells.Where(c => c.Sparsity > 0).ToArray();
        Assert.NotEqual(ownNumbers.Select(c => c.Loss), stored.Select(c => c.Loss));
        Assert.Equal(reference.Cells.Where(c => c.Sparsity > 0).Select(c => (c.Layer, c.Sparsity, c.Top1, c.Loss)),
            stored.Select(c => (c.Layer, c.Sparsity, c.Top1, c.Loss)));
    }

    [Fact]
    public void HistoryListsSweepsNewestFirstAndKeepsTheirResult()
    {
        var clock = new ManualClock();
        var history = new SweepHistory(_workspace.OpenDatabase(), clock);
        SweepLayer[] layers = [new("hidden.fc1", "hidden", "linear", 235_500), new("classifier.fc", "classifier", "linear", 1010)];
        var first = history.Begin(null, null, "lenet a", "lenet-300-100", Identity, 64, "element", [0, 0.5], layers);
        clock.Advance(TimeSpan.FromMinutes(1));
        var job = Guid.NewGuid();
        var second = history.Begin(job, Guid.NewGuid(), "lenet a", "lenet-300-100", Identity, 64, "filter-l1", [0, 0.5], layers);

        Assert.True(history.Finish(first.Id, "{\"done\":true}"));
        Assert.False(history.Finish(Guid.NewGuid(), "{}"));

        var listed = history.List();
        Assert.Equal([second.Id, first.Id], listed.Select(s => s.Id));
        Assert.Equal("{\"done\":true}", listed[1].ResultJson);
        Assert.True(listed[1].IsFinished);
        Assert.False(listed[0].IsFinished);
        Assert.Equal(layers, listed[0].Layers);
        Assert.Equal([0, 0.5], listed[0].Levels);
        Assert.Equal(4, listed[0].CellCount);
        Assert.Equal(Identity, listed[0].Identity);
        Assert.Equal(second.Id, history.FindByJob(job)?.Id);
        Assert.Null(history.FindByJob(Guid.NewGuid()));
    }

    [Fact]
    public void AmongRowsOfTheSameSweepFromBeforeReuseTheOneAskedForIsContinued()
    {
        var clock = new ManualClock();
        var database = _workspace.OpenDatabase();
        var history = new SweepHistory(database, clock);
        SweepLayer[] layers = [new("hidden.fc1", "hidden", "linear", 235_500)];
        var older = history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "element", [0, 0.5], layers);
        clock.Advance(TimeSpan.FromMinutes(1));
        var newer = history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "element", [0, 0.9], layers);
        // An older workspace recorded every run of a sweep in a row of its own: make the two rows the same sweep.
        database.Execute("UPDATE sweeps SET levels_json = '[0,0.5]' WHERE id = $id;", ("$id", newer.Id.ToString()));

        Assert.Equal(older.Id, history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "element", [0, 0.5], layers, id: older.Id).Id);
        Assert.Equal(newer.Id, history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "element", [0, 0.5], layers).Id);
    }

    [Fact]
    public void ResumingAFilterSweepRecordedWithTheOutputLayerLeavesItOut()
    {
        var history = new SweepHistory(_workspace.OpenDatabase(), new ManualClock());
        SweepLayer[] layers = [new("hidden.fc1", "hidden", "linear", 235_500), new("hidden.fc2", "hidden", "linear", 30_100), new("classifier.fc", "classifier", "linear", 1010)];
        var model = Guid.NewGuid();
        var filter = history.Begin(null, model, "lenet a", "lenet-300-100", Identity, 64, "filter-l2", [0, 0.5], layers);
        var element = history.Begin(null, model, "lenet a", "lenet-300-100", Identity, 64, "element", [0, 0.5], layers);

        var resumed = SweepJobs.ResumeRequest(filter);
        Assert.Equal((PruningCriterion.Filter, FilterNorm.L2), (resumed.Criterion, resumed.Norm));
        Assert.Equal(["hidden.fc1", "hidden.fc2"], resumed.Layers!);
        Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], SweepJobs.ResumeRequest(element).Layers!);
    }

    [Fact]
    public void TheSameSweepReusesItsHistoryRowAndAnythingElseGetsItsOwn()
    {
        var clock = new ManualClock();
        var history = new SweepHistory(_workspace.OpenDatabase(), clock);
        SweepLayer[] layers = [new("hidden.fc1", "hidden", "linear", 235_500), new("classifier.fc", "classifier", "linear", 1010)];
        // A CLI run on a checkpoint file (no job, no workspace model) that was interrupted.
        var first = history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "element", [0, 0.5], layers);
        clock.Advance(TimeSpan.FromMinutes(1));

        // The same sweep from the dashboard: the same row, now naming the job, the model and its display name; the
        // layers are written again (here with the unit counts that older rows lack).
        var job = Guid.NewGuid();
        var model = Guid.NewGuid();
        SweepLayer[] counted = [layers[0] with { Filters = 300, Weights = 235_200 }, layers[1] with { Filters = 10, Weights = 1000 }];
        var again = history.Begin(job, model, "lenet a", "lenet-300-100", Identity, 64, "element", [0, 0.5], counted, id: Guid.NewGuid());
        Assert.Equal((first.Id, first.CreatedAt, (Guid?)job, (Guid?)model, "lenet a"), (again.Id, again.CreatedAt, again.JobId, again.ModelId, again.ModelName));
        Assert.Equal(counted, again.Layers);
        Assert.Equal(first.Id, history.FindByJob(job)?.Id);
        Assert.True(history.Finish(again.Id, "{\"done\":true}"));

        // Rerun from the CLI once everything is stored: still that row, still finished, job and model kept.
        var rerun = history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "element", [0, 0.5], layers);
        Assert.Equal((first.Id, true, (Guid?)job, (Guid?)model, "lenet a"), (rerun.Id, rerun.IsFinished, rerun.JobId, rerun.ModelId, rerun.ModelName));
        Assert.Single(history.List());

        // Anything that changes what is measured is another sweep: levels, layers, criterion or norm, weights, data, subset.
        var others = new[]
        {
            history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "element", [0, 0.5, 0.9], layers),
            history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "element", [0, 0.5], [layers[0]]),
            history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "filter-l1", [0, 0.5], layers),
            history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity, 64, "filter-l2", [0, 0.5], layers),
            history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity with { ModelHash = "cd34" }, 64, "element", [0, 0.5], layers),
            history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity with { Dataset = "synthetic" }, 64, "element", [0, 0.5], layers),
            history.Begin(null, null, "lenet.ckpt", "lenet-300-100", Identity with { Subset = "validation/stratified-65/0011" }, 65, "element", [0, 0.5], layers),
            // Asking for the first row's id with another identity (a resume whose model changed) gets a new row, not a clash.
            history.Begin(null, model, "lenet a", "lenet-300-100", Identity, 64, "element", [0.5], layers, id: first.Id),
        };
        Assert.Equal(9, history.List().Count);
        Assert.Equal(9, others.Select(o => o.Id).Append(first.Id).Distinct().Count());
        Assert.All(others, o => Assert.False(o.IsFinished));
    }

    [Fact]
    public void UpgradingDropsCellsThatPrunedAWholeLayerAndReopensTheSweepsThatHeldThem()
    {
        // A workspace from before a level left one unit: stage1.conv1 (7 filters) at 0.95 pruned all 7.
        var before = WorkspaceSchema.Migrations.Take(3).ToArray();
        var old = _workspace.OpenDatabase(before);
        var cells = new SqliteSweepCellStore(old);
        var baseline = new SweepMetrics(90, 99, 0.3);
        cells.Save(SweepCellKey.Baseline(Identity), SweepCell.From("", 0, 0, baseline, baseline));
        cells.Save(SweepCellKey.For(Identity, "filter-l1", "stage1.conv1", 0.5), new SweepCell("stage1.conv1", 0.5, 4.0 / 7, 80, 98, 0.6, 10));
        cells.Save(SweepCellKey.For(Identity, "filter-l1", "stage1.conv1", 0.95), new SweepCell("stage1.conv1", 0.95, 1, 10, 50, 2.3, 80));
        cells.Save(SweepCellKey.For(Identity, "element", "stage1.conv1", 0.95), new SweepCell("stage1.conv1", 0.95, 0.9524, 70, 97, 0.9, 20));
        var history = new SweepHistory(old);
        SweepLayer[] layers = [new("stage1.conv1", "stage1", "conv", 63)];
        var filter = history.Begin(null, null, "vgg", "vgg-tiny", Identity, 64, "filter-l1", [0, 0.5, 0.95], layers);
        var element = history.Begin(null, null, "vgg", "vgg-tiny", Identity, 64, "element", [0, 0.95], layers);
        var settings = new SweepSettings { Criterion = PruningCriterion.Filter, Levels = [0, 0.5, 0.95], Layers = ["stage1.conv1"] };
        history.Finish(filter.Id, SensitivityExport.ToJson(new SensitivityResult("vgg-tiny", settings, 64, baseline,
            [SweepCell.From("stage1.conv1", 0, 0, baseline, baseline), new SweepCell("stage1.conv1", 0.5, 4.0 / 7, 80, 98, 0.6, 10), new SweepCell("stage1.conv1", 0.95, 1, 10, 50, 2.3, 80)],
            1, 2, 0)));
        history.Finish(element.Id, SensitivityExport.ToJson(new SensitivityResult("vgg-tiny", settings with { Criterion = PruningCriterion.Element, Levels = [0, 0.95] }, 64, baseline,
            [SweepCell.From("stage1.conv1", 0, 0, baseline, baseline), new SweepCell("stage1.conv1", 0.95, 0.9524, 70, 97, 0.9, 20)], 1, 1, 0)));
        old.Dispose();

        var upgraded = _workspace.OpenDatabase();
        var store = new SqliteSweepCellStore(upgraded);
        Assert.Equal([0.5], store.Cells(Identity, "filter-l1").Select(c => c.Sparsity));
        Assert.Single(store.Cells(Identity, "element"));
        Assert.Equal(baseline, store.Baseline(Identity));
        var reopened = new SweepHistory(upgraded);
        Assert.False(reopened.Get(filter.Id)!.IsFinished); // resuming it measures 0.95 again
        Assert.Null(reopened.Get(filter.Id)!.FinishedAt);
        Assert.True(reopened.Get(element.Id)!.IsFinished);
        Assert.Equal(2, SavedSweep.Read(reopened.Get(filter.Id)!, store)!.Cells.Count); // level 0 and 0.5 stay
    }

    /// <summary>Reports on the sweep's own thread, unlike <see cref="Progress{T}"/>.</summary>
    private sealed class Synchronous(Action<SweepProgress> report) : IProgress<SweepProgress>
    {
        public void Report(SweepProgress value) => report(value);
    }
}
