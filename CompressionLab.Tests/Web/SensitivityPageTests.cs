using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Pages.Sensitivity;
using AngleSharp.Dom;
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

    // Core keeps fractions; the page shows percent (80.00) and drops in points.
    private static readonly SweepMetrics Baseline = new(0.80, 0.98, 0.6);

    private readonly PageWorkspace services;

    public SensitivityPageTests()
        : this(new PageWorkspace())
    {
    }

    private SensitivityPageTests(PageWorkspace services)
        : base(collection =>
        {
            services.AddStores(collection);
            services.AddSweepJobs(collection);
        })
    {
        this.services = services;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            services.Dispose();
        }
    }

    private ModelRecord AddModel(string name)
    {
        var file = Path.Combine(services.Workspace.Root, $"{Guid.NewGuid():N}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return services.Store.Import(file, new ModelEntry(name, ModelZoo.Lenet300100, SyntheticDataset.Name, 0.8, 266_610));
    }

    /// <param name="top1">In percent, as the page shows it.</param>
    private static SweepCell Cell(string layer, double level, double top1) =>
        SweepCell.From(layer, level, level, new SweepMetrics(top1 / 100, 0.97, 0.7 + level), Baseline);

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
        var sweepId = job.Links.Subject!.Value;
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
        // Appended points bring their hover text (this record has no unit counts, so the cell's actual sparsity).
        page.WaitForAssertion(() => Assert.Equal(["0% of the weights pruned", "50% of the weights pruned"], chart.Instance.Texts[0]!), UiTimeout);
        Assert.True(Invocations("update") >= 1);

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

    /// <summary>Layers with unit counts (filters and weights), as sweeps record them now.</summary>
    private static readonly SweepLayer[] CountedLayers =
    [
        new("hidden.fc1", "hidden", "linear", 235_500, 300, 235_200),
        new("hidden.fc2", "hidden", "linear", 30_100, 100, 30_000),
        new("classifier.fc", "classifier", "linear", 1_010, 10, 1_000),
    ];

    /// <summary>
    /// A finished element sweep at 0, 0.25, 0.5, 0.75 whose top-1 drops are, per layer, in points:
    /// hidden.fc1 0, 0.5, 2.5, 4; hidden.fc2 0, 1.5, 2, 2.5; classifier.fc 0, 0.2, 0.4, 0.6.
    /// </summary>
    private SweepRecord FinishedSweepWithKnownDrops(ModelRecord model)
    {
        double[] levels = [0, 0.25, 0.5, 0.75];
        var drops = new Dictionary<string, double[]>
        {
            ["hidden.fc1"] = [0, 0.5, 2.5, 4],
            ["hidden.fc2"] = [0, 1.5, 2, 2.5],
            ["classifier.fc"] = [0, 0.2, 0.4, 0.6],
        };
        var cells = CountedLayers.SelectMany(l => levels.Select((level, i) =>
            SweepCell.From(l.Name, level, level, new SweepMetrics(Baseline.Top1 - (drops[l.Name][i] / 100), 0.97, 0.6 + level), Baseline))).ToArray();
        var identity = new SweepIdentity("weights", SyntheticDataset.Name, "validation/stratified-100/abc");
        var record = services.History.Begin(null, model.Id, model.DisplayName, model.Architecture, identity, 100, "element", levels, CountedLayers);
        var settings = new SweepSettings { Levels = levels, Layers = CountedLayers.Select(l => l.Name).ToArray() };
        services.History.Finish(record.Id, SensitivityExport.ToJson(new SensitivityResult(ModelZoo.Lenet300100, settings, 100, Baseline, cells, 2, 9, 0)));
        return record;
    }

    private static string[] RankedLayers(IRenderedComponent<SensitivityPage> page) =>
        page.FindAll("[data-testid=ranking-row]").Select(r => r.GetAttribute("data-layer")!).ToArray();

    private static string[] SafeLevels(IRenderedComponent<SensitivityPage> page) =>
        page.FindAll("[data-testid=ranking-row] [data-testid=ranking-safe]").Select(c => c.TextContent.Trim()).ToArray();

    /// <summary>The page once its chart is drawn: that first drawing renders the page once more, so clicks go to what it shows.</summary>
    private IRenderedComponent<SensitivityPage> RenderDrawn()
    {
        var page = Render<SensitivityPage>();
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=chart-loading]")), UiTimeout);
        return page;
    }

    [Fact]
    public void ChangingTheThresholdMovesEachLayersSafeLevelAsComputedByHand()
    {
        FinishedSweepWithKnownDrops(AddModel("lenet"));
        var page = RenderDrawn();

        // Threshold 1 point: fc1 stays under it up to 25 % (0.5), fc2 not even at 25 % (1.5), classifier.fc up to 75 % (0.6).
        Assert.Equal(["hidden.fc2", "hidden.fc1", "classifier.fc"], RankedLayers(page));
        Assert.Equal(["0\u00a0%", "25\u00a0%", "75\u00a0%"], SafeLevels(page));

        // 3 points: fc1 up to 50 % (2.5; 4 at 75 % is over), fc2 up to 75 % (2.5), classifier.fc still 75 %; of the two
        // at 75 %, fc2 has the larger drop at the highest level (2.5 against 0.6) and ranks as more sensitive.
        page.Find("input[data-testid=ranking-threshold]").Change("3");
        page.WaitForAssertion(() => Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], RankedLayers(page)), UiTimeout);
        Assert.Equal(["50\u00a0%", "75\u00a0%", "75\u00a0%"], SafeLevels(page));

        // 0.25 points: fc1 (0.5) and fc2 (1.5) fail at 25 %, so both are safe only at 0 %; classifier.fc up to 25 % (0.2).
        page.Find("input[data-testid=ranking-threshold]").Change("0.25");
        page.WaitForAssertion(() => Assert.Equal(["0\u00a0%", "0\u00a0%", "25\u00a0%"], SafeLevels(page)), UiTimeout);
        Assert.Equal(["hidden.fc1", "hidden.fc2", "classifier.fc"], RankedLayers(page)); // equal safe levels: larger final drop first (4 > 2.5)
    }

    [Fact]
    public void TheNumbersTableSortsByAColumnAndShowsWhatEachLevelReallyPruned()
    {
        FinishedSweepWithKnownDrops(AddModel("lenet"));
        var page = RenderDrawn();
        string[] Top1() => page.FindAll("[data-testid=sweep-table] [data-testid=cell-top1]").Select(c => c.TextContent.Trim()).ToArray();
        string[] LayersShown() => page.FindAll("[data-testid=sweep-table] [data-testid=cell-layer]").Select(c => c.TextContent.Trim()).ToArray();

        // Table order first: layers in table order, levels ascending.
        Assert.Equal(12, Top1().Length);
        Assert.Equal(["80.00", "79.50", "77.50", "76.00"], Top1()[..4]);

        SortBy(page, "Top-1 %");
        page.WaitForAssertion(() => Assert.Equal(["76.00", "77.50", "77.50", "78.00"], Top1()[..4]), UiTimeout);
        Assert.Equal(["hidden.fc1", "hidden.fc1", "hidden.fc2", "hidden.fc2"], LayersShown()[..4]); // 76 fc1@75 %, 77.5 fc1@50 % and fc2@75 %, 78 fc2@50 %
        SortBy(page, "Top-1 %"); // again: descending
        page.WaitForAssertion(() => Assert.Equal(["80.00", "80.00", "80.00", "79.80"], Top1()[..4]), UiTimeout);

        SortBy(page, "Drop");
        page.WaitForAssertion(() => Assert.Equal(["0.00", "0.00", "0.00", "0.20"],
            page.FindAll("[data-testid=sweep-table] [data-testid=cell-drop]").Select(c => c.TextContent.Trim()).ToArray()[..4]), UiTimeout);

        // The actual sparsity column, and its count of units in the cell's title: 0.25 of hidden.fc2's 30,000 weights is 7,500.
        var row = page.FindAll("[data-testid=sweep-table] tbody tr").First(r =>
            r.QuerySelector("[data-testid=cell-layer]")!.TextContent.Trim() == "hidden.fc2" && r.QuerySelector("[data-testid=cell-sparsity]")!.TextContent.Trim() == "25\u00a0%");
        Assert.Equal("25\u00a0%", row.QuerySelector("[data-testid=cell-actual]")!.TextContent.Trim());
        Assert.Equal("7,500 of 30,000 weights pruned", row.QuerySelector("[data-testid=cell-actual]")!.GetAttribute("title"));
    }

    private static void SortBy(IRenderedComponent<SensitivityPage> page, string header) =>
        page.FindAll("[data-testid=sweep-table] .mud-table-sort-label").Single(l => l.TextContent.Trim() == header).Click();

    [Fact]
    public void AnUnfinishedSweepHasAResumeButtonThatQueuesItAgainUnderItsOwnId()
    {
        var model = AddModel("lenet");
        FinishedSweepWithKnownDrops(model);
        var identity = new SweepIdentity("weights", SyntheticDataset.Name, "validation/stratified-100/abc");
        // An interrupted dashboard sweep (two cells stored), and an interrupted CLI sweep of a file outside the workspace.
        var stopped = services.History.Begin(null, model.Id, "lenet", model.Architecture, identity, 100, "filter-l2", [0, 0.5, 0.9], CountedLayers[..2]);
        services.Cells.Save(SweepCellKey.Baseline(identity), SweepCell.From("", 0, 0, Baseline, Baseline));
        services.Cells.Save(SweepCellKey.For(identity, "filter-l2", "hidden.fc1", 0.5), Cell("hidden.fc1", 0.5, 70));
        var cli = services.History.Begin(null, null, "lenet.ckpt", model.Architecture, identity with { ModelHash = "other" }, 100, "element", [0, 0.5], CountedLayers);

        var page = RenderDrawn();
        IElement Row(Guid id) => page.FindAll("[data-testid=history-row]").Single(r => r.GetAttribute("data-sweep-id") == id.ToString());

        Assert.Equal(3, page.FindAll("[data-testid=history-row]").Count);
        Assert.Single(page.FindAll("[data-testid=resume-sweep]"), b => !b.HasAttribute("disabled"));
        Assert.True(Row(cli.Id).QuerySelector("[data-testid=resume-sweep]")!.HasAttribute("disabled")); // nothing in the workspace to load
        Assert.Contains("run the same sweep command again", Row(cli.Id).QuerySelector("[data-testid=resume-sweep]")!.GetAttribute("title"));
        Assert.Contains("3 of 6 cells", SensitivityText.Detail(SensitivityView.From(stopped, SavedSweep.Read(stopped, services.Cells))));

        Row(stopped.Id).QuerySelector("[data-testid=resume-sweep]")!.Click();

        // Once in CI no job was queued here; if it happens again, the refusal the page showed says why.
        var queued = Scheduler.List();
        Assert.True(queued.Count == 1, $"Resume queued {queued.Count} jobs; the page said: " +
            string.Join(" | ", Services.GetRequiredService<MudBlazor.ISnackbar>().ShownSnackbars.Select(s => s.Message)));
        var job = queued[0];
        Assert.Equal(stopped.Id, job.Links.Subject);
        Assert.Contains("\"criterion\":\"filter-l2\"", job.ParametersJson);
        Assert.Contains("\"levels\":[0,0.5,0.9]", job.ParametersJson);
        Assert.Contains("\"layers\":[\"hidden.fc1\",\"hidden.fc2\"]", job.ParametersJson);
        // The page follows the resumed sweep: its stored cells are shown, the row says it runs, no Resume button while it does.
        page.WaitForAssertion(() => Assert.Contains("lenet · filter-l2 · synthetic", page.Find("[data-testid=curves-title]").TextContent), UiTimeout);
        Assert.Contains("3 of 6 cells", page.Find("[data-testid=curves-detail]").TextContent);
        Scheduler.Publish(job with { State = JobState.Running, Fraction = 0.1 });
        page.WaitForAssertion(() => Assert.Contains("running", Row(stopped.Id).TextContent), UiTimeout);
        Assert.Null(Row(stopped.Id).QuerySelector("[data-testid=resume-sweep]"));
        Assert.Contains("The output layer is left out of filter sweeps", page.Find("[data-testid=left-out-note]").TextContent);
    }

    [Fact]
    public void WhenTheJobCarriesOnInAnExistingRowThePageFollowsThatRow()
    {
        var model = AddModel("lenet");
        var identity = new SweepIdentity("weights", SyntheticDataset.Name, "validation/stratified-2000/abc");
        var earlier = services.History.Begin(null, model.Id, "lenet", model.Architecture, identity, 2000, "element", [0, 0.5], CountedLayers);
        var newest = FinishedSweepWithKnownDrops(model);
        var page = RenderDrawn();
        Assert.Contains("12 of 12 cells", page.Find("[data-testid=curves-detail]").TextContent); // the newest sweep is open
        page.Find("input[data-testid=sweep-levels]").Input("0, 0.5");
        page.Find("button[data-testid=start-sweep]").Click();
        var job = Assert.Single(Scheduler.List());
        Assert.NotEqual(earlier.Id, job.Links.Subject); // planned as a new row...

        // ...but the job found the same sweep in the history (as SweepHistory.Begin does) and reports that row.
        var running = job with { State = JobState.Running, Fraction = 0.02 };
        Scheduler.Publish(running, new SweepStarted(earlier, Baseline));
        Scheduler.Publish(running with { Fraction = 0.5 }, new SweepCellFinished(earlier.Id, Cell("hidden.fc1", 0.5, 79), false, 2, 6, Baseline));

        page.WaitForAssertion(() => Assert.Contains("running", page.FindAll("[data-testid=history-row]").Single(r => r.GetAttribute("data-sweep-id") == earlier.Id.ToString()).TextContent), UiTimeout);
        Assert.Equal([newest.Id.ToString(), earlier.Id.ToString()], page.FindAll("[data-testid=history-row]").Select(r => r.GetAttribute("data-sweep-id")));
        page.WaitForAssertion(() => Assert.Contains("1 of 6 cells", page.Find("[data-testid=curves-detail]").TextContent), UiTimeout);
        Assert.Contains("baseline top-1 80.00", page.Find("[data-testid=curves-detail]").TextContent);
    }

    private static SensitivityResult Result(PruningCriterion criterion, double top1AtHalf)
    {
        var cells = Layers.SelectMany(l => new[] { SweepCell.From(l.Name, 0, 0, Baseline, Baseline), Cell(l.Name, 0.5, top1AtHalf) }).ToArray();
        var settings = new SweepSettings { Criterion = criterion, Levels = [0, 0.5], Layers = Layers.Select(l => l.Name).ToArray() };
        return new SensitivityResult(ModelZoo.Lenet300100, settings, 100, Baseline, cells, 1.5, 3, 0);
    }

    private int Invocations(string identifier) => JSInterop.Invocations.Count(i => i.Identifier == identifier);
}
