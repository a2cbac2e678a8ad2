using System.Text.Json;
using AngleSharp.Html.Parser;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;
using static CompressionLab.Tests.Cli.InProcessCli;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Cli;

/// <summary><c>report</c> in-process on a random lenet-5 and a few dozen Fashion-MNIST validation images.</summary>
[Collection(SerialCollection.Name)]
public sealed class ReportCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-report-cli-").FullName;
    private readonly string _model;
    private readonly string _workspace;

    public ReportCliTests()
    {
        manual_seed(11);
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        _model = Path.Combine(_folder, "lenet5.ckpt");
        _workspace = Path.Combine(_folder, "workspace");
        Checkpoint.Save(network, _model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private (int Code, string Out, string Err) Report(string output, params string[] extra) =>
        Run(["report", "--model", _model, "--dataset", "fashion-mnist", "--workspace", _workspace, "--out", output, "--json", .. extra]);

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];

    [Fact]
    public void AnEmptyWorkspaceGivesTheModelAndEveryGapThenASweepAndACalibrationFillTheirSections()
    {
        var empty = Path.Combine(_folder, "empty.html");
        var first = Report(empty);
        Assert.True(first.Code == CliApp.Success, first.Err);
        var json = LastJsonLine(first.Out);
        Assert.Equal(Path.GetFullPath(empty), json.GetProperty("out").GetString());
        Assert.Equal(["model"], Strings(json.GetProperty("sections")));
        Assert.Equal(["sensitivity", "plan", "soft-targets", "calibration"],
            json.GetProperty("gaps").EnumerateArray().Select(g => g.GetProperty("section").GetString()!));
        Assert.Contains("No calibration yet", File.ReadAllText(empty));

        var sweep = Run("sweep", "--model", _model, "--dataset", "fashion-mnist", "--criterion", "element", "--levels", "0,0.5,0.9",
            "--layers", "classifier.fc1", "--limit", "40", "--workspace", _workspace);
        Assert.True(sweep.Code == CliApp.Success, sweep.Err);

        var planFile = Path.Combine(_folder, "plan.json");
        var evaluate = Run("plan", "evaluate", "--model", _model, "--dataset", "fashion-mnist", "--rates", "stage1=0.5", "--limit", "40",
            "--workspace", _workspace, "--out", planFile, "--json");
        Assert.True(evaluate.Code == CliApp.Success, evaluate.Err);
        var measured = Core.Reports.ReportHtml.Percent(LastJsonLine(evaluate.Out).GetProperty("top1").GetDouble());

        var full = Path.Combine(_folder, "full.html");
        var second = Report(full, "--calibration-method", "max", "--teacher", _model, "--limit", "40");
        Assert.True(second.Code == CliApp.Success, second.Err);
        json = LastJsonLine(second.Out);
        Assert.Equal(["model", "sensitivity", "plan", "soft-targets", "calibration"], Strings(json.GetProperty("sections")));
        Assert.Empty(json.GetProperty("gaps").EnumerateArray());

        var document = new HtmlParser(new HtmlParserOptions { IsStrictMode = true }).ParseDocument(File.ReadAllText(full));
        var curve = Assert.Single(document.QuerySelectorAll("#sensitivity svg.chart")[0].QuerySelectorAll("g.series"));
        Assert.Equal("classifier.fc1", curve.GetAttribute("data-series"));
        Assert.Equal(3, curve.QuerySelector("polyline")!.GetAttribute("points")!.Split(' ').Length);
        // lenet-5 has five conv and linear layers: one input histogram each.
        Assert.Equal(5, document.QuerySelectorAll("#calibration svg.chart").Length);
        // The model as its own teacher: the same soft targets, so top-1 agreement is complete.
        Assert.Contains("100.00 %", document.QuerySelector("#soft-targets p")!.TextContent);
        // Without --plan: the plan evaluated in the workspace, with its measurement.
        Assert.Contains("newest evaluated plan", document.QuerySelector("#plan p")!.TextContent);
        Assert.Contains(measured, document.QuerySelector("#plan table")!.TextContent);

        // With --plan: the same plan, its measurement read back from the workspace.
        var given = Path.Combine(_folder, "given.html");
        var third = Report(given, "--plan", planFile, "--limit", "40");
        Assert.True(third.Code == CliApp.Success, third.Err);
        document = new HtmlParser(new HtmlParserOptions { IsStrictMode = true }).ParseDocument(File.ReadAllText(given));
        Assert.Contains("plan.json", document.QuerySelector("#plan p")!.TextContent);
        Assert.Contains(measured, document.QuerySelector("#plan table")!.TextContent);
        Assert.Contains("50 %", document.QuerySelector("#plan details")!.TextContent);
    }

    [Fact]
    public void ABadMethodOrPlanNamesItsOptionAndWritesNothing()
    {
        var output = Path.Combine(_folder, "bad.html");
        var method = Report(output, "--calibration-method", "median");
        Assert.Equal(CliApp.BadArguments, method.Code);
        Assert.Contains("--calibration-method", method.Err);

        var plan = Path.Combine(_folder, "plan.json");
        File.WriteAllText(plan, "{\"format\": \"something else\"}");
        var planRun = Report(output, "--plan", plan);
        Assert.NotEqual(CliApp.Success, planRun.Code);
        Assert.Contains("--plan", planRun.Err);
        Assert.False(File.Exists(output));
    }
}
