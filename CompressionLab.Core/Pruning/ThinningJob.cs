using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Pruning;

/// <summary>What to thin and where to save it.</summary>
/// <param name="Plan">A filter plan for the model (checked against its weights by the caller, e.g. <see cref="PlanFile.ReadFor"/>); null: thin by the model's silent filters (an already filter-pruned model).</param>
/// <param name="RoundTo">Round each layer's kept channels up to a multiple of this (1: no rounding; 8 suits oneDNN's kernels).</param>
/// <param name="Output">The checkpoint file to write (replaced atomically).</param>
public sealed record ThinningRequest(ModelSource Model, PruningPlan? Plan, int RoundTo, string Output)
{
    public const int MaxRoundTo = 1024;

    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Model, nameof(Model));
        Model.Validate();
        if (RoundTo is < 1 or > MaxRoundTo)
            throw new InvalidRequestException(nameof(RoundTo), $"Channel counts are rounded up to a multiple of 1 (no rounding) to {MaxRoundTo} (got {RoundTo}).");
        if (string.IsNullOrWhiteSpace(Output)) throw new InvalidRequestException(nameof(Output), "Name the checkpoint file to write.");
    }
}

/// <summary>A thinning done: the file written and what changed (<see cref="ThinnedNetwork"/> without the network).</summary>
/// <param name="FromPlan">True when thinned by a plan; false when by the model's silent filters.</param>
/// <param name="NotSilent">Zero filters left in place because their BatchNorm still outputs a constant (silent-filter thinning only).</param>
/// <param name="WeightsHash">Content hash of the thin model's weights (<see cref="CheckpointMetadata.ContentHash"/>).</param>
public sealed record ThinningOutcome(
    string Output,
    string Architecture,
    bool FromPlan,
    int RoundTo,
    IReadOnlyList<ThinnedLayer> Layers,
    NetworkSize Before,
    NetworkSize After,
    IReadOnlyDictionary<string, int> NotSilent,
    string SourceWeightsHash,
    string WeightsHash);

/// <summary>
/// Thins a checkpoint by a filter plan or by its silent filters and saves the result as a checkpoint with widths, which
/// loads, evaluates, sweeps and fine-tunes like any zoo model. One body for every front end (the CLI's <c>thin</c>).
/// The source file is only read.
/// </summary>
public static class ThinningJob
{
    /// <exception cref="InvalidRequestException">A setting is bad: <c>Plan</c> when the plan does not fit the model, prunes by element, or (without a plan) the model has no silent filters.</exception>
    public static ThinningOutcome Run(ThinningRequest request, ModelStore? store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        using var checkpoint = Checkpoint.Load(model.CheckpointPath);
        cancellationToken.ThrowIfCancellationRequested();
        var network = checkpoint.Model;
        var (masks, notSilent) = Masks(network, request);
        using var thin = Thinning.Thin(network, masks);
        cancellationToken.ThrowIfCancellationRequested();
        var metadata = checkpoint.Metadata;
        var lineage = Lineage(request, network, metadata, model.DisplayName);
        // Not measured yet and not trained as it is: no top-1 and no training settings.
        var saved = Checkpoint.Save(thin.Model, request.Output, metadata.Dataset, metadata.ClassNames, lineage: lineage);
        return new ThinningOutcome(Path.GetFullPath(request.Output), network.Architecture, request.Plan is not null, request.RoundTo, thin.Layers, thin.Before, thin.After,
            notSilent, metadata.ContentHash, saved.ContentHash);
    }

    /// <summary>
    /// Where the thin model came from, as fine-tuning records it: the parent's weights hash and name, and the plan's
    /// hash and levels, or "silent filters" when the model's own zeroed filters were removed; the rounding as well.
    /// </summary>
    private static CheckpointLineage Lineage(ThinningRequest request, ClassifierNetwork network, CheckpointMetadata parent, string parentName)
    {
        if (request.Plan is not { } plan)
            return new CheckpointLineage("thin", parent.ContentHash, parentName, RoundTo: request.RoundTo, Selection: "silent filters");
        var resolved = plan.Resolve(network.Layers);
        return new CheckpointLineage("thin", parent.ContentHash, parentName, PlanContent.Hash(resolved),
            [.. PlanContent.Levels(resolved).Select(l => new LineageLevel(l.Layer, l.Level, l.Method))], RoundTo: request.RoundTo, Selection: "plan");
    }

    /// <summary>The masks a request asks for on <paramref name="network"/>: its plan's, or its silent filters'.</summary>
    /// <exception cref="InvalidRequestException">For <c>Plan</c>, as <see cref="Run"/> says.</exception>
    public static (IReadOnlyList<PruningMask> Masks, IReadOnlyDictionary<string, int> NotSilent) Masks(ClassifierNetwork network, ThinningRequest request)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(request);
        if (request.Plan is { } plan)
        {
            if (plan.Problems(network.Layers) is { Count: > 0 } problems)
                throw new InvalidRequestException(nameof(ThinningRequest.Plan), string.Join(" ", problems.Select(p => p.Message)));
            try
            {
                return (Thinning.PlanFilterMasks(network, plan.Resolve(network.Layers), request.RoundTo), new Dictionary<string, int>());
            }
            catch (ArgumentException e) when (e is not InvalidRequestException)
            {
                throw InvalidRequestException.For(nameof(ThinningRequest.Plan), e);
            }
        }
        var silent = Thinning.FindSilentFilters(network, request.RoundTo);
        if (silent.Masks.Count == 0)
        {
            var loud = silent.NotSilent.Count == 0 ? "" :
                $" ({string.Join(", ", silent.NotSilent.Select(l => $"{l.Key} has {l.Value} zero filter(s) whose BatchNorm still adds a constant"))})";
            throw new InvalidRequestException(nameof(ThinningRequest.Plan),
                $"The model has no silent filters to remove (whole filters at zero with their BatchNorm channel){loud}: give a filter plan to thin it by.");
        }
        return (silent.Masks, silent.NotSilent);
    }
}
