using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Quantization;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Quantization page's model without a renderer: a real temporary workspace for the models, a seeded profile
/// served as the workspace's cache, and the fake scheduler playing the worker.
/// </summary>
public sealed class QuantizationPageModelTests : IDisposable
{
    private readonly PageWorkspace workspace = new();
    private readonly FakeJobScheduler scheduler = new();
    private readonly FakeQuantizationBackend backend;
    private readonly ModelRecord model;
    private int waiting;

    public QuantizationPageModelTests()
    {
        backend = new FakeQuantizationBackend(scheduler);
        model = Import("vgg-tiny");
    }

    public void Dispose() => workspace.Dispose();

    private ModelRecord Import(string name)
    {
        var file = Path.Combine(workspace.Workspace.Root, $"{name}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return workspace.Store.Import(file, new ModelEntry(name, ModelZoo.VggTiny, SyntheticDataset.Name, 0.9, 1000));
    }

    private QuantizationPageModel Open() => new(scheduler, workspace.Store, backend, () => Interlocked.Increment(ref waiting));

    private void Seed(ModelRecord record, int images = QuantizationPageModel.DefaultSubsetSize) =>
        backend.Stored[(record.ContentHash, images)] = SeededCalibration.Profile(record.ContentHash, images);

    [Fact]
    public void AStoredProfileIsShownAtOnceWithTheFirstLayerSelectedAndEveryMethodsThresholdOnItsHistogram()
    {
        Seed(model);
        using var page = Open();

        Assert.Equal(model.Id, page.Model?.Id);
        Assert.Equal(512, page.SubsetSize);
        Assert.Equal([SeededCalibration.First, SeededCalibration.Hidden, SeededCalibration.Output], page.Rows.Select(r => r.Name));
        Assert.All(page.Rows, r => Assert.Equal(CalibrationPreview.DefaultMethod, r.Method));
        Assert.Equal(SeededCalibration.First, page.SelectedLayer);
        // Signed images: symmetric; after the ReLU: unsigned.
        Assert.Equal(QuantizationMode.Symmetric, page.Rows[0].Mode);
        Assert.Equal(QuantizationMode.Unsigned, page.Rows[1].Mode);

        var histogram = page.Histogram!;
        Assert.Equal(CalibrationPreview.Methods.Select(m => m.Name), histogram.Lines.Select(l => l.Method));
        Assert.Equal("mse", Assert.Single(histogram.Lines, l => l.Chosen).Method);
        Assert.Equal(page.Rows[0].Result!.Amax, Assert.Single(histogram.Lines, l => l.Chosen).At.Single());
        // The plot: the bars, then one trace (one legend entry) per method.
        Assert.Equal(1 + CalibrationPreview.Methods.Count, page.HistogramPlot!.Traces.Count);
        Assert.Equal(0, backend.Collects);
        Assert.Null(page.Collect()); // cached: no job, nothing to wait for
        Assert.Equal(0, backend.Collects);
    }

    [Fact]
    public void SwitchingALayersMethodChangesItsRowAndTheChosenLineButNoOtherLayer()
    {
        Seed(model);
        using var page = Open();
        page.SelectLayer(SeededCalibration.Hidden);
        var before = page.Rows[1].Result!;
        var other = page.Rows[0].Result!;
        var plot = page.HistogramPlot;

        page.SetMethod(SeededCalibration.Hidden, ClippingMethod.Parse("max"));

        var after = page.Rows[1].Result!;
        Assert.Equal("max", after.Method);
        // max keeps the outlier at 50; MSE cut (part of) the tail below it.
        Assert.Equal(50, after.Amax, 6);
        Assert.True(before.Amax < 50, $"mse amax {before.Amax}");
        Assert.Equal(0, after.ClippedFraction);
        Assert.Equal(other, page.Rows[0].Result);
        Assert.Equal("max", Assert.Single(page.Histogram!.Lines, l => l.Chosen).Method);
        Assert.NotSame(plot, page.HistogramPlot);
        Assert.Equal("max", Assert.Single(page.ErrorCurve!.Points, p => p.Chosen).Method);
    }

    [Fact]
    public void TheTableShowsTheSameThresholdsTheSimulationUsesForTheChoiceItHandsOver()
    {
        Seed(model);
        using var page = Open();
        page.SetAllMethods(ClippingMethod.Parse("percentile:99.99"));
        page.SetMethod(SeededCalibration.Hidden, ClippingMethod.Parse("mse"));
        page.SetKeepFloat(SeededCalibration.Output, true);

        var choice = page.Preview!.ToChoice();
        Assert.Equal("percentile:99.99", choice.Method.Name);
        Assert.Equal("mse", choice.MethodFor(SeededCalibration.Hidden).Name);
        Assert.True(choice.IsKeptFloat(SeededCalibration.Output));
        Assert.False(choice.QuantizeLogits);

        var thresholds = QuantizationThresholds.For(page.Profile!, choice);
        foreach (var row in page.Rows.Where(r => !r.KeepFloat))
        {
            Assert.Equal(thresholds.Layer(row.Name).Input, row.Result);
        }
        Assert.True(thresholds.Layer(SeededCalibration.Output).KeptFloat);
        Assert.True(page.Rows[2].KeepFloat);
    }

    [Fact]
    public async Task WithoutAStoredProfileCollectRunsAJobAndItsEndShowsTheProfile()
    {
        using var page = Open();
        Assert.Null(page.Preview);
        Assert.Empty(page.Rows);

        var job = page.Collect();
        Assert.NotNull(job);
        Assert.True(page.Collecting);
        Assert.Equal(1, backend.Collects);

        await scheduler.RunAsync(job!.Id);
        Assert.Null(page.Preview); // not before the updates are applied on the page's dispatcher
        Assert.True(waiting > 0);
        Assert.Null(page.ApplyUpdates());
        Assert.False(page.Collecting);
        Assert.Equal(3, page.Rows.Count);
        Assert.NotNull(page.Histogram);
    }

    [Fact]
    public void AnotherSubsetSizeOrAModelWithoutAProfileClearsWhatWasShown()
    {
        Seed(model);
        var other = Import("other");
        using var page = Open();
        page.SelectModel(model.Id);
        Assert.NotNull(page.Preview);

        page.SetSubsetSize(256);
        Assert.Null(page.Preview);
        Assert.Empty(page.Rows);
        Assert.Null(page.Histogram);

        page.SetSubsetSize(512);
        Assert.NotNull(page.Preview);
        page.SelectModel(other.Id);
        Assert.Null(page.Preview);

        page.SetSubsetSize(0);
        Assert.Contains("at least 1 image", page.Error, StringComparison.Ordinal);
        Assert.Equal(512, page.SubsetSize);
    }

    [Fact]
    public void ChannelsFarBelowTheLargestRangeStandOut()
    {
        Seed(model);
        using var page = Open();
        var first = page.Channels!;
        Assert.Equal([false, false, true, false], first.Crushed); // 0.02 of 0.7
        Assert.Equal(0.02 / 0.7, first.Share[2], 9);
        page.SelectLayer(SeededCalibration.Hidden);
        Assert.Equal(SeededCalibration.Hidden, page.Channels!.Layer);
        Assert.Equal(1, page.Channels.CrushedCount);
        Assert.True(page.Channels.Crushed[3]);
    }

    [Fact]
    public void AsymmetricModeDrawsBothEndsLeavesEntropyOutAndHasNoAmaxCurveForSignedInputs()
    {
        Seed(model);
        using var page = Open();
        page.SetMode(QuantizationMode.Asymmetric);
        Assert.NotNull(page.Rows[0].Result); // mse runs in either mode
        page.SetMethod(SeededCalibration.First, ClippingMethod.Parse("entropy"));
        var row = page.Rows[0];
        Assert.Equal(QuantizationMode.Asymmetric, row.Mode);
        // entropy cannot run on the signed input in asymmetric mode: the row says why, and no file can be written.
        Assert.Null(row.Result);
        Assert.Null(page.ThresholdsCsv());
        Assert.Contains("symmetric or unsigned", row.Unavailable, StringComparison.Ordinal);
        Assert.DoesNotContain(page.Histogram!.Lines, l => l.Method == "entropy");
        Assert.All(page.Histogram.Lines, l => Assert.Equal(2, l.At.Count));
        Assert.Null(page.ErrorCurve);
        // The ReLU'd layer is unsigned either way.
        Assert.Equal(QuantizationMode.Unsigned, page.Rows[1].Mode);
        Assert.NotNull(page.Rows[1].Result);
    }

    [Fact]
    public void TheLogToggleMovesTheLinesBottomOffZero()
    {
        Seed(model);
        using var page = Open();
        Assert.True(page.LogY);
        Assert.True(page.Histogram!.LineSpan.Bottom > 0);
        page.SetLogY(false);
        Assert.Equal(0, page.Histogram!.LineSpan.Bottom);
        Assert.True(page.Histogram.LineSpan.Top >= page.Histogram.Counts.Max());
    }

    [Fact]
    public async Task CompareHandsTheMixToTheJobAndShowsItsResultWhenItEnds()
    {
        Seed(model);
        using var page = Open();
        page.SetMethod(SeededCalibration.First, ClippingMethod.Parse("max"));
        var job = page.Compare();
        Assert.NotNull(job);
        Assert.True(page.Simulating);
        var mix = Assert.Single(backend.Compared);
        Assert.Equal("max", mix.MethodFor(SeededCalibration.First).Name);

        await scheduler.RunAsync(job!.Id);
        Assert.Null(page.ApplyUpdates());
        Assert.Equal(0.88, page.ComparisonResult!.Mix!.Top1);
        Assert.False(page.Simulating);

        var ranking = page.RankSensitivity();
        await scheduler.RunAsync(ranking!.Id);
        page.ApplyUpdates();
        Assert.Equal(SeededCalibration.Hidden, page.SensitivityResult!.Layers[0].Layer);
    }

    [Fact]
    public void CompareBeforeAProfileSaysWhatToDoFirst()
    {
        using var page = Open();
        Assert.Null(page.Compare());
        Assert.Contains("Collect", page.Error, StringComparison.Ordinal);
        Assert.Empty(backend.Compared);
    }

    [Fact]
    public void TheThresholdFilesListTheTableAndTheWeightsAndMarkFloatLayers()
    {
        Seed(model);
        using var page = Open();
        page.SetKeepFloat(SeededCalibration.Output, true);

        var lines = page.ThresholdsCsv()!.TrimEnd().Split('\n');
        Assert.Equal("layer,tensor,method,mode,min,max,amax,scale,zero_point,clipped_fraction,sqnr_db", lines[0]);
        var hidden = page.Rows[1].Result!;
        var input = lines.Single(l => l.StartsWith($"{SeededCalibration.Hidden},input,", StringComparison.Ordinal)).Split(',');
        Assert.Equal(["mse", "unsigned"], input[2..4]);
        Assert.Equal(hidden.Amax, double.Parse(input[6], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(hidden.ClippedFraction, double.Parse(input[9], System.Globalization.CultureInfo.InvariantCulture));
        // The weight row: the largest channel's amax (0.7 in conv1), on the symmetric grid.
        var weight = lines.Single(l => l.StartsWith($"{SeededCalibration.First},weight,", StringComparison.Ordinal)).Split(',');
        Assert.Equal(0.7, double.Parse(weight[6], System.Globalization.CultureInfo.InvariantCulture), 12);
        Assert.Equal($"{SeededCalibration.Output},input,float,,,,,,,,", lines.Single(l => l.StartsWith(SeededCalibration.Output, StringComparison.Ordinal)));

        using var json = System.Text.Json.JsonDocument.Parse(page.ThresholdsJson()!);
        Assert.Equal(page.Preview!.ToChoice().Key, json.RootElement.GetProperty("choice").GetString());
        var layers = json.RootElement.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(5, layers.Count); // two quantized layers (input, weight), one in float
        Assert.Equal(4, layers[1].GetProperty("channels").GetArrayLength());
        Assert.Equal("int8-thresholds-vgg-tiny-512", page.ThresholdsFileName);
    }
}
