using System.Collections.Concurrent;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Quantization;

namespace CompressionLab.Web.Services;

/// <summary>
/// The app's <see cref="QuantizationBackend"/>: Core's calibration job (collects the profile into the workspace), and the
/// INT8 comparison and per-layer sensitivity jobs.
/// </summary>
/// <remarks>Profiles are kept in the workspace (<see cref="CalibrationProfileStore"/>), keyed by weights hash, dataset and subset.</remarks>
public sealed class WorkspaceQuantizationBackend(CalibrationJobs calibration, QuantizationJobs quantization)
    : QuantizationBackend
{
    // Workspace checkpoints are named by their content and never change, so each one's weights hash is read once.
    private readonly ConcurrentDictionary<string, string> weightsHashes = new();

    private CalibrationProfileStore Profiles => calibration.Profiles;

    public override string CollectKind => CalibrationJob.Kind;

    public override string ComparisonKind => Int8ComparisonJob.Kind;

    public override string SensitivityKind => QuantSensitivityJob.Kind;

    public override CalibrationProfile? FindProfile(ModelRecord model, int subsetSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        // The subset key ends with a hash of the images, known only once the dataset is loaded; the stratified rule
        // makes "the first N validation images" of a dataset one set, so the prefix finds it without loading anything.
        var prefix = string.Create(CultureInfo.InvariantCulture, $"{AnalysisSubset.PartName(SplitPart.Validation)}/stratified-{subsetSize}/");
        // Profiles are keyed by the weights hash in the checkpoint's header, not by the file's hash that names the model.
        var weightsHash = weightsHashes.GetOrAdd(model.FilePath, path => Checkpoint.ReadMetadata(path).ContentHash);
        return Profiles.List(weightsHash)
            .Where(k => string.Equals(k.Dataset, model.Dataset, StringComparison.OrdinalIgnoreCase) && k.Subset.StartsWith(prefix, StringComparison.Ordinal))
            .Select(Profiles.Find)
            .FirstOrDefault(p => p is not null);
    }

    /// <summary>
    /// calib-collect's calibration job (<see cref="CalibrationJobs"/>): it collects the profile into the workspace, or reads
    /// it back, and also measures float and INT8 top-1 on the same images with the page's starting method.
    /// </summary>
    public override JobSnapshot StartCollect(ModelRecord model, int subsetSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        return calibration.StartCalibration(new CalibrationRequest(new StoredModel(model.Id), Method: CalibrationPreview.DefaultMethod.Name, SubsetSize: subsetSize));
    }

    public override string? StatsYaml(CalibrationProfile profile) => DistillerStatsYaml.Write(profile);

    public override JobSnapshot StartComparison(ModelRecord model, int subsetSize, QuantizationChoice mix)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(mix);
        return quantization.StartComparison(new Int8ComparisonRequest(new StoredModel(model.Id), Mode: mix.Mode, Choice: mix, Images: new Int8Images(subsetSize)));
    }

    public override JobSnapshot StartSensitivity(ModelRecord model, int subsetSize, QuantizationChoice choice)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(choice);
        // Each layer with the methods the choice uses (few), so the ranking reads each layer's own method.
        var methods = new[] { choice.Method }.Concat(choice.LayerMethods?.Values ?? []).Distinct().ToList();
        return quantization.StartSensitivity(new QuantSensitivityRequest(new StoredModel(model.Id), methods, Mode: choice.Mode, Images: new Int8Images(subsetSize)));
    }

    public override Int8Comparison ReadComparison(string resultJson)
    {
        var outcome = Int8ComparisonOutcome.FromJson(resultJson);
        var rows = outcome.Results.Where(r => r.Measured is not null)
            .Select(r => new Int8Row(r.Label == Int8ComparisonJob.ChosenMix ? MixLabel : r.Label, r.Configuration == Int8EvaluationKey.FloatConfiguration ? null : r.Configuration, r.Measured!.Top1))
            .ToList();
        return new Int8Comparison(outcome.EvaluationImages, outcome.Float.Measured?.Top1 ?? double.NaN, rows);
    }

    public override Int8Sensitivity ReadSensitivity(string resultJson)
    {
        var outcome = QuantSensitivityOutcome.FromJson(resultJson);
        // Per layer, its least harmful method measured; the layers that lose most first.
        var rows = outcome.Layers.GroupBy(l => l.Layer)
            .Select(g => g.OrderByDescending(l => l.Measured.Top1).First())
            .OrderBy(l => l.Measured.Top1)
            .Select(l => new SensitivityRow(l.Layer, l.Method, l.Measured.Top1))
            .ToList();
        return new Int8Sensitivity(outcome.EvaluationImages, outcome.Float.Top1, rows, outcome.Mix?.Configuration, outcome.Mix?.Measured.Top1);
    }
}
