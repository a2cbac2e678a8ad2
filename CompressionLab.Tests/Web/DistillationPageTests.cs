using CompressionLab.Core.Distillation;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Pages.Distillation;
using Microsoft.Extensions.DependencyInjection;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Distillation page over a real temporary workspace holding DistillationPageModelTests' two models and their
/// hand-made logits on 200 validation images of the synthetic dataset; the fake scheduler takes the jobs the page queues.
/// </summary>
[Collection(Models.SerialCollection.Name)]
public sealed class DistillationPageTests : DashboardTestContext
{
    private readonly PageWorkspace workspace;

    public DistillationPageTests()
        : this(new PageWorkspace())
    {
    }

    private DistillationPageTests(PageWorkspace workspace)
        : base(services =>
        {
            workspace.AddStores(services);
            services.AddSingleton(sp => new DistillationJobs(sp.GetRequiredService<Core.Jobs.IJobScheduler>(), workspace.Catalog, workspace.Store,
                new LogitsStore(workspace.Workspace.OpenDatabase()), workspace.States));
        })
    {
        this.workspace = workspace;
        var (teacher, student) = DistillationPageModelTests.SeedModels(workspace.Store, workspace.Workspace.Root);
        DistillationPageModelTests.SeedLogits(new LogitsStore(workspace.Workspace.OpenDatabase()), workspace.Catalog, teacher, student);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            workspace.Dispose();
        }
    }

    private static double TeacherTrue(double t) => Math.Exp(2 / t) / (Math.Exp(2 / t) + 9);

    [Fact]
    public void ComparingFromCachedLogitsShowsTheBarsAndMovingTChangesThemAndTheCurvesMarker()
    {
        var page = Render<DistillationPage>();
        Assert.Equal(2, page.FindAll("[data-testid=kd-model-row]").Count);
        Assert.Empty(page.FindAll("[data-testid=kd-explore]"));
        page.Find("input[data-testid=kd-subset]").Change("200");

        page.Find("[data-testid=kd-compute]").Click();

        page.WaitForAssertion(() => Assert.Equal("T = 4", page.Find("[data-testid=t-value]").TextContent.Trim()), UiTimeout);
        Assert.Empty(Scheduler.List()); // cached: no job
        Assert.Contains("teacher → student · 200 validation images of synthetic", page.Find("[data-testid=kd-compared]").TextContent);
        Assert.StartsWith("data:image/bmp;base64,", page.Find("[data-testid=kd-image]").GetAttribute("src"), StringComparison.Ordinal);
        var bars = page.FindComponent<SoftTargetBarChart>().Instance.Bars!;
        Assert.Equal(TeacherTrue(4), bars.Teacher[bars.Label], 12);
        Assert.Equal("4", page.Find("[data-testid=kd-bars]").GetAttribute("data-temperature"));
        Assert.Equal([4.0, 4.0, 4.0, 4.0], Markers(page));
        Assert.Equal(10, page.FindAll("[data-testid=kd-class-row]").Count);

        page.Find("input[data-testid=t-slider]").Input("0");

        page.WaitForAssertion(() => Assert.Equal("T = 1", page.Find("[data-testid=t-value]").TextContent.Trim()), UiTimeout);
        bars = page.FindComponent<SoftTargetBarChart>().Instance.Bars!;
        Assert.Equal(TeacherTrue(1), bars.Teacher[bars.Label], 12);
        Assert.Equal("1", page.Find("[data-testid=kd-bars]").GetAttribute("data-temperature"));
        Assert.Equal([1.0, 1.0, 1.0, 1.0], Markers(page));
        Assert.Contains("Per class at T = 1", page.Find("[data-testid=kd-per-class]").TextContent);

        page.Find("[data-testid=kd-disagreeing]").Click();
        page.WaitForAssertion(() => Assert.Contains("#1 most disagreeing at T = 1", page.Find("[data-testid=kd-disagree-rank]").TextContent), UiTimeout);
        Assert.Contains("Image 8 of 200", page.Find("[data-testid=kd-explore]").TextContent);
    }

    [Fact]
    public void ABadTemperatureIsRefusedBesideTheBox()
    {
        var page = Render<DistillationPage>();

        page.Find("input[data-testid=kd-grid]").Change("1, 2, 0");

        page.WaitForAssertion(() => Assert.Contains("'0' is not a temperature", page.Find("[data-testid=compare-panel]").TextContent), UiTimeout);
    }

    [Fact]
    public void DistilQueuesTheJobWithTheTickedTeacherAndDrawsItsEpochs()
    {
        var page = Render<DistillationPage>();
        page.Find("input[data-testid=kd-train-epochs]").Change("2");

        page.Find("[data-testid=kd-train-start]").Click();

        var job = Assert.Single(Scheduler.List());
        Assert.Equal(DistillationJob.Kind, job.Kind);
        var running = job with { State = Core.Jobs.JobState.Running };
        Scheduler.Publish(running, DistillationTrainSectionModelTests.Epoch(DistillationRun.Distilled, 1, 0.5, 1.2));
        Scheduler.Publish(running, DistillationTrainSectionModelTests.Epoch(DistillationRun.Baseline, 1, 0.4, 1.4));
        page.WaitForAssertion(() => Assert.Equal(["distilled epoch 1: 50.00 %"], page.FindAll("[data-testid=kd-distilled-epoch]").Select(e => e.TextContent.Trim())), UiTimeout);
        Assert.Equal(["baseline epoch 1: 40.00 %"], page.FindAll("[data-testid=kd-baseline-epoch]").Select(e => e.TextContent.Trim()));

        Scheduler.Publish(running with { State = Core.Jobs.JobState.Succeeded, Fraction = 1, ResultJson = DistillationTrainSectionModelTests.ResultJson(Guid.NewGuid(), 0.9, 0.85) });
        page.WaitForAssertion(() => Assert.Contains("against 85.00 % without a teacher", page.Find("[data-testid=kd-train-result-top1]").TextContent), UiTimeout);
    }

    [Fact]
    public void TheObjectiveChoiceShowsEachObjectivesSettingsAndMutualLearningQueuesNoTeacher()
    {
        var page = Render<DistillationPage>();
        var objective = page.FindComponent<MudBlazor.MudSelect<DistillationLoss>>();
        Assert.Empty(page.FindAll("[data-testid=kd-hint-mode]"));

        page.InvokeAsync(() => objective.Instance.ValueChanged.InvokeAsync(DistillationLoss.Hints));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=kd-hint-mode]")), UiTimeout);
        Assert.NotEmpty(page.FindAll("[data-testid=kd-hint-weight]"));
        Assert.Empty(page.FindAll("[data-testid=kd-peer-arch]"));

        page.InvokeAsync(() => objective.Instance.ValueChanged.InvokeAsync(DistillationLoss.Mutual));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=kd-peer-arch]")), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=kd-hint-mode]"));
        Assert.Equal("Train both", page.Find("[data-testid=kd-train-start]").TextContent.Trim());

        page.Find("[data-testid=kd-train-start]").Click();

        var job = Assert.Single(Scheduler.List());
        var request = Core.Models.ModelJobJson.Read<DistillationRequest>(job.ParametersJson);
        Assert.Empty(request.Teachers); // the teacher ticked for the comparison is not part of a mutual-learning run
        Assert.Equal((DistillationLoss.Mutual, 1.0), (request.Objective.Loss, request.Objective.Temperature));
    }

    /// <summary>The markup of the field whose <c>data-testid</c> is <paramref name="testId"/> (its label, value, helper or error text).</summary>
    private static string FieldMarkup<TField>(Bunit.IRenderedComponent<DistillationPage> page, string testId)
        where TField : MudBlazor.MudComponentBase =>
        page.FindComponents<TField>().Single(f => f.Instance.UserAttributes.TryGetValue("data-testid", out var id) && (id as string) == testId).Markup;

    [Fact]
    public void TheHintFieldsSayWhichStagesCanBeHintedAndABadStageListIsRefusedBesideItsField()
    {
        var page = Render<DistillationPage>();
        var objective = page.FindComponent<MudBlazor.MudSelect<DistillationLoss>>();
        page.InvokeAsync(() => objective.Instance.ValueChanged.InvokeAsync(DistillationLoss.Hints));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("input[data-testid=kd-hint-stages]")), UiTimeout);
        // The ticked teacher is a lenet-300-100, whose stages end in vectors: said under the field before anything starts.
        Assert.Contains("No stage to hint", FieldMarkup<MudBlazor.MudTextField<string>>(page, "kd-hint-stages"));

        page.Find("input[data-testid=kd-hint-stages]").Change("stage1,,stage2");
        page.Find("[data-testid=kd-train-start]").Click();

        page.WaitForAssertion(() => Assert.Contains("Name the stages to hint", FieldMarkup<MudBlazor.MudTextField<string>>(page, "kd-hint-stages")), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=kd-train-error]")); // in place only
        Assert.Empty(Scheduler.List());
    }

    [Fact]
    public void ANegativePeerSeedIsRefusedBesideItsFieldAndAGoodOneIsQueued()
    {
        var page = Render<DistillationPage>();
        var objective = page.FindComponent<MudBlazor.MudSelect<DistillationLoss>>();
        page.InvokeAsync(() => objective.Instance.ValueChanged.InvokeAsync(DistillationLoss.Mutual));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("input[data-testid=kd-peer-seed]")), UiTimeout);

        page.Find("input[data-testid=kd-peer-seed]").Change("-2");
        page.Find("[data-testid=kd-train-start]").Click();

        page.WaitForAssertion(() => Assert.Contains("zero or positive", FieldMarkup<MudBlazor.MudNumericField<int?>>(page, "kd-peer-seed")), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=kd-train-error]"));
        Assert.Empty(Scheduler.List());

        page.Find("input[data-testid=kd-peer-seed]").Change("5");
        page.Find("[data-testid=kd-train-start]").Click();

        var request = Core.Models.ModelJobJson.Read<DistillationRequest>(Assert.Single(Scheduler.List()).ParametersJson);
        Assert.Equal(5, request.PeerSeed);
        page.WaitForAssertion(() => Assert.DoesNotContain("zero or positive", FieldMarkup<MudBlazor.MudNumericField<int?>>(page, "kd-peer-seed")), UiTimeout);
    }

    private static IReadOnlyList<double> Markers(Bunit.IRenderedComponent<DistillationPage> page) =>
        [.. page.FindComponents<LineChart>().Take(4).Select(chart => chart.Instance.Series.Last(s => s.MarkersOnly).X[0])];
}
