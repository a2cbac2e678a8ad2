using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>eval --model FILE --dataset NAME [--split test|val] [--limit N] [--json]</c>: the dashboard's evaluation job
/// (<see cref="EvaluationJob.Run"/>) on a checkpoint file. With <c>--limit N</c> it measures the stratified subset every
/// analysis means by N images (<see cref="EvaluationJob.Subset"/>): <c>--split val --limit N</c> is a sweep's <c>--limit N</c>.
/// </summary>
public sealed class EvalCommand : CliCommand
{
    private readonly Option<string> _model = TextOption("--model", "checkpoint file", "FILE", required: true);
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets')", "NAME", required: true);
    private readonly Option<string?> _split = new("--split") { Description = "test (default) or val (the validation hold-out of the train part)", HelpName = "test|val" };
    private readonly Option<int?> _limit = IntOption("--limit", "evaluate a class-stratified subset of N images (for val: the images of a sweep's --limit N)");
    private readonly Option<bool> _json = JsonOption();

    public EvalCommand() : base("eval", "evaluate a checkpoint (top-1, top-5, loss; seconds = evaluation time)")
    {
        _split.AcceptOnlyFromAmong("test", "val");
        foreach (var option in new Option[] { _model, _dataset, _split, _limit, _json }) Options.Add(option);
    }

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(EvaluationRequest.Model)] = "--model",
        [nameof(EvaluationRequest.Dataset)] = "--dataset",
        [nameof(EvaluationRequest.Split)] = "--split",
        [nameof(EvaluationRequest.Limit)] = "--limit",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var split = parse.GetValue(_split) == "val" ? SplitPart.Validation : SplitPart.Test;
        var request = new EvaluationRequest(new CheckpointFile(parse.GetRequiredValue(_model)), parse.GetRequiredValue(_dataset), split,
            parse.GetValue(_limit));
        request.Validate();
        CommandInputs.LoadDataset(context, request.Dataset!);

        TorchRuntime.Configure();
        // No workspace: the file is measured where it is, and no recorded accuracy changes.
        var report = EvaluationJob.Run(request, DatasetSource.Catalog(context.Settings), store: null, new ConsoleProgress(context.Err, Describe),
            context.CancellationToken);

        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new EvalJson(CliJson.Round(report.Top1), CliJson.Round(report.Top5), CliJson.Round(report.Loss), report.Samples,
                CliJson.Round(report.Seconds, 3), report.Architecture, report.Dataset, split == SplitPart.Test ? "test" : "val"));
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{report.Architecture} on {report.Dataset} ({(split == SplitPart.Test ? "test" : "val")}): top-1 {report.Top1:P2}, top-5 {report.Top5:P2}, loss {report.Loss:F4}, {report.Samples} images in {report.Seconds:F2} s"));
        }
        return CliApp.Success;
    }

    /// <summary>The plan when the evaluation starts: after it, progress reports reach stderr too (<see cref="ConsoleProgress"/>).</summary>
    private static IEnumerable<string> Describe(JobPartial partial)
    {
        if (partial is EvaluationStarted started)
        {
            yield return string.Create(CultureInfo.InvariantCulture,
                $"evaluating {started.ModelName} ({started.Architecture}) on {started.Images:N0} {(started.Split == SplitPart.Test ? "test" : "validation")} images of {started.Dataset}; {ThreadsAndRuntimeSettings}");
        }
    }
}

/// <summary><c>eval --json</c>; <see cref="Seconds"/> is the evaluation itself.</summary>
internal sealed record EvalJson(double Top1, double Top5, double Loss, int Samples, double Seconds, string Architecture, string Dataset, string Split);
