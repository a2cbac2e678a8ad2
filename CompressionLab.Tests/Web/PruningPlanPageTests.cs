using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Web.Components.Pages.Pruning;
using CompressionLab.Web.Services;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Pruning plan page over a real temporary workspace holding PruningPageModelTests' tiny model, its sweep cells and
/// profile; the fake scheduler takes the jobs the page queues.
/// </summary>
public sealed class PruningPlanPageTests : DashboardTestContext
{
    private readonly PageWorkspace workspace;

    public PruningPlanPageTests()
        : this(new PageWorkspace())
    {
    }

    private PruningPlanPageTests(PageWorkspace workspace)
        : base(services =>
        {
            workspace.AddStores(services);
            workspace.AddPlanJobs(services);
            workspace.AddFineTuneJobs(services);
            workspace.AddThinningJobs(services);
            services.AddSingleton(workspace.History);
            services.AddSingleton(workspace.Cells);
            services.AddSingleton<PlanProfileLoader>(model => PruningPageModelTests.Profile(model));
        })
    {
        this.workspace = workspace;
        PruningPageModelTests.Seed(workspace);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            workspace.Dispose();
        }
    }

    [Fact]
    public void MovingAStageSliderChangesThePredictedNumbersAndTheLayersLevel()
    {
        var page = Render<PruningPlanPage>();
        Assert.Contains("87.50 %", page.Find("[data-testid=predicted-top1]").TextContent);
        Assert.Contains("0.0 %", page.Find("[data-testid=overall-sparsity]").TextContent);
        Assert.Contains("99", page.Find("[data-testid=remaining-params]").TextContent);
        Assert.Contains("output layer", page.Find("[data-layer=fc] [data-testid=exclusion-reason]").TextContent);

        page.Find("input[data-testid=stage-slider-stage1]").Input("0.5");

        // conv1 at 0.5: drop 6.25 points on its curve, 18 of 84 weights gone, 81 parameters left (PruningPageModelTests).
        page.WaitForAssertion(() => Assert.Contains("81.25 %", page.Find("[data-testid=predicted-top1]").TextContent), UiTimeout);
        Assert.Contains("21.4 %", page.Find("[data-testid=overall-sparsity]").TextContent);
        Assert.StartsWith("81", page.Find("[data-testid=remaining-params]").TextContent.Trim(), StringComparison.Ordinal);
        Assert.Equal("50.0 %", page.Find("[data-layer=conv1] [data-testid=layer-sparsity]").TextContent.Trim());
        Assert.Equal("50 %", page.Find("[data-stage=stage1] [data-testid=stage-rate]").TextContent.Trim());
    }

    [Fact]
    public void WithNoCurveLeftToDrawThePanelSaysWhyInsteadOfAnEmptyChart()
    {
        var page = Render<PruningPlanPage>();
        Assert.NotEmpty(page.FindAll("[data-testid=plan-curves-chart]"));

        // fc is excluded by default; excluding conv1 too leaves the sweep with no curve for any planned layer.
        page.Find("[data-layer=conv1] [data-testid=exclude-layer]").Click();

        page.WaitForAssertion(() => Assert.Contains("no curve for the plan's methods", page.Find("[data-testid=plan-curves-missing]").TextContent), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=plan-curves-chart]"));
    }

    [Fact]
    public void ALevelTypedInTheLayerTableReachesThePredictionAndTheSlidersStay()
    {
        var page = Render<PruningPlanPage>();

        page.Find("[data-layer=conv1] input[data-testid=layer-level]").Change("50");

        // The table is a component of its own: its edit must render the prediction panel of the page too.
        page.WaitForAssertion(() => Assert.Contains("81.25 %", page.Find("[data-testid=predicted-top1]").TextContent), UiTimeout);
        Assert.Contains("override", page.Find("[data-layer=conv1] [data-testid=layer-source]").TextContent);
        Assert.Equal("0 %", page.Find("[data-stage=stage1] [data-testid=stage-rate]").TextContent.Trim());
    }

    [Fact]
    public void RenamingAStageThroughItsMenuShowsTheNewNameAndKeepsThePrediction()
    {
        // The stage menu and its dialog render in MudBlazor's providers, as in the app's layout.
        var popovers = Render<MudPopoverProvider>();
        var dialogs = Render<MudDialogProvider>();
        var page = Render<PruningPlanPage>();
        page.Find("input[data-testid=stage-slider-stage1]").Input("0.5");
        page.WaitForAssertion(() => Assert.Contains("81.25 %", page.Find("[data-testid=predicted-top1]").TextContent), UiTimeout);

        page.Find("[data-stage=stage1] [data-testid=stage-menu] button").Click();
        popovers.WaitForElement("[data-testid=stage-rename]", UiTimeout).Click();
        var name = dialogs.WaitForElement("input[data-testid=stage-new-name]", UiTimeout);
        // A name taken by another stage is refused in the dialog, which stays open.
        name.Input("classifier");
        dialogs.Find("[data-testid=stage-edit-apply]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("already a stage named 'classifier'", dialogs.Find("[data-testid=stage-edit-error]").TextContent), UiTimeout);
        dialogs.Find("input[data-testid=stage-new-name]").Input("features");
        dialogs.Find("[data-testid=stage-edit-apply]").Click();

        page.WaitForAssertion(() => Assert.Equal("50 %", page.Find("[data-stage=features] [data-testid=stage-rate]").TextContent.Trim()), UiTimeout);
        Assert.Contains("features", page.Find("[data-stage=features]").TextContent);
        Assert.Empty(page.FindAll("[data-stage=stage1]"));
        Assert.Contains("features", page.Find("[data-layer=conv1]").TextContent);
        Assert.Contains("81.25 %", page.Find("[data-testid=predicted-top1]").TextContent);
        dialogs.WaitForAssertion(() => Assert.Empty(dialogs.FindAll("[data-testid=stage-edit-dialog]")), UiTimeout);
    }

    [Fact]
    public void EvaluatePlanQueuesTheJobAndShowsItsProgress()
    {
        var page = Render<PruningPlanPage>();
        page.Find("input[data-testid=stage-slider-stage1]").Input("0.5");

        page.Find("[data-testid=evaluate-plan]").Click();

        var job = Assert.Single(Scheduler.List());
        Assert.Equal(PlanEvaluationJob.Kind, job.Kind);
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=evaluation-progress]")), UiTimeout);
    }

    [Fact]
    public void TheFineTuneSectionDrawsTheRecoveryPointsFromThePartialsAndShowsTheNewModel()
    {
        var page = Render<PruningPlanPage>();
        page.Find("input[data-testid=stage-slider-stage1]").Input("0.5");

        page.Find("[data-testid=finetune-start]").Click();

        var job = Assert.Single(Scheduler.List());
        Assert.Equal(FineTuneJob.Kind, job.Kind);
        Assert.Equal(0.5, ModelJobJson.Read<FineTuneRequest>(job.ParametersJson).Plan.Stages.Single(s => s.Name == "stage1").Rate);
        var running = job with { State = JobState.Running };
        Scheduler.Publish(running, FineTuneSectionModelTests.Started(2));
        Scheduler.Publish(running, FineTuneSectionModelTests.Epoch(1, 2, 0.84375));

        page.WaitForAssertion(() => Assert.Equal(["epoch 1: 84.38 %"], page.FindAll("[data-testid=recovery-point]").Select(e => e.TextContent.Trim())), UiTimeout);
        Assert.Contains("87.50 %", page.Find("[data-testid=recovery-dense]").TextContent);
        Assert.Contains("81.25 %", page.Find("[data-testid=recovery-pruned]").TextContent);
        Assert.NotNull(page.Find("[data-testid=recovery-chart]"));
        Assert.NotNull(page.Find("[data-testid=finetune-progress] [data-testid=progress-cancel]"));

        var id = Guid.NewGuid();
        Scheduler.Publish(running, FineTuneSectionModelTests.Epoch(2, 2, 0.859375));
        Scheduler.Publish(running with { State = JobState.Succeeded, Fraction = 1, ResultJson = FineTuneSectionModelTests.ResultJson(id, 0.84375, 0.859375) });

        page.WaitForAssertion(() => Assert.Contains("tiny · pruned 21.4% · fixed 2 ep", page.Find("[data-testid=finetune-result-name]").TextContent), UiTimeout);
        Assert.Equal(["epoch 1: 84.38 %", "epoch 2: 85.94 %"], page.FindAll("[data-testid=recovery-point]").Select(e => e.TextContent.Trim()));
        Assert.Contains("81.25 % → 85.94 %", page.Find("[data-testid=finetune-result-top1]").TextContent);
    }

    [Fact]
    public void AnEpochCountOutOfRangeIsRefusedBesideTheField()
    {
        var page = Render<PruningPlanPage>();
        page.Find("input[data-testid=stage-slider-stage1]").Input("0.5");
        page.Find("input[data-testid=finetune-epochs]").Change("0");

        page.Find("[data-testid=finetune-start]").Click();

        Assert.Empty(Scheduler.List());
        page.WaitForAssertion(() => Assert.Contains("Epochs must be between 1", page.Find("[data-testid=finetune-section] .mud-input-error").TextContent + page.Find("[data-testid=finetune-section]").TextContent), UiTimeout);
    }
}
