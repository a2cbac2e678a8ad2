using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Quantization;

/// <summary>
/// The images both INT8 jobs (comparison, sensitivity) work with: thresholds calibrated on <see cref="CalibrationSize"/>
/// validation images, accuracy measured on <see cref="EvaluationSize"/> images of <see cref="EvaluationPart"/>.
/// </summary>
/// <param name="CalibrationSize">Validation images the thresholds are calibrated on (<see cref="AnalysisSubset"/>); the default 512.</param>
/// <param name="EvaluationPart">Validation (what the page measures) or Test (the final numbers of the README).</param>
/// <param name="EvaluationSize">Images of that part (stratified subset); null: the whole part.</param>
public sealed record Int8Images(int CalibrationSize = Int8Images.DefaultCalibrationSize, SplitPart EvaluationPart = SplitPart.Validation, int? EvaluationSize = AnalysisSubset.DefaultSize)
{
    public const int DefaultCalibrationSize = 512;

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming <c>CalibrationSize</c>, <c>EvaluationPart</c> or <c>EvaluationSize</c>.</summary>
    public void Validate()
    {
        if (CalibrationSize < 1) throw new InvalidRequestException(nameof(CalibrationSize), $"Calibration needs at least one image (got {CalibrationSize}).");
        if (EvaluationPart is not (SplitPart.Validation or SplitPart.Test))
            throw new InvalidRequestException(nameof(EvaluationPart), "Simulated INT8 accuracy is measured on the validation or the test images, not on the training images.");
        if (EvaluationSize is < 1) throw new InvalidRequestException(nameof(EvaluationSize), $"The evaluation needs at least one image (got {EvaluationSize}).");
    }
}

/// <summary>
/// A loaded model ready for INT8 measurements: its folded network, the calibration and evaluation subsets, and its
/// calibration profile (read from the workspace's profiles, or collected and kept there, and only when a measurement
/// is not already in the workspace: a repeated run that finds every row stored never runs the network).
/// </summary>
internal sealed class Int8Session : IDisposable
{
    private readonly Checkpoint _checkpoint;
    private readonly Lazy<CalibrationProfile> _profile;
    private readonly Int8EvaluationStore _store;
    private readonly Guid? _jobId;
    private FoldedNetwork? _folded;

    private Int8Session(ResolvedModel model, Dataset dataset, AnalysisSubset calibration, AnalysisSubset evaluation, Checkpoint checkpoint,
        CalibrationProfileStore profiles, Int8EvaluationStore store, Guid? jobId, IJobProgress progress, CancellationToken cancellationToken)
    {
        Model = model;
        Dataset = dataset;
        Calibration = calibration;
        Evaluation = evaluation;
        _checkpoint = checkpoint;
        _store = store;
        _jobId = jobId;
        _profile = new Lazy<CalibrationProfile>(() =>
        {
            var key = new CalibrationProfileKey(WeightsHash, dataset.Name, calibration.Key);
            if (profiles.Find(key) is { } stored) return stored;
            progress.Report(Fraction, string.Create(CultureInfo.InvariantCulture, $"Calibrating on {calibration.Count:N0} validation images"));
            var collected = CalibrationCollector.Collect(_checkpoint.Model, WeightsHash, dataset.Name, calibration, cancellationToken: cancellationToken);
            profiles.Save(collected, jobId);
            return collected;
        });
    }

    public ResolvedModel Model { get; }
    public Dataset Dataset { get; }
    public AnalysisSubset Calibration { get; }
    public AnalysisSubset Evaluation { get; }
    public string WeightsHash => _checkpoint.Metadata.ContentHash;
    public string Architecture => _checkpoint.Model.Architecture;
    public IReadOnlyList<string> Layers => [.. _checkpoint.Model.Layers.Select(l => l.Name)];
    public CalibrationProfile Profile => _profile.Value;

    /// <summary>Where the job's progress stands, for the calibration message.</summary>
    public double Fraction { get; set; }

    public static Int8Session Open(ModelSource source, string? datasetName, Int8Images images, DatasetCatalog catalog, ModelStore store,
        CalibrationProfileStore profiles, Int8EvaluationStore evaluations, Guid? jobId, IJobProgress progress, CancellationToken cancellationToken)
    {
        var model = source.Resolve(store);
        var dataset = model.LoadDataset(datasetName, catalog, progress);
        var calibration = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, images.CalibrationSize, nameof(Int8Images.CalibrationSize));
        var evaluation = AnalysisSubset.ForRequest(dataset, images.EvaluationPart, images.EvaluationSize, nameof(Int8Images.EvaluationSize));
        cancellationToken.ThrowIfCancellationRequested();
        progress.Report(0.02, $"Loading the checkpoint of {model.DisplayName}");
        var checkpoint = model.Load(evaluation.Images, dataset.Name, "quantized");
        return new Int8Session(model, dataset, calibration, evaluation, checkpoint, profiles, evaluations, jobId, progress, cancellationToken);
    }

    public Int8EvaluationKey Key(QuantizationChoice? choice) =>
        // Float does not depend on the calibration images: one row serves every calibration size.
        new(WeightsHash, Dataset.Name, choice is null ? "" : Calibration.Key, Evaluation.Key, Int8EvaluationKey.ConfigurationOf(choice));

    /// <summary>
    /// The measurement of <paramref name="choice"/> (null: float) on the evaluation images, read from the workspace when
    /// these weights and images were measured so before, else evaluated and kept.
    /// </summary>
    /// <exception cref="InvalidRequestException">The choice does not fit the model (see <see cref="QuantizationThresholds.For"/>).</exception>
    public (Int8Measurement Measured, bool FromStore) Measure(QuantizationChoice? choice, CancellationToken cancellationToken)
    {
        choice?.Validate(Layers);
        var key = Key(choice);
        if (_store.Find(key) is { } stored) return (stored.Measured, true);
        var thresholds = choice is null ? null : QuantizationThresholds.For(Profile, choice);
        _folded ??= FoldedNetwork.Fold(_checkpoint.Model);
        var result = thresholds is null
            ? Int8Simulation.EvaluateFloat(_folded, Evaluation.Images, cancellationToken)
            : Int8Simulation.Evaluate(_folded, thresholds, Evaluation.Images, cancellationToken);
        var measured = new Int8Measurement(result.Top1, result.Top5, result.Loss, result.Samples, result.Seconds);
        _store.Save(new StoredInt8Evaluation(key, Architecture, measured, _jobId, DateTimeOffset.UtcNow));
        return (measured, false);
    }

    /// <summary>"1,000 validation images" / "all 10,000 test images".</summary>
    public string EvaluationText => string.Create(CultureInfo.InvariantCulture,
        $"{Evaluation.Count:N0} {AnalysisSubset.PartName(Evaluation.Part)} images");

    public void Dispose()
    {
        _folded?.Dispose();
        _checkpoint.Dispose();
    }
}
