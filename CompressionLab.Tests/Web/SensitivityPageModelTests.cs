using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Sensitivity;
using Microsoft.Extensions.DependencyInjection;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Sensitivity page's model without a renderer: a real temporary workspace, the fake scheduler playing the worker,
/// and the test calling what the page calls (ApplyUpdates when told updates wait, TakeChartChange after a render).
/// </summary>
public sealed class SensitivityPageModelTests : IDisposable
{
    private static readonly SweepLayer[] Layers =
    [
        new("hidden.fc1", "hidden", "linear", 235_500, 300, 235_200),
        new("hidden.fc2", "hidden", "linear", 30_100, 100, 30_000),
        new("classifier.fc", "classifier", "linear", 1_010, 10, 1_000),
    ];

    private static readonly SweepMetrics Baseline = new(0.80, 0.98, 0.6); // fractions, as the engine keeps them
    private static readonly SweepIdentity Identity = new("weights", SyntheticDataset.Name, "validation/stratified-100/abc");

    private readonly PageWorkspace workspace = new();
    private readonly FakeJobScheduler scheduler = new();
    private readonly SweepJobs sweeps;
    private readonly ModelRecord model;
    private int waiting;

    public SensitivityPageModelTests()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IJobScheduler>(scheduler);
        workspace.AddSweepJobs(services);
        sweeps = services.BuildServiceProvider().GetRequiredService<SweepJobs>();
        var file = Path.Combine(workspace.Workspace.Root, "lenet.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        model = workspace.Store.Import(file, new ModelEntry("lenet", ModelZoo.Lenet300100, SyntheticDataset.Name, 0.8, 266_610));
    }

    public void Dispose() => workspace.Dispose();

    private SensitivityPageModel Open() => new(scheduler, sweeps, () => Interlocked.Increment(ref waiting));

    /// <param name="top1Percent">In percent, as the chart shows it; the cell holds the fraction, as the engine does.</param>
    private static SweepCell Cell(string layer, double level, double top1Percent) =>
        SweepCell.From(layer, level, level, new SweepMetrics(top1Percent / 100, 0.97, 0.7 + level), Baseline);

    [Fact]
    public void AStartedSweepGrowsOnlyWhenItsUpdatesAreAppliedAndTheChartIsExtendedNotRedrawn()
    {
        using var page = Open();
        Assert.Null(page.Main);
        Assert.Null(page.TakeChartChange()); // nothing to draw

        var (job, error) = page.Start(new SweepRequest(model.Id, Levels: [0, 0.5], SubsetSize: 100));
        Assert.Null(error);
        Assert.True(page.Busy);
        var record = workspace.History.Begin(job!.Id, model.Id, "lenet", model.Architecture, Identity, 100, "element", [0, 0.5], Layers, id: job.Links.Subject);
        var running = job with { State = JobState.Running, Fraction = 0.1 };
        var told = waiting; // the queued job was announced too

        scheduler.Publish(running, new SweepStarted(record, null));
        scheduler.Publish(running with { Fraction = 0.2 }, new SweepCellFinished(record.Id, Cell("hidden.fc1", 0, 80), false, 1, 6, Baseline));
        Assert.Equal(told + 2, waiting);
        Assert.Null(page.Main); // queued, not applied: the page applies them on its own thread

        Assert.Null(page.ApplyUpdates());
        Assert.Equal(record.Id, page.Main!.Sweep.Id);
        Assert.Equal(0.2, page.Followed!.Fraction);
        Assert.Equal("6 planned · running", page.CellsText(record));
        var first = Assert.IsType<RedrawChart>(page.TakeChartChange());
        Assert.Equal(3, first.Series.Count);
        Assert.Equal("Top-1 accuracy (%)", first.AxisTitle);
        Assert.Null(page.TakeChartChange()); // taken once

        // Two cells after every level their lines have: appended to those lines, with their hover texts.
        scheduler.Publish(running with { Fraction = 0.4 }, new SweepCellFinished(record.Id, Cell("hidden.fc1", 0.5, 79.5), false, 2, 6, Baseline));
        scheduler.Publish(running with { Fraction = 0.6 }, new SweepCellFinished(record.Id, Cell("hidden.fc2", 0.5, 61), false, 3, 6, Baseline));
        // A repeat of a known cell changes nothing.
        scheduler.Publish(running with { Fraction = 0.6 }, new SweepCellFinished(record.Id, Cell("hidden.fc1", 0.5, 79.5), true, 3, 6, Baseline));
        page.ApplyUpdates();
        var extend = Assert.IsType<ExtendChart>(page.TakeChartChange());
        Assert.Equal([(0, 0.5, 79.5, "117,600 of 235,200 weights pruned"), (1, 0.5, 61.0, "15,000 of 30,000 weights pruned")],
            extend.Lines.Select(l => (l.Line, Assert.Single(l.X), Assert.Single(l.Y), Assert.Single(l.Text))));
        Assert.Equal(3, page.Cells.Count);

        // A cell below a level its line already shows must be placed inside the line: the chart is redrawn.
        scheduler.Publish(running with { Fraction = 0.8 }, new SweepCellFinished(record.Id, Cell("hidden.fc2", 0, 80), false, 4, 6, Baseline));
        page.ApplyUpdates();
        Assert.IsType<RedrawChart>(page.TakeChartChange());
        Assert.Equal(["hidden.fc1", "hidden.fc1", "hidden.fc2", "hidden.fc2"], page.Cells.Select(c => c.Layer));
    }

