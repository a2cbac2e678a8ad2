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
        var identity = Identity with { BatchSize = 32 };
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
                SensitivitySweep.Run(network, images, settings, store, identity, progress, cancel.Token));
        }

        var resumed = SensitivitySweep.Run(network, images, settings, new SqliteSweepCellStore(_workspace.OpenDatabase()), identity);
        Assert.Equal(4, resumed.CellsFromStore);
        Assert.Equal(total - 4, resumed.CellsComputed);
        Assert.Equal(reference.Baseline, resumed.Baseline);
        Assert.Equal(reference.Cells, resumed.Cells);

        var again = SensitivitySweep.Run(network, images, settings, new SqliteSweepCellStore(_workspace.OpenDatabase()), identity);
        Assert.Equal(0, again.CellsComputed);
        Assert.Equal(total, again.CellsFromStore);
        Assert.Equal(reference.Cells, again.Cells);

        // Proof that a repeat reads rather than recomputes (a timing comparison of two millisecond runs was
        // flaky): under the same identity, other images give the stored numbers, not their own.
        var otherImages = TestData.FashionMnist.Test.Subset(Enumerable.Range(1000, 64).ToArray());
        var ownNumbers = SensitivitySweep.Run(network, otherImages, settings).Cells.Where(c => c.Sparsity > 0).ToArray();
        var stored = SensitivitySweep.Run(network, otherImages, settings, new SqliteSweepCellStore(_workspace.OpenDatabase()), identity)
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
        // A workspace from before a level left one unit: stage1.conv1 (7 filters) at 0.95 pruned all 7. Written with the
        // SQL of schema 3 (today's store writes columns that schema does not have yet), in percent as it was then.
        var old = _workspace.OpenDatabase(WorkspaceSchema.Migrations.Take(3).ToArray());
        SaveVersion3Cell(old, "dense", "", 0, 0, 90, 99, 0.3, 0);
        SaveVersion3Cell(old, "filter-l1", "stage1.conv1", 0.5, 4.0 / 7, 80, 98, 0.6, 10);
        SaveVersion3Cell(old, "filter-l1", "stage1.conv1", 0.95, 1, 10, 50, 2.3, 80);
        SaveVersion3Cell(old, "element", "stage1.conv1", 0.95, 0.9524, 70, 97, 0.9, 20);
        var filter = SaveVersion3Sweep(old, "filter-l1", """{"cells":[{"actualSparsity":0},{"actualSparsity":0.5714},{"actualSparsity":1}]}""");
        var element = SaveVersion3Sweep(old, "element", """{"cells":[{"actualSparsity":0},{"actualSparsity":0.9524}]}""");
        old.Dispose();

        var upgraded = _workspace.OpenDatabase(WorkspaceSchema.Migrations.Take(4).ToArray());
        Assert.Equal([("dense", 0.0), ("element", 0.95), ("filter-l1", 0.5)],
            upgraded.Query("SELECT criterion, level FROM sweep_cells ORDER BY criterion, level;", row => (row.GetString(0), row.GetDouble(1))));
        var finished = upgraded.Query("SELECT id, finished_at IS NOT NULL AND result_json IS NOT NULL FROM sweeps;", row => (Guid.Parse(row.GetString(0)), row.GetBoolean(1)))
            .ToDictionary(r => r.Item1, r => r.Item2);
        Assert.False(finished[filter]); // resuming it measures 0.95 again
        Assert.True(finished[element]);
    }

    [Fact]
    public void UpgradingToCellsKeyedByBatchAndEngineDropsThePercentCellsAndKeepsFinishedSweepsReadable()
    {
        // Schema 4: cells in percent, keyed without batch size or engine; a finished sweep, an unfinished one, and the
        // result of the finished sweep's job.
        var old = _workspace.OpenDatabase(WorkspaceSchema.Migrations.Take(4).ToArray());
        SaveVersion3Cell(old, "dense", "", 0, 0, 90, 99, 0.3, 0);
        SaveVersion3Cell(old, "element", "stage1.conv1", 0.5, 0.5, 80, 98, 0.6, 10);
        const string percentDocument = """
            {"architecture":"vgg-tiny","samples":64,"seconds":1,"cellsComputed":1,"cellsFromStore":0,
             "units":{"top1":"percent","top5":"percent","top1Drop":"percentage points","loss":"mean cross-entropy in nats","sparsity":"fraction"},
             "settings":{"criterion":"element","levels":[0,0.5],"layers":["stage1.conv1"],"batchSize":64,"foldBatchNorm":true,"mode":"cached"},
             "baseline":{"top1":90,"top5":99,"loss":0.3},
             "cells":[{"layer":"stage1.conv1","parameter":"stage1.conv1.weight","sparsity":0.5,"actualSparsity":0.5,"top1":80,"top5":98,"loss":0.6,"top1Drop":10}]}
            """;
        var done = SaveVersion3Sweep(old, "element", percentDocument);
        var stopped = SaveVersion3Sweep(old, "filter-l1", null);
        old.Execute(
            """
            INSERT INTO jobs (id, kind, title, parameters_json, state, result_json, created_at)
            VALUES ('job', 'sweep', 'Sweep', '{}', 'succeeded', '{"sweepId":"0195f0c4-7a1b-7c3e-9d2a-4b5c6d7e8f90","baseline":{"top1":90,"top5":99,"loss":0.3},"cells":2}', '2026-01-01T00:00:00Z');
            """);
        old.Dispose();

        var upgraded = _workspace.OpenDatabase();
        var store = new SqliteSweepCellStore(upgraded);
        Assert.Null(store.Baseline(Identity)); // percent cells are gone, not read as fractions
        Assert.Empty(store.Cells(Identity, "element"));
        var history = new SweepHistory(upgraded);
        var reopened = SavedSweep.Read(history.Get(done)!, store)!;
        Assert.Equal(new SweepMetrics(0.9, 0.99, 0.3), reopened.Baseline);
        Assert.Equal(new SweepCell("stage1.conv1", 0.5, 0.5, 0.8, 0.98, 0.6, 0.1), Assert.Single(reopened.Cells));
        Assert.Null(SavedSweep.Read(history.Get(stopped)!, store)); // its cells must be measured again
        Assert.Equal(64, history.Get(stopped)!.BatchSize);
        var job = upgraded.QuerySingleOrDefault("SELECT result_json FROM jobs WHERE id = 'job';", row => row.GetString(0))!;
        Assert.Equal((0.9, 0.99, 2), (SweepJobResultBaseline(job).Top1, SweepJobResultBaseline(job).Top5, System.Text.Json.JsonDocument.Parse(job).RootElement.GetProperty("cells").GetInt32()));
    }

    [Fact]
    public void CellsOfAnotherBatchSizeOrEngineAreOtherCells()
    {
        var store = new SqliteSweepCellStore(_workspace.OpenDatabase());
        var key = SweepCellKey.For(Identity, "element", "fc1", 0.5);
        store.Save(key, new SweepCell("fc1", 0.5, 0.5, 0.8, 0.95, 0.7, 0.01));

        Assert.Equal(64, key.BatchSize);
        Assert.Equal(SweepCellKey.CurrentEngine, key.Engine);
        Assert.False(store.TryGet(SweepCellKey.For(Identity with { BatchSize = 1 }, "element", "fc1", 0.5), out _));
        Assert.False(store.TryGet(key with { Engine = SweepCellKey.CurrentEngine - 1 }, out _));
        Assert.Empty(store.Cells(Identity with { BatchSize = 32 }, "element"));
        Assert.True(store.TryGet(key, out _));
    }

    [Fact]
    public void ASweepRunsOnlyWithTheBatchSizeItsIdentityKeys()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.Lenet300100, seed: 6);
        var store = new InMemorySweepCellStore();
        var settings = new SweepSettings { Levels = [0, 0.5], Layers = ["hidden.fc1"], BatchSize = 16 };

        var error = Assert.Throws<ArgumentException>(() => SensitivitySweep.Run(network, PruningTestModels.FashionTest(32), settings, store, Identity));
        Assert.Contains("batches of 64", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, store.Count);

        SensitivitySweep.Run(network, PruningTestModels.FashionTest(32), settings, store, Identity with { BatchSize = 16 });
        Assert.All(store.Keys, key => Assert.Equal(16, key.BatchSize));
    }

    private static SweepMetrics SweepJobResultBaseline(string json) => SweepJobResult.FromJson(json).Baseline;

    private static void SaveVersion3Cell(WorkspaceDatabase database, string criterion, string layer, double level, double actual, double top1, double top5, double loss, double drop) =>
        database.Execute(
            """
            INSERT INTO sweep_cells (model_hash, dataset, subset, criterion, layer, level, actual_sparsity, top1, top5, loss, top1_drop, created_at)
            VALUES ($hash, $dataset, $subset, $criterion, $layer, $level, $actual, $top1, $top5, $loss, $drop, '2026-01-01T00:00:00Z');
            """,
            ("$hash", Identity.ModelHash), ("$dataset", Identity.Dataset), ("$subset", Identity.Subset), ("$criterion", criterion), ("$layer", layer),
            ("$level", level), ("$actual", actual), ("$top1", top1), ("$top5", top5), ("$loss", loss), ("$drop", drop));

    private static Guid SaveVersion3Sweep(WorkspaceDatabase database, string criterion, string? resultJson)
    {
        var id = Guid.NewGuid();
        database.Execute(
            """
            INSERT INTO sweeps (id, model_hash, model_name, architecture, dataset, subset, subset_size, criterion, levels_json, layers_json, created_at, finished_at, result_json)
            VALUES ($id, $hash, 'vgg', 'vgg-tiny', $dataset, $subset, 64, $criterion, '[0,0.5,0.95]', '[{"name":"stage1.conv1","stage":"stage1","kind":"conv","parameters":63}]',
                    '2026-01-01T00:00:00Z', CASE WHEN $result IS NULL THEN NULL ELSE '2026-01-01T00:01:00Z' END, $result);
            """,
            ("$id", id.ToString()), ("$hash", Identity.ModelHash), ("$dataset", Identity.Dataset), ("$subset", Identity.Subset), ("$criterion", criterion),
            ("$result", resultJson));
        return id;
    }

    /// <summary>Reports on the sweep's own thread, unlike <see cref="Progress{T}"/>.</summary>
    private sealed class Synchronous(Action<SweepProgress> report) : IProgress<SweepProgress>
    {
        public void Report(SweepProgress value) => report(value);
    }
}
