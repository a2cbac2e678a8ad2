using System.CommandLine;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// The options that describe a sweep, shared by <c>sweep</c> and <c>bench sweep</c>, and the <see cref="SweepRequest"/>
/// they make: both commands check a sweep the same way, by the request's own <see cref="SweepRequest.Validate"/>.
/// </summary>
internal sealed class SweepOptions
{
    private readonly Option<string> _model;
    private readonly Option<string> _dataset = new("--dataset") { Description = "dataset name (fashion-mnist or synthetic)", HelpName = "NAME", Required = true };
    private readonly Option<string?> _criterion;
    private readonly Option<string?> _norm = new("--norm") { Description = "filter ranking norm, l1 (default) or l2", HelpName = "l1|l2" };
    private readonly Option<string?> _levels = new("--levels") { Description = "sparsity levels in [0, 1), comma-separated (default 0,0.05,...,0.95)", HelpName = "LIST" };
    private readonly Option<string?> _layers = new("--layers") { Description = "layer names, comma-separated (default: every conv and linear layer)", HelpName = "LIST" };
    private readonly Option<int?> _limit;
    private readonly Option<int?> _batch;
    private readonly string? _defaultCriterion;

    /// <param name="defaultCriterion">Null: <c>--criterion</c> is required.</param>
    public SweepOptions(string modelHelp, string limitHelp, string batchHelp, string? defaultCriterion)
    {
        _defaultCriterion = defaultCriterion;
        _model = new("--model") { Description = modelHelp, HelpName = "FILE", Required = true };
        _criterion = new("--criterion")
        {
            Description = defaultCriterion is null
                ? "element (single weights by |w|) or filter (whole filters/neurons by norm)"
                : $"element or filter (default {defaultCriterion})",
            HelpName = "element|filter",
            Required = defaultCriterion is null,
        };
        _criterion.AcceptOnlyFromAmong("element", "filter");
        _norm.AcceptOnlyFromAmong("l1", "l2");
        _limit = CliCommand.IntOption("--limit", limitHelp);
        _batch = CliCommand.IntOption("--batch", batchHelp);
    }

    public IEnumerable<Option> All => [_model, _dataset, _criterion, _norm, _levels, _layers, _limit, _batch];

    /// <summary>The option each request setting comes from.</summary>
    public static IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(SweepRequest.Model)] = "--model",
        [nameof(SweepRequest.Dataset)] = "--dataset",
        [nameof(SweepRequest.Criterion)] = "--criterion",
        [nameof(SweepRequest.Norm)] = "--norm",
        [nameof(SweepRequest.Levels)] = "--levels",
        [nameof(SweepRequest.Layers)] = "--layers",
        [nameof(SweepRequest.SubsetSize)] = "--limit",
        [nameof(SweepRequest.BatchSize)] = "--batch",
    };

    /// <summary>The sweep the options ask for, validated (a model file that is not there is the request's <c>Model</c> at fault).</summary>
    public SweepRequest Request(ParseResult parse)
    {
        var criterion = parse.GetValue(_criterion) ?? _defaultCriterion!;
        var norm = parse.GetValue(_norm);
        var request = new SweepRequest(
            new CheckpointFile(parse.GetRequiredValue(_model)),
            parse.GetRequiredValue(_dataset),
            PruningCriterionText.ParseCriterion(criterion),
            norm is null ? null : PruningCriterionText.ParseNorm(norm),
            CommandInputs.Levels(parse.GetValue(_levels)),
            parse.GetValue(_limit) ?? AnalysisSubset.DefaultSize,
            CommandInputs.List(parse.GetValue(_layers)),
            parse.GetValue(_batch) ?? SweepRequest.DefaultBatchSize);
        request.Validate();
        return request;
    }
}