    [Fact]
    public void ASweepStartedInAnotherTabIsFollowedWhenNothingElseIs()
    {
        using var page = Open();
        var other = scheduler.Add(FakeJobScheduler.Job("Sweep lenet", kind: SweepJob.Kind));

        scheduler.Publish(other with { State = JobState.Running, Fraction = 0.3 });
        page.ApplyUpdates();

        Assert.Equal(other.Id, page.Followed!.Id);
        Assert.True(page.Busy);

        // While it runs, another sweep elsewhere does not take the page over.
        var third = FakeJobScheduler.Job("Sweep lenet again", JobState.Running, kind: SweepJob.Kind);
        scheduler.Publish(third);
        page.ApplyUpdates();
        Assert.Equal(other.Id, page.Followed!.Id);
    }

    [Fact]
    public void AFailureIsReportedOnceAndTheHistoryIsReadAgain()
    {
        using var page = Open();
        var (job, _) = page.Start(new SweepRequest(model.Id, Levels: [0, 0.5], SubsetSize: 100));
        var record = workspace.History.Begin(job!.Id, model.Id, "lenet", model.Architecture, Identity, 100, "element", [0, 0.5], Layers, id: job.Links.Subject);
        Assert.Empty(page.History); // the row was made after the page looked

        scheduler.Publish(job with { State = JobState.Failed, Error = "out of memory", FinishedAt = DateTimeOffset.UtcNow });

        Assert.Equal("out of memory", page.ApplyUpdates());
        Assert.Null(page.ApplyUpdates());
        Assert.False(page.Busy);
        Assert.Equal([record.Id], page.History.Select(s => s.Id));
        Assert.Equal("6 planned · not finished", page.CellsText(page.History[0]));
    }

    [Fact]
    public void TheNewestSweepOpensAndMetricOverlayAndOpenRedrawTheChart()
    {
        var older = workspace.History.Begin(null, model.Id, "lenet", model.Architecture, Identity, 100, "filter-l1", [0, 0.5], Layers[..2]);
        var newest = workspace.History.Begin(null, model.Id, "lenet", model.Architecture, Identity with { Subset = "validation/stratified-200/def" }, 200, "element", [0, 0.5], Layers);
        using var page = Open();
        Assert.Equal(newest.Id, page.Main!.Sweep.Id);
        Assert.Equal(3, Assert.IsType<RedrawChart>(page.TakeChartChange()).Series.Count);

        page.ShowMetric(SweepMetric.Drop);
        Assert.Equal("Top-1 drop (points)", Assert.IsType<RedrawChart>(page.TakeChartChange()).AxisTitle);

        page.LayOver(older);
        Assert.Equal(3 + 2, Assert.IsType<RedrawChart>(page.TakeChartChange()).Series.Count);
        page.ClearOverlay();
        Assert.Equal(3, Assert.IsType<RedrawChart>(page.TakeChartChange()).Series.Count);

        page.LayOver(older);
        page.Open(older); // the sweep laid over becomes the main one: no overlay of itself
        Assert.Null(page.Overlay);
        Assert.Equal(2, Assert.IsType<RedrawChart>(page.TakeChartChange()).Series.Count);
    }

    [Fact]
    public void DisposingEndsTheSubscription()
    {
        var page = Open();
        Assert.Equal(1, scheduler.SubscriberCount);
        page.Dispose();
        Assert.Equal(0, scheduler.SubscriberCount);
    }
}
