using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>kd compare --teacher FILE[,FILE...] --student FILE --dataset NAME [--temperatures 1,2,4,8] [--limit N] [--json]</c>: the
/// dashboard's soft-target comparison (<see cref="SoftTargetJob.Run"/>) on checkpoint files. Several teachers are an
/// ensemble: their soft targets are averaged at each T.
/// </summary>
public sealed class KdCompareCommand : CliCommand
{
    private readonly Option<string> _teacher = TextOption("--teacher", "teacher checkpoint; several, comma-separated, are an ensemble (soft targets averaged)", "FILE[,FILE...]", required: true);
    private readonly Option<string> _student = TextOption("--student", "student checkpoint", "FILE", required: true);
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets')", "NAME", required: true);
    private readonly Option<string?> _temperatures = new("--temperatures") { Description = "the T grid (default 1,2,3,4,6,8,12,16,20)", HelpName = "LIST" };
    private readonly Option<int?> _limit = IntOption("--limit", "validation images (class-stratified subset; default 2000)");
    private readonly Option<bool> _json = JsonOption();

    public KdCompareCommand() : base("compare", "teacher against student soft targets across temperature T: entropies, KL (with and without T²), agreement, per class")
    {
        foreach (var option in new Option[] { _teacher, _student, _dataset, _temperatures, _limit, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Kd;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(SoftTargetRequest.Teachers)] = "--teacher",
        [nameof(SoftTargetRequest.Student)] = "--student",
        [nameof(SoftTargetRequest.Dataset)] = "--dataset",
        [nameof(SoftTargetRequest.Temperatures)] = "--temperatures",
        [nameof(SoftTargetRequest.SubsetSize)] = "--limit",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var teachers = CommandInputs.List(parse.GetRequiredValue(_teacher)) ?? [];
        var temperatures = parse.GetValue(_temperatures) is { } text ? SoftTargetRequest.ParseTemperatures(text) : null;
        var request = new SoftTargetRequest([.. teachers.Select(path => (ModelSource)new CheckpointFile(path))],
            new CheckpointFile(parse.GetRequiredValue(_student)), parse.GetRequiredValue(_dataset), temperatures,
            parse.GetValue(_limit) ?? AnalysisSubset.DefaultSize);
        request.Validate();
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        var report = SoftTargetJob.Run(request, DatasetSource.Catalog(context.Settings), store: null, cache: null,
            new ConsoleProgress(context.Err, _ => []), context.CancellationToken);

        var json = KdCompareJson.Of(report);
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, json);
            return CliApp.Success;
        }
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{string.Join(" + ", report.Teachers.Select(t => t.Model))} → {report.Student.Model} on {report.Student.Rows:N0} validation images of {report.Dataset}; top-1 agreement {json.Agreement:P2}"));
        context.Out.WriteLine($"{"T",6} {"H(teacher)",11} {"H(student)",11} {"KL",9} {"T²·KL",9}");
        for (var i = 0; i < json.Temperatures.Count; i++)
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{json.Temperatures[i],6:0.###} {json.TeacherEntropy[i],11:F4} {json.StudentEntropy[i],11:F4} {json.Kl[i],9:F5} {json.KlT2[i],9:F4}"));
        }
        return CliApp.Success;
    }
}

/// <summary><c>kd compare --json</c>: per-T lists in the order of <see cref="Temperatures"/>; entropies and KL in nats.</summary>
internal sealed record KdCompareJson(
    IReadOnlyList<double> Temperatures,
    IReadOnlyList<double> Kl,
    IReadOnlyList<double> KlT2,
    IReadOnlyList<double> TeacherEntropy,
    IReadOnlyList<double> StudentEntropy,
    double Agreement,
    IReadOnlyList<double> AgreementByT,
    IReadOnlyList<KdClassJson> PerClass,
    int Images,
    double Seconds)
{
    public static KdCompareJson Of(SoftTargetReport report)
    {
        var points = report.Points;
        var classes = report.Comparison.Classes;
        return new KdCompareJson(
            [.. points.Select(p => p.Temperature)],
            [.. points.Select(p => CliJson.Round(p.Kl))],
            [.. points.Select(p => CliJson.Round(p.KlT2))],
            [.. points.Select(p => CliJson.Round(p.TeacherEntropy))],
            [.. points.Select(p => CliJson.Round(p.StudentEntropy))],
            CliJson.Round(report.Comparison.Agreement),
            [.. points.Select(p => CliJson.Round(p.Agreement))],
            [.. Enumerable.Range(0, classes).Select(c => new KdClassJson(c, c < report.ClassNames.Count ? report.ClassNames[c] : c.ToString(CultureInfo.InvariantCulture),
                points[0].PerClass[c].Images,
                [.. points.Select(p => NullIfNaN(p.PerClass[c].Kl))],
                [.. points.Select(p => NullIfNaN(p.PerClass[c].Agreement))]))],
            report.Student.Rows,
            CliJson.Round(report.Seconds, 3));
    }

    private static double? NullIfNaN(double value) => double.IsNaN(value) ? null : CliJson.Round(value);
}

/// <summary>One true class: its images, and per T its mean KL and its teacher/student top-1 agreement (null: no images).</summary>
internal sealed record KdClassJson(int Class, string Name, int Images, IReadOnlyList<double?> Kl, IReadOnlyList<double?> Agreement);
