using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Pages.Quantization;
using Microsoft.Extensions.DependencyInjection;
using Plotly.Blazor.Traces;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Quantization page rendered over a temporary workspace, a seeded calibration profile served as the workspace's
/// cache, and the fake scheduler playing the worker for the jobs it starts.
/// </summary>
public sealed class QuantizationPageTests : DashboardTestContext
{
    private readonly PageWorkspace services;
    private readonly FakeQuantizationBackend backend;

    public QuantizationPageTests()
        : this(new PageWorkspace())
    {
    }

    private QuantizationPageTests(PageWorkspace services)
        : base(collection =>
        {
            services.AddStores(collection);
            collection.AddSingleton<QuantizationBackend>(sp => new FakeQuantizationBackend((FakeJobScheduler)sp.GetRequiredService<CompressionLab.Core.Jobs.IJobScheduler>()));
        })
    {
        this.services = services;
        backend = (FakeQuantizationBackend)Services.GetRequiredService<QuantizationBackend>();
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            services.Dispose();
        }
    }

    private ModelRecord AddModel(string name, bool withProfile)
    {
        var file = Path.Combine(services.Workspace.Root, $"{Guid.NewGuid():N}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        var model = services.Store.Import(file, new ModelEntry(name, ModelZoo.VggTiny, SyntheticDataset.Name, 0.9, 1000));
        if (withProfile)
        {
            backend.Stored[(model.ContentHash, QuantizationPageModel.DefaultSubsetSize)] = SeededCalibration.Profile(model.ContentHash);
        }
        return model;
    }

    private static IReadOnlyList<Scatter> Lines(FigureChart chart) => [.. chart.Traces.OfType<Scatter>()];

    [Fact]
    public void WithASeededProfileThePageShowsTheTableTheLogitsNoteAndEveryMethodsLineOnTheFirstLayersHistogram()
    {
        AddModel("vgg tiny", withProfile: true);
        var page = Render<QuantizationPage>();

        Assert.Equal("Quantization", page.Find("h1").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=planned-area]"));
        Assert.Equal(3, page.FindAll("[data-testid=calibration-row]").Count);
        Assert.Contains("512", page.Find("[data-testid=profile-status]").TextContent);
        Assert.Contains("uint8", page.Find("[data-layer='features.conv2'] [data-testid=row-grid]").TextContent);
        Assert.Contains("stay float by default", page.Find("[data-testid=logits-note]").TextContent);
        Assert.Contains(SeededCalibration.Output, page.Find("[data-testid=logits-note]").TextContent);

        Assert.Equal(SeededCalibration.First, page.Find("[data-testid=layer-panel]").GetAttribute("data-layer"));
        var histogram = page.FindComponents<FigureChart>().Single(c => c.Instance.TestId == "histogram-chart").Instance;
        var lines = Lines(histogram);
        Assert.Equal(CalibrationPreview.Methods.Count, lines.Count);
        Assert.Equal("mse (chosen)", Assert.Single(lines, l => l.Name!.EndsWith("(chosen)", StringComparison.Ordinal)).Name);
        Assert.Single(histogram.Traces.OfType<Bar>());
        Assert.Contains("1 of 4 channels", page.Find("[data-testid=channel-note]").TextContent);
        Assert.Equal(0, backend.Collects);
    }

    [Fact]
    public void SwitchingALayersMethodChangesItsThresholdInTheTableAndTheChosenLineOfItsHistogram()
    {
        AddModel("vgg tiny", withProfile: true);
        var page = Render<QuantizationPage>();
        page.Find("[data-layer='features.conv2']").Click();
        Assert.Equal(SeededCalibration.Hidden, page.Find("[data-testid=layer-panel]").GetAttribute("data-layer"));
        var cell = page.Find("[data-layer='features.conv2'] [data-testid=row-threshold]").TextContent.Trim();
        var other = page.Find("[data-layer='features.conv1'] [data-testid=row-threshold]").TextContent.Trim();

        var table = page.FindComponent<CalibrationTable>();
        page.InvokeAsync(() => table.Instance.MethodChanged.InvokeAsync((SeededCalibration.Hidden, ClippingMethod.Parse("max"))));

        page.WaitForAssertion(() => Assert.Equal("50", page.Find("[data-layer='features.conv2'] [data-testid=row-threshold]").TextContent.Trim()), UiTimeout);
        Assert.NotEqual("50", cell);
        Assert.Equal(other, page.Find("[data-layer='features.conv1'] [data-testid=row-threshold]").TextContent.Trim());
        Assert.Equal("0 %", page.Find("[data-layer='features.conv2'] [data-testid=row-clipped]").TextContent.Trim());
        var histogram = page.FindComponents<FigureChart>().Single(c => c.Instance.TestId == "histogram-chart").Instance;
        var chosen = Assert.Single(Lines(histogram), l => l.Name!.EndsWith("(chosen)", StringComparison.Ordinal));
        Assert.Equal("max (chosen)", chosen.Name);
        Assert.Equal(50.0, (double)chosen.X![0]!, 6);
        Assert.Contains("Chosen: max", page.Find("[data-testid=chosen-threshold]").TextContent);
    }

    [Fact]
    public void KeepingALayerInFloatReplacesItsNumbersAndCollectIsInstantWhenCached()
    {
        AddModel("vgg tiny", withProfile: true);
        var page = Render<QuantizationPage>();
        var table = page.FindComponent<CalibrationTable>();
        page.InvokeAsync(() => table.Instance.KeepFloatChanged.InvokeAsync((SeededCalibration.Output, true)));
        page.WaitForAssertion(() => Assert.Contains("float", page.Find("[data-layer='classifier.fc'] [data-testid=row-float]").TextContent), UiTimeout);

        page.Find("button[data-testid=collect]").Click();
        Assert.Equal(0, backend.Collects);
        Assert.Empty(Scheduler.List());
    }

    [Fact]
    public async Task WithoutAProfileCollectRunsAJobThenTheSimulationTableShowsFloatEachMethodAndTheMix()
    {
        AddModel("vgg tiny", withProfile: false);
        var page = Render<QuantizationPage>();
        Assert.Empty(page.FindAll("[data-testid=calibration-table]"));
        Assert.Contains("Nothing is stored", page.Find("[data-testid=profile-status]").TextContent);

        page.Find("button[data-testid=collect]").Click();
        var job = Assert.Single(Scheduler.List());
        Assert.Equal(FakeQuantizationBackend.Collect, job.Kind);
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=collect-progress]")), UiTimeout);
        await Scheduler.RunAsync(job.Id);
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=calibration-row]").Count), UiTimeout);

        await page.Find("button[data-testid=compare]").ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs());
        var compare = Assert.Single(Scheduler.List(), j => j.Kind == FakeQuantizationBackend.Compare);
        await Scheduler.RunAsync(compare.Id);
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=comparison-row]").Count), UiTimeout);
        Assert.Equal("88.00 %", page.Find("[data-label='chosen mix'] [data-testid=comparison-top1]").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=comparison-stale]"));
    }
}
