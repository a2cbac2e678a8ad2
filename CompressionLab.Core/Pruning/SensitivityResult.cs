using System.Text.Json.Serialization;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// Accuracy of one evaluation: top-1 and top-5 as fractions (0..1, like every accuracy in Core; percent only on screen
/// and in Distiller's CSV), mean cross-entropy loss in nats.
/// </summary>
public sealed record SweepMetrics(double Top1, double Top5, double Loss);

/// <summary>One (layer, level) of a sweep.</summary>
/// <param name="Layer">Layer name from the model's table, e.g. <c>stage2.conv1</c>.</param>
/// <param name="Sparsity">The level asked for.</param>
/// <param name="ActualSparsity">Fraction of the layer's weights really zeroed (levels are rounded to whole weights or filters).</param>
/// <param name="Top1">Fraction (0..1) of the images right.</param>
/// <param name="Top5">Fraction (0..1) of the images with the true class among the five highest logits.</param>
/// <param name="Top1Drop">Baseline top-1 minus this cell's top-1, a fraction (0.01 = one percentage point; positive = worse).</param>
public sealed record SweepCell(string Layer, double Sparsity, double ActualSparsity, double Top1, double Top5, double Loss, double Top1Drop)
{
    [JsonIgnore]
    public SweepMetrics Metrics => new(Top1, Top5, Loss);

    public static SweepCell From(string layer, double sparsity, double actualSparsity, SweepMetrics metrics, SweepMetrics baseline) =>
        new(layer, sparsity, actualSparsity, metrics.Top1, metrics.Top5, metrics.Loss, baseline.Top1 - metrics.Top1);
}

/// <summary>A finished sweep.</summary>
/// <param name="Settings">The settings as run: levels sorted and de-duplicated, layers resolved in table order.</param>
/// <param name="Samples">Images evaluated per cell.</param>
/// <param name="Cells">Every (layer, level), layers in table order, levels ascending.</param>
/// <param name="CellsComputed">Cells evaluated by this run (the rest came from the store or, for level 0, from the baseline).</param>
/// <param name="CellsFromStore">Cells found in the cell store.</param>
public sealed record SensitivityResult(
    string Architecture,
    SweepSettings Settings,
    int Samples,
    SweepMetrics Baseline,
    IReadOnlyList<SweepCell> Cells,
    double Seconds,
    int CellsComputed,
    int CellsFromStore)
{
    /// <summary>Which model and images were measured; null when the caller did not say (e.g. a sweep of an in-memory network).</summary>
    public SweepSource? Source { get; init; }

    /// <summary>Layers the criterion left out of a sweep over every layer, with the reason (<see cref="SweepCandidates.LeftOut"/>).</summary>
    public IReadOnlyList<LeftOutLayer> LeftOut { get; init; } = [];

    /// <summary>The cells of one layer, levels ascending.</summary>
    public IReadOnlyList<SweepCell> CellsOf(string layer) => Cells.Where(c => c.Layer == layer).ToArray();
}

/// <summary>What a sweep measured: the model (by its weights) and the images (dataset and the subset of its validation hold-out).</summary>
/// <param name="ModelName">The model's display name in the workspace, or the checkpoint's file name.</param>
/// <param name="WeightsHash">SHA-256 of the checkpoint's weights section (<see cref="SweepIdentity.ModelHash"/>).</param>
/// <param name="Subset">The subset's key (<see cref="AnalysisSubset.Key"/>): equal text means equal images.</param>
/// <param name="SubsetSize">Images in the subset.</param>
/// <param name="SubsetSeed">Seed of the stratified draw (<see cref="AnalysisSubset.Seed"/>).</param>
public sealed record SweepSource(string ModelName, string Architecture, string WeightsHash, string Dataset, string Subset, int SubsetSize, int SubsetSeed = AnalysisSubset.Seed);

/// <summary>Reported after every cell, whether computed or read from the store.</summary>
/// <param name="Fraction">Work done so far, weighted by each cell's MACs (so it is a fair basis for an ETA).</param>
public sealed record SweepProgress(SweepCell Cell, bool FromStore, int CellsDone, int CellsTotal, double Fraction, SweepMetrics Baseline);
