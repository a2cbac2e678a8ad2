using CompressionLab.Core.Data;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli.Commands;

/// <summary><c>eval --model FILE --dataset NAME [--split test|val] [--limit N] [--json]</c>: measures a checkpoint.</summary>
public sealed class EvalCommand : ICliCommand
{
    public string Name => "eval";
    public string Summary => "evaluate a checkpoint (top-1, top-5, loss; seconds = evaluation time)";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("model", "checkpoint file", Required: true, ValueName: "FILE"),
        new("dataset", "dataset name (see 'datasets')", Required: true, ValueName: "NAME"),
        new("split", "test (default) or val (the validation hold-out of the train part)", ValueName: "test|val"),
        new("limit", "evaluate N images of the split, the class-stratified subset a sweep of N images uses", ValueName: "N"),
        new("json", "print one JSON object as the last line", IsFlag: true),
    ];

    public int Run(ParsedOptions options, CliContext context)
    {
        var split = options.Choice("split", "test", "val") ?? "test";
        var limit = options.Int("limit", 1, int.MaxValue);
        var path = SweepInputs.ModelPath(options);
        var dataset = DatasetSource.Load(context, options.RequiredString("dataset"));
        var images = Subset(dataset, split == "val" ? SplitPart.Validation : SplitPart.Test, limit).Images;

        TorchRuntime.Configure();
        using var checkpoint = SweepInputs.LoadCheckpoint(path, images);
        var result = Evaluator.Evaluate(checkpoint.Model, images, cancellationToken: context.CancellationToken);

        if (options.Flag("json"))
        {
            CliJson.WriteLine(context.Out, new Dictionary<string, object>
            {
                ["top1"] = CliJson.Round(result.Top1),
                ["top5"] = CliJson.Round(result.Top5),
                ["loss"] = CliJson.Round(result.Loss),
                ["samples"] = result.Samples,
                ["seconds"] = CliJson.Round(result.Seconds, 3),
            });
        }
        else
        {
            context.Out.WriteLine($"{checkpoint.Metadata.Architecture} on {images.Name}: top-1 {result.Top1:P2}, top-5 {result.Top5:P2}, loss {result.Loss:F4}, {result.Samples} images in {result.Seconds:F2} s");
        }
        return CliApp.Success;
    }

    private static AnalysisSubset Subset(Dataset dataset, SplitPart part, int? limit)
    {
        try
        {
            return AnalysisSubset.Of(dataset, part, limit);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new UsageException("--limit", e.Message.Split(" (Parameter", 2)[0]);
        }
    }
}
