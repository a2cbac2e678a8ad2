using System.CommandLine;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Reports;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>report --model FILE --dataset NAME [--plan FILE] [--calibration-method M] [--mode symmetric|asymmetric] [--teacher FILE[,FILE...]]
/// [--limit N] [--workspace DIR] --out report.html [--json]</c>: one self-contained HTML file with what the workspace knows
/// about the model (<see cref="CompressionReportBuilder"/>: sweeps and stored results read, the plan's measurement, the soft
/// targets and the calibration computed when asked), for a pull request.
/// </summary>
public sealed class ReportCommand : CliCommand
{
    private readonly Option<string> _model = PlanInputs.Model();
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets'): the report shows measurements on it", "NAME", required: true);
    private readonly Option<string?> _plan = new("--plan")
    {
        Description = "a pruning plan file for the model: measured (or read back) on the validation subset; default: the workspace's newest evaluated plan",
        HelpName = "FILE",
    };
    private readonly Option<string?> _method = new("--calibration-method")
    {
        Description = "calibrate with this method (max, avg, percentile:P, nstd:N, aciq-laplace, aciq-gauss, mse, entropy) and simulate INT8; default: show a stored profile only",
        HelpName = "M",
    };
    private readonly Option<string?> _mode = QuantInputs.Mode();
    private readonly Option<string?> _teacher = new("--teacher")
    {
        Description = "compare the model's soft targets with this teacher (several, comma-separated: an ensemble)",
        HelpName = "FILE[,FILE...]",
    };
    private readonly Option<int?> _limit = IntOption("--limit", $"validation images for the plan's measurement and the soft targets (default {AnalysisSubset.DefaultSize})");
    private readonly Option<string?> _workspace = QuantInputs.Workspace();
    private readonly Option<string> _out = TextOption("--out", "the HTML file to write", "FILE", required: true);
    private readonly Option<bool> _json = JsonOption();

    public ReportCommand() : base("report", "write a self-contained HTML report (sensitivity curves, plan, soft targets, histograms and numbers) for a pull request")
    {
        foreach (var option in new Option[] { _model, _dataset, _plan, _method, _mode, _teacher, _limit, _workspace, _out, _json }) Options.Add(option);
    }

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(ReportRequest.Model)] = "--model",
        [nameof(ReportRequest.Dataset)] = "--dataset",
        [nameof(ReportRequest.Plan)] = "--plan",
        [nameof(ReportRequest.CalibrationMethod)] = "--calibration-method",
        ["Method"] = "--calibration-method",
        [nameof(ReportRequest.Mode)] = "--mode",
        [nameof(ReportRequest.Teachers)] = "--teacher",
        [nameof(ReportRequest.SubsetSize)] = "--limit",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var modelPath = parse.GetRequiredValue(_model);
        var model = PlanInputs.ModelFile(modelPath);
        var planPath = parse.GetValue(_plan);
        var plan = planPath is null ? null : PlanInputs.ReadPlan(planPath, model).Plan;
        var teachers = CommandInputs.List(parse.GetValue(_teacher));
        var request = new ReportRequest(model.Source, parse.GetRequiredValue(_dataset), plan, planPath is null ? null : Path.GetFileName(planPath),
            parse.GetValue(_method), teachers?.Select(t => (ModelSource)new CheckpointFile(t)).ToArray(), QuantInputs.ParseMode(parse.GetValue(_mode)),
            parse.GetValue(_limit) ?? AnalysisSubset.DefaultSize);
        request.Validate();
        var output = WritableOutput.File("--out", parse.GetRequiredValue(_out), "--model", modelPath);
        using var database = CommandInputs.OpenWorkspace(parse.GetValue(_workspace), context);
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        CompressionReport report;
        try
        {
            report = new CompressionReportBuilder(DatasetSource.Catalog(context.Settings), database)
                .Build(request, new ConsoleProgress(context.Err, _ => []), context.CancellationToken);
        }
        catch (NonFiniteTensorException e)
        {
            throw new InputFileException("--model", e.Message, e);
        }
        try
        {
            ReportHtml.WriteFile(output, report);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFileException("--out", $"cannot write {output} ({CliApp.OneLine(e.Message)})", e);
        }

        var json = new ReportJson(output, report.Sections, [.. report.Gaps.Select(g => new ReportGapJson(g.Section, g.Message))]);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
            return CliApp.Success;
        }
        context.Out.WriteLine($"Report written to {output}");
        context.Out.WriteLine($"sections: {string.Join(", ", report.Sections)}");
        foreach (var gap in report.Gaps) context.Out.WriteLine($"missing {gap.Section}: {gap.Message}");
        return CliApp.Success;
    }
}

/// <summary>A section <c>report</c> had no data for, and how to get it.</summary>
internal sealed record ReportGapJson(string Section, string Message);

/// <summary><c>report --json</c>: the file written, the sections it has (report order), and the gaps.</summary>
internal sealed record ReportJson(string Out, IReadOnlyList<string> Sections, IReadOnlyList<ReportGapJson> Gaps);
