using System.CommandLine;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Cli.Commands;

/// <summary>The model a plan command works on, read from its checkpoint's header: what plans are checked against before any job runs.</summary>
/// <param name="Layers">The architecture's layer table (names, stages and shapes for the checkpoint's classes and image size).</param>
internal sealed record PlanModelFile(CheckpointFile Source, CheckpointMetadata Metadata, IReadOnlyList<LayerInfo> Layers)
{
    public PlanModel PlanModel => new(Metadata.Architecture, Metadata.ContentHash, Path.GetFileNameWithoutExtension(Source.Path));
}

/// <summary>What <c>plan evaluate</c> and <c>plan allocate</c> share: options, the model file, and the plan the options describe.</summary>
internal static class PlanInputs
{
    public static Option<string> Model() => new("--model") { Description = "checkpoint file", HelpName = "FILE", Required = true };

    public static Option<string> Dataset() => new("--dataset") { Description = "dataset name (see 'datasets'); the plan is measured on its validation hold-out", HelpName = "NAME", Required = true };

    public static Option<string?> Criterion(string description)
    {
        var option = new Option<string?>("--criterion") { Description = description, HelpName = "element|filter" };
        option.AcceptOnlyFromAmong("element", "filter");
        return option;
    }

    public static Option<string?> Norm()
    {
        var option = new Option<string?>("--norm") { Description = "filter ranking norm for --criterion filter, l1 (default) or l2", HelpName = "l1|l2" };
        option.AcceptOnlyFromAmong("l1", "l2");
        return option;
    }

    public static Option<int?> Limit() => CliCommand.RangedIntOption("--limit",
        $"validation images, the stratified subset a sweep's --limit N measures (default {AnalysisSubset.DefaultSize})", 1, int.MaxValue);

    public static Option<string?> Workspace() => new("--workspace")
    {
        Description = "workspace folder: its sweep cells give the prediction, and evaluated plans are kept there (default: the dashboard's, Workspace:Folder of the settings)",
        HelpName = "DIR",
    };

    /// <summary>The checkpoint's header and its architecture's layer table; a missing or corrupt file names <c>--model</c>.</summary>
    public static PlanModelFile ModelFile(string path)
    {
        var source = new CheckpointFile(path);
        source.Validate(); // a missing file is the request's Model, which the commands map to --model
        try
        {
            var metadata = Checkpoint.ReadMetadata(source.Path);
            using var network = ModelZoo.Create(metadata.Architecture, metadata.ClassNames.Count, metadata.InputHeight, metadata.InputWidth, metadata.Widths);
            return new PlanModelFile(source, metadata, network.Layers);
        }
        catch (CheckpointException e)
        {
            throw new InputFileException("--model", CliApp.OneLine(e.Message), e);
        }
    }

    /// <summary>The method <c>--criterion</c> and <c>--norm</c> give, or null when neither is given.</summary>
    public static PruningMethod? Method(string? criterion, string? norm)
    {
        if (norm is not null && criterion != "filter")
            throw new UsageException("--norm", "only applies to --criterion filter (element pruning ranks single weights by |w|)");
        if (criterion is null) return null;
        return new PruningMethod(PruningCriterionText.ParseCriterion(criterion), norm is null ? FilterNorm.L1 : PruningCriterionText.ParseNorm(norm));
    }

    /// <summary>A plan file for this model; a file that cannot be used (or is for another model) names <c>--plan</c>.</summary>
    public static PlanDocument ReadPlan(string path, PlanModelFile model)
    {
        try
        {
            return PlanFile.ReadFor(path, model.Metadata.Architecture, model.Metadata.ContentHash, model.Layers);
        }
        catch (PlanFileException e)
        {
            throw new InputFileException("--plan", CliApp.OneLine(e.Message), e);
        }
    }

    /// <summary><c>--rates</c> applied to <paramref name="plan"/>; a bad item names <c>--rates</c>.</summary>
    public static PruningPlan ApplyRates(PruningPlan plan, PlanModelFile model, string rates)
    {
        try
        {
            return PlanRates.ApplyTo(plan, model.Layers, PlanRates.Parse(rates));
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--rates", InvalidRequestException.For("Rates", e).Message);
        }
    }

    /// <summary>Every stage pruned by <paramref name="method"/> (overrides keep theirs).</summary>
    public static PruningPlan WithMethod(PruningPlan plan, PruningMethod method) =>
        plan.Stages.Aggregate(plan, (p, stage) => p.WithStageMethod(stage.Name, method));

    /// <summary>Writes a plan file (proven writable first by the caller); the file's problems name <paramref name="option"/>.</summary>
    public static void WritePlan(string option, string path, PlanModelFile model, PruningPlan plan)
    {
        try
        {
            PlanFile.Write(path, new PlanDocument(model.PlanModel, plan), model.Layers);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFileException(option, $"cannot write {path} ({CliApp.OneLine(e.Message)})", e);
        }
    }
}

/// <summary>One layer of a plan in the commands' JSON.</summary>
/// <param name="Sparsity">The level set for the layer (what <c>--rates</c> takes): a fraction of its weights, or of its filters for filter methods.</param>
/// <param name="WeightSparsity">Fraction of the layer's weights gone (zeroed, or removed with a channel before it).</param>
/// <param name="PredictedDrop">Top-1 drop read off the layer's curve; null when the layer is pruned without a curve for its method.</param>
internal sealed record PlanLayerJson(string Name, double Sparsity, string Method, string Stage, bool Excluded, double WeightSparsity, double? PredictedDrop);

/// <summary>Bytes to store the parameters four ways (<see cref="PlanSize"/> says what each counts).</summary>
internal sealed record SizeBytesJson(long Dense, long Csr, long DenseInt8, long CsrInt8)
{
    public static SizeBytesJson From(ModelBytes bytes) => new(bytes.DenseFloat32, bytes.CsrFloat32, bytes.DenseInt8, bytes.CsrInt8);
}

/// <summary>The dense model's counts, beside a plan's.</summary>
internal sealed record DenseJson(long Params, long Macs, SizeBytesJson SizeBytes)
{
    public static DenseJson From(PlanSize size) => new(size.Network.Parameters, size.Network.MacsPerSample, SizeBytesJson.From(size.Bytes));
}

internal static class PlanJson
{
    public static PlanLayerJson[] Layers(ResolvedPlan plan, PlanSize size, PlanPrediction? prediction) =>
    [
        .. plan.Layers.Select(layer => new PlanLayerJson(layer.Layer, layer.Level, layer.Method.Key, layer.Stage, layer.Excluded,
            CliJson.Round(size.Layers.Single(l => l.Layer == layer.Layer).Sparsity),
            prediction?.Layers.Single(l => l.Layer == layer.Layer).PredictedDrop is { } drop ? CliJson.Round(drop) : null)),
    ];
}
