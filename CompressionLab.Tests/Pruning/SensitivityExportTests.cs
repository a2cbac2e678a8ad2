using System.Globalization;
using System.Text.Json;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

public class SensitivityExportTests
{
    private static SensitivityResult Sample() => new(
        "vgg-small",
        new SweepSettings { Criterion = PruningCriterion.Filter, Norm = FilterNorm.L2, Levels = [0, 0.05], Layers = ["stage1.conv1", "classifier.fc"], BatchSize = 32 },
        Samples: 2000,
        Baseline: new SweepMetrics(0.9125, 0.995, 0.25),
        Cells:
        [
            new SweepCell("stage1.conv1", 0, 0, 0.9125, 0.995, 0.25, 0),
            new SweepCell("stage1.conv1", 0.05, 0.0625, 0.905, 0.9945, 0.2625, 0.0075),
            new SweepCell("classifier.fc", 0, 0, 0.9125, 0.995, 0.25, 0),
            new SweepCell("classifier.fc", 0.05, 0.1, 0.81, 0.98, 1.5, 0.1025),
        ],
        Seconds: 12.5,
        CellsComputed: 2,
        CellsFromStore: 0);

    [Fact]
    public void CsvHasDistillersLayoutInInvariantCulture()
    {
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("de-DE"); // decimal comma: must not leak into the file
        try
        {
            var csv = SensitivityExport.ToDistillerCsv(Sample());
            // Percent, as Distiller writes it, without the float noise of ×100 (0.9945 × 100 is 99.45000000000002 in doubles).
            Assert.Equal(
                "parameter,sparsity,top1,top5,loss\n" +
                "stage1.conv1.weight,0,91.25,99.5,0.25\n" +
                "stage1.conv1.weight,0.05,90.5,99.45,0.2625\n" +
                "classifier.fc.weight,0,91.25,99.5,0.25\n" +
                "classifier.fc.weight,0.05,81,98,1.5\n",
                csv);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void JsonCarriesBaselineSettingsAndEveryCellAndReadsBack()
    {
        var json = SensitivityExport.ToJson(Sample());
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal(0.9125, root.GetProperty("baseline").GetProperty("top1").GetDouble());
        Assert.Equal("filter", root.GetProperty("settings").GetProperty("criterion").GetString());
        Assert.Equal("l2", root.GetProperty("settings").GetProperty("norm").GetString());
        Assert.Equal(2, root.GetProperty("settings").GetProperty("levels").GetArrayLength());
        Assert.Equal(4, root.GetProperty("cells").GetArrayLength());
        var cell = root.GetProperty("cells")[3];
        Assert.Equal("classifier.fc.weight", cell.GetProperty("parameter").GetString());
        Assert.Equal(0.1025, cell.GetProperty("top1Drop").GetDouble());
        Assert.Equal(0.1, cell.GetProperty("actualSparsity").GetDouble());

        var back = SensitivityExport.FromJson(json);
        Assert.Equal(Sample().Cells, back.Cells);
        Assert.Equal(Sample().Baseline, back.Baseline);
        Assert.Equal(PruningCriterion.Filter, back.Settings.Criterion);
        Assert.Equal(FilterNorm.L2, back.Settings.Norm);
        Assert.Equal(["stage1.conv1", "classifier.fc"], back.Settings.Layers!);
        Assert.Equal(SensitivityExport.ToJson(Sample()), SensitivityExport.ToJson(back));
    }

    [Fact]
    public void JsonSaysWhatItMeasuredAndInWhichUnits()
    {
        var source = new SweepSource("vgg-small · 10 epochs", "vgg-small", "3fa2b1c09e1d77", "fashion-mnist", "validation/stratified-2000/abc123", 2000);
        var leftOut = new LeftOutLayer("classifier.fc", SweepCandidates.OutputLayerReason);
        var json = SensitivityExport.ToJson(Sample() with { Source = source, LeftOut = [leftOut] });
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;

        var model = root.GetProperty("model");
        Assert.Equal(("vgg-small · 10 epochs", "vgg-small", "3fa2b1c09e1d77"),
            (model.GetProperty("name").GetString(), model.GetProperty("architecture").GetString(), model.GetProperty("weightsHash").GetString()));
        var data = root.GetProperty("data");
        Assert.Equal(("fashion-mnist", "validation", "validation/stratified-2000/abc123", 2000, AnalysisSubset.Seed),
            (data.GetProperty("dataset").GetString(), data.GetProperty("split").GetString(), data.GetProperty("subset").GetString(),
             data.GetProperty("subsetSize").GetInt32(), data.GetProperty("subsetSeed").GetInt32()));
        var units = root.GetProperty("units");
        Assert.Equal(("fraction", "fraction", "fraction (0.01 = one percentage point)"),
            (units.GetProperty("top1").GetString(), units.GetProperty("top5").GetString(), units.GetProperty("top1Drop").GetString()));
        var settings = root.GetProperty("settings");
        Assert.Equal("l2", settings.GetProperty("norm").GetString());
        var left = Assert.Single(settings.GetProperty("leftOut").EnumerateArray());
        Assert.Equal("classifier.fc", left.GetProperty("layer").GetString());

        var back = SensitivityExport.FromJson(json);
        Assert.Equal(source, back.Source);
        Assert.Equal([leftOut], back.LeftOut);
        Assert.Equal(json, SensitivityExport.ToJson(back));
    }

    [Fact]
    public void ElementSweepJsonHasNoNormAndAnUnknownSourceIsLeftOut()
    {
        var element = Sample() with { Settings = Sample().Settings with { Criterion = PruningCriterion.Element, Norm = FilterNorm.L1 } };
        using var document = JsonDocument.Parse(SensitivityExport.ToJson(element));
        var root = document.RootElement;
        Assert.Equal("element", root.GetProperty("settings").GetProperty("criterion").GetString());
        Assert.False(root.GetProperty("settings").TryGetProperty("norm", out _));
        Assert.False(root.GetProperty("settings").TryGetProperty("leftOut", out _));
        Assert.False(root.TryGetProperty("model", out _));
        Assert.Equal("fraction", root.GetProperty("units").GetProperty("top1").GetString()); // units are stated whatever else is known
        Assert.Null(SensitivityExport.FromJson(SensitivityExport.ToJson(element)).Source);
    }

    [Fact]
    public void CsvOfARealSweepHasOneRowPerCell()
    {
        using var network = PruningTestModels.HandMadeMlp();
        var result = SensitivitySweep.Run(network, PruningTestModels.HandMadeImages(), new SweepSettings { Levels = [0, 0.5, 0.875] });
        var lines = SensitivityExport.ToDistillerCsv(result).TrimEnd('\n').Split('\n');
        Assert.Equal(1 + (2 * 3), lines.Length);
        Assert.Equal("hidden.fc1.weight,0.875,50,100," + result.Cells[2].Loss.ToString("R", CultureInfo.InvariantCulture), lines[3]);
    }

    [Theory]
    [InlineData("""{"top1":"percent","top5":"percent","top1Drop":"percentage points","loss":"nats","sparsity":"fraction"}""")]
    [InlineData(null)] // documents from before the units field were in percent too
    public void ADocumentWrittenInPercentReadsBackInFractions(string? units)
    {
        var unitsField = units is null ? "" : "\"units\":" + units + ",";
        var json = $$"""
            {"architecture":"vgg-small","samples":2000,"seconds":1,"cellsComputed":1,"cellsFromStore":0,
             {{unitsField}}
             "settings":{"criterion":"element","levels":[0,0.5],"layers":["stage1.conv1"],"batchSize":64,"foldBatchNorm":true,"mode":"cached"},
             "baseline":{"top1":91.25,"top5":99.5,"loss":0.25},
             "cells":[{"layer":"stage1.conv1","parameter":"stage1.conv1.weight","sparsity":0.5,"actualSparsity":0.5,"top1":81,"top5":98,"loss":1.5,"top1Drop":10.25}]}
            """;

        var back = SensitivityExport.FromJson(json);

        Assert.Equal(new SweepMetrics(0.9125, 0.995, 0.25), back.Baseline);
        Assert.Equal(new SweepCell("stage1.conv1", 0.5, 0.5, 0.81, 0.98, 1.5, 0.1025), Assert.Single(back.Cells));
    }
}
