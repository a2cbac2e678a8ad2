using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Pages.Sensitivity;
using Microsoft.Extensions.DependencyInjection;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Sensitivity page over a real temporary workspace (models, sweep history, cell store) with the fake
/// scheduler: the test plays the worker, publishing the sweep's plan and its cells as the real job does.
/// </summary>
public sealed class SensitivityPageTests : DashboardTestContext
{
    private static readonly SweepLayer[] Layers =
    [
        new("hidden.fc1", "hidden", "linear", 235_500),
        new("hidden.fc2", "hidden", "linear", 30_100),
        new("classifier.fc", "classifier", "linear", 1_010),
    ];

    private static readonly SweepMetrics Baseline = new(80, 98, 0.6);

    private readonly PageServices services;

    public SensitivityPageTests()
        : this(new PageServices())
    {
    }

    private SensitivityPageTests(PageServices services)
        : base(services.Register)
    {
        this.services = services;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            services.Workspace.Dispose();
        }
    }

    private ModelRecord AddModel(string name)
    {
        var file = Path.Combine(services.Workspace.Root, $"{Guid.NewGuid():N}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return services.Store.Import(file, new ModelEntry(name, ModelZoo.Lenet300100, SyntheticDataset.Name, 0.8, 266_610));
    }

    private static SweepCell Cell(string layer, double level, double top1) =>
        SweepCell.From(layer, level, level, new SweepMetrics(top1, 97, 0.7 + level), Baseline);

    [Fact]
    public void CellsPublishedByTheJobGrowTheTableAndExtendTheLinesWithoutRedrawing()
    {
        var model = AddModel("lenet quick");
        var page = Render<SensitivityPage>();
        Assert.Contains("No sweep has been run", page.Find("[data-testid=no-sweeps]").TextContent);

        page.Find("input[data-testid=sweep-levels]").Input("0, 0.5");
        page.Find("button[data-testid=start-sweep]").Click();

        var job = Assert.Single(Scheduler.List());
        Assert.Equal(SweepJob.Kind, job.Kind);
        var sweepId = SweepJobs.SweepIdOf(job)!.Value;
        Assert.Contains("\"levels\":[0,0.5]", job.ParametersJson);
        var record = new SweepRecord(sweepId, job.Id, model.Id, "weights", model.DisplayName, model.Architecture, SyntheticDataset.Name,
            "validation/stratified-2000/abc", 2000, "element", [0, 0.5], Layers, DateTimeOffset.UtcNow, null, null);

        var running = job with { State = JobState.Running, Fraction = 0.02, Message = "Evaluating the dense model" };
        Scheduler.Publish(running, new SweepStarted(record, null));
        page.WaitForState(() => page.FindComponents<LineChart>().Count == 1, UiTimeout);
        var chart = page.FindComponent<LineChart>();
        page.WaitForAssertion(() => Assert.Equal([0, 0, 0], chart.Instance.PointCounts), UiTimeout);
        var redraws = Invocations("react");

        Scheduler.Publish(running, new SweepCellFinished(sweepId, Cell("hidden.fc1", 0, 80), false, 1, 6, Baseline));
        Scheduler.Publish(running with { Fraction = 0.3 }, new SweepCellFinished(sweepId, Cell("hidden.fc1", 0.5, 79.5), false, 2, 6, Baseline));
        page.WaitForAssertion(() => Assert.Equal([2, 0, 0], chart.Instance.PointCounts), UiTimeout);
        Assert.Equal(2, page.FindAll("[data-testid=cell-layer]").Count);

        Scheduler.Publish(running with { Fraction = 0.5 }, new SweepCellFinished(sweepId, Cell("hidden.fc2", 0, 80), false, 3, 6, Baseline));
        Scheduler.Publish(running with { Fraction = 0.7 }, new SweepCellFinished(sweepId, Cell("hidden.fc2", 0.5, 61), false, 4, 6, Baseline));
        // A repeat of a known cell (the page read it from the workspace, then the job published it) changes nothing.
        Scheduler.Publish(running with { Fraction = 0.7 }, new SweepCellFinished(sweepId, Cell("hidden.fc1", 0.5, 79.5), true, 4, 6, Baseline));
        page.WaitForAssertion(() => Assert.Equal([2, 2, 0], chart.Instance.PointCounts), UiTimeout);

        Assert.Equal(4, page.FindAll("[data-testid=cell-layer]").Count);
        Assert.Equal(3, chart.Instance.SeriesCount);
        Assert.Equal(redraws, Invocations("react")); // grown by extending lines only
        Assert.True(Invocations("extendTraces") >= 2);
        Assert.Contains("4 of 6 cells", page.Find("[data-testid=curves-detail]").TextContent);
        page.WaitForAssertion(() => Assert.Equal("70\u00a0%", page.Find("[data-testid=sweep-progress] [data-testid=progress-percent]").TextContent.Trim()), UiTimeout);

        // hidden.fc2 loses 19 points at 50 %: it ranks first; hidden.fc1 (0.5 point) is safe at 50 % under the default 1 point.
        var ranking = page.FindAll("[data-testid=ranking-row]");
        Assert.Equal(["hidden.fc2", "hidden.fc1"], ranking.Select(r => r.GetAttribute("data-layer")));
        Assert.Equal("50\u00a0%", ranking[1].QuerySelector("[data-testid=ranking-safe]")!.TextContent.Trim());
        Assert.Equal("0\u00a0%", ranking[0].QuerySelector("[data-testid=ranking-safe]")!.TextContent.Trim());

        page.Find("[data-testid=sweep-progress] [data-testid=progress-cancel]").Click();
        Assert.Equal([job.Id], Scheduler.CancelRequests);
    }

    [Theory]
    [InlineData("0, 1.5", "Sparsity level 1.5 is outside [0, 1)")]
    [InlineData("0, half", "Sparsity level 'half' is not a number.")]
    [InlineData("0:0.5:0", "The step of a range must be positive")]
    public void BadLevelsAreExplainedAndStartNothing(string levels, string message)
    {
        AddModel("lenet quick");
        var page = Render<SensitivityPage>();

        page.Find("input[data-testid=sweep-levels]").Input(levels);
        page.Find("button[data-testid=start-sweep]").Click();

        Assert.Contains(message, page.Find("[data-testid=sweep-form]").TextContent);
        Assert.Empty(Scheduler.List());
    }

    [Fact]
    public void TheNewestSweepOfTheWorkspaceOpensWithItsNumbersAndAnotherCanBeLaidOverIt()
    {
        var model = AddModel("lenet");
        var identity = new SweepIdentity("weights", SyntheticDataset.Name, "validation/stratified-100/abc");
        var element = services.History.Begin(null, model.Id, "lenet", model.Architecture, identity, 100, "element", [0, 0.5], Layers);
        services.History.Finish(element.Id, SensitivityExport.ToJson(Result(PruningCriterion.Element, 79)));
        // A later filter sweep that was stopped after two cells: only what the cell store has is shown.
        var filter = services.History.Begin(null, model.Id, "lenet", model.Architecture, identity, 100, "filter-l1", [0, 0.5], Layers);
        services.Cells.Save(SweepCellKey.Baseline(identity), SweepCell.From("", 0, 0, Baseline, Baseline));
        services.Cells.Save(SweepCellKey.For(identity, "filter-l1", "hidden.fc1", 0.5), Cell("hidden.fc1", 0.5, 40));

        var page = Render<SensitivityPage>();

        Assert.Equal(2, page.FindAll("[data-testid=history-row]").Count);
        Assert.Contains("lenet · filter-l1 · synthetic", page.Find("[data-testid=curves-title]").TextContent);
        Assert.Equal(4, page.FindAll("[data-testid=cell-layer]").Count); // three level-0 cells and one pruned
        var chart = page.FindComponent<LineChart>();
        page.WaitForAssertion(() => Assert.Equal([2, 1, 1], chart.Instance.PointCounts), UiTimeout);

        page.FindAll("[data-testid=history-row]").Single(r => r.GetAttribute("data-sweep-id") == element.Id.ToString())
            .QuerySelector("button[data-testid=overlay-sweep]")!.Click();

        page.WaitForAssertion(() => Assert.Equal([2, 1, 1, 2, 2, 2], chart.Instance.PointCounts), UiTimeout);
        Assert.Contains("dashed: lenet · element · synthetic", page.Find("[data-testid=overlay-detail]").TextContent);
        Assert.Equal($"/sweeps/{filter.Id}/csv", page.Find("[data-testid=download-csv]").GetAttribute("href"));
    }

    private static SensitivityResult Result(PruningCriterion criterion, double top1AtHalf)
    {
        var cells = Layers.SelectMany(l => new[] { SweepCell.From(l.Name, 0, 0, Baseline, Baseline), Cell(l.Name, 0.5, top1AtHalf) }).ToArray();
        var settings = new SweepSettings { Criterion = criterion, Levels = [0, 0.5], Layers = Layers.Select(l => l.Name).ToArray() };
        return new SensitivityResult(ModelZoo.Lenet300100, settings, 100, Baseline, cells, 1.5, 3, 0);
    }

    private int Invocations(string identifier) => JSInterop.Invocations.Count(i => i.Identifier == identifier);

    /// <summary>A temporary workspace, its stores, and a catalog with only the synthetic dataset.</summary>
    private sealed class PageServices
    {
        public PageServices()
        {
            var database = Workspace.OpenDatabase();
            Store = new ModelStore(database);
            Cells = new SqliteSweepCellStore(database);
            History = new SweepHistory(database);
            var options = new DatasetOptions { CacheFolder = Path.Combine(Workspace.Root, "cache") };
            Catalog = new DatasetCatalog(options, new DatasetSearchRoots([Path.Combine(Workspace.Root, "elsewhere")], Path.Combine(Workspace.Root, "no-system")));
        }

        public TempWorkspace Workspace { get; } = new();

        public ModelStore Store { get; }

        public SqliteSweepCellStore Cells { get; }

        public SweepHistory History { get; }

        public DatasetCatalog Catalog { get; }

        public void Register(IServiceCollection services)
        {
            services.AddSingleton(Store);
            services.AddSingleton(Catalog);
            services.AddSingleton(sp => new SweepJobs(sp.GetRequiredService<IJobScheduler>(), Catalog, Store, Cells, History));
        }
    }
}
