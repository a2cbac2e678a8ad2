using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Quantization;

/// <summary>Which configurations to compare, side by side: float, each method for all layers, and the user's mix.</summary>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="Methods">Each one for all layers (in <paramref name="Mode"/>); null: <see cref="QuantizationChoice.StandardMethods"/>.</param>
/// <param name="Choice">The user's mix (per-layer methods, float layers); null: none.</param>
/// <param name="Images">Calibration and evaluation images; null: 512 calibration images, 2,000 validation images evaluated.</param>
public sealed record Int8ComparisonRequest(
    ModelSource Model,
    string? Dataset = null,
    IReadOnlyList<ClippingMethod>? Methods = null,
    QuantizationMode Mode = QuantizationMode.Symmetric,
    QuantizationChoice? Choice = null,
    Int8Images? Images = null)
{
    public IReadOnlyList<ClippingMethod> MethodsOrDefault => Methods ?? QuantizationChoice.StandardMethods;

    public Int8Images ImagesOrDefault => Images ?? new Int8Images();

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense; the choice's layers are checked when the model is loaded.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to quantize.");
        Model.Validate();
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to evaluate on.");
        if (Methods is { Count: 0 } || Methods?.Any(m => m is null) == true) throw new InvalidRequestException(nameof(Methods), "Give at least one calibration method (or none for the standard list).");
        if (Methods is not null && Methods.Distinct().Count() != Methods.Count) throw new InvalidRequestException(nameof(Methods), "A method is listed twice.");
        if (Mode is not (QuantizationMode.Symmetric or QuantizationMode.Asymmetric))
            throw new InvalidRequestException(nameof(Mode), $"The mode is symmetric or asymmetric (got {Mode}).");
        ImagesOrDefault.Validate();
    }
}

/// <summary>One configuration of a comparison, measured (or refused: a method that does not apply to the model in this mode).</summary>
/// <param name="Label"><c>float</c>, a method's name (for all layers), or <c>chosen mix</c>.</param>
/// <param name="Configuration">What the workspace keys it by: <c>float</c> or the choice's <see cref="QuantizationChoice.Key"/>.</param>
/// <param name="Measured">Null when <paramref name="Problem"/> says why the configuration could not be simulated.</param>
/// <param name="FromStore">Read back from the workspace (measured before on the same weights and images).</param>
public sealed record Int8ConfigurationResult(string Label, string Configuration, Int8Measurement? Measured, bool FromStore, string? Problem);

/// <summary>A configuration measured, published as the comparison goes (<paramref name="Index"/> of <paramref name="Count"/>).</summary>
public sealed record Int8ConfigurationMeasured(Int8ConfigurationResult Result, int Index, int Count) : JobPartial;

/// <summary>A finished comparison: every configuration beside float, on the same images (fractions). Also the job's JSON result.</summary>
public sealed record Int8ComparisonOutcome(
    Guid? ModelId,
    string ModelName,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string CalibrationSubset,
    string EvaluationSubset,
    int EvaluationImages,
    IReadOnlyList<Int8ConfigurationResult> Results,
    double Seconds)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public Int8ConfigurationResult Float => Results[0];

    public static Int8ComparisonOutcome FromJson(string json) => ModelJobJson.Read<Int8ComparisonOutcome>(json);
}

/// <summary>
/// Simulated INT8 accuracy side by side, as a job: float, each method for all layers, and the user's mix, each
/// through <see cref="Int8Simulation"/> on the same evaluation images with thresholds from one calibration profile.
/// Every measurement is kept in the workspace (<see cref="Int8EvaluationStore"/>) and read back when the same weights,
/// images and configuration come again, so reopening a comparison is instant.
/// </summary>
public static class Int8ComparisonJob
{
    public const string Kind = "int8-compare";

    public const string ChosenMix = "chosen mix";

    public static string Title(ResolvedModel model, Int8ComparisonRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return $"Compare INT8 calibrations · {model.DisplayName} · {request.Dataset ?? model.Dataset}";
    }

    public static JobWork Create(Int8ComparisonRequest request, DatasetCatalog catalog, ModelStore store, CalibrationProfileStore profiles, Int8EvaluationStore evaluations)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, profiles, evaluations, job.Id, job.Progress, cancellationToken)));
    }

    /// <summary>The configurations in table order: float, each method for all layers, then the chosen mix.</summary>
    public static IReadOnlyList<(string Label, QuantizationChoice? Choice)> Configurations(Int8ComparisonRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var list = new List<(string, QuantizationChoice?)> { (Int8EvaluationKey.FloatConfiguration, null) };
        list.AddRange(request.MethodsOrDefault.Select(m => (m.Name, (QuantizationChoice?)QuantizationChoice.AllLayers(m, request.Mode))));
        if (request.Choice is { } choice) list.Add((ChosenMix, choice));
        return list;
    }

    /// <param name="jobId">Recorded with the measurements; null from the CLI.</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset (subset sizes, the chosen mix's layers).</exception>
    public static Int8ComparisonOutcome Run(
        Int8ComparisonRequest request,
        DatasetCatalog catalog,
        ModelStore store,
        CalibrationProfileStore profiles,
        Int8EvaluationStore evaluations,
        Guid? jobId,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(evaluations);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var session = Int8Session.Open(request.Model, request.Dataset, request.ImagesOrDefault, catalog, store, profiles, evaluations, jobId, progress, cancellationToken);
        // The user's mix is checked before anything is measured: a wrong layer name is the request's fault, named.
        request.Choice?.Validate(session.Layers);

        var configurations = Configurations(request);
        var results = new List<Int8ConfigurationResult>(configurations.Count);
        for (var i = 0; i < configurations.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (label, choice) = configurations[i];
            session.Fraction = 0.05 + (0.95 * i / configurations.Count);
            progress.Report(session.Fraction, $"{label}: evaluating on {session.EvaluationText} ({i + 1} of {configurations.Count})");
            Int8ConfigurationResult result;
            try
            {
                var (measured, fromStore) = session.Measure(choice, cancellationToken);
                result = new Int8ConfigurationResult(label, Int8EvaluationKey.ConfigurationOf(choice), measured, fromStore, null);
            }
            catch (InvalidRequestException e) when (choice is not null && !ReferenceEquals(choice, request.Choice))
            {
                // A standard method that does not apply here (entropy on a signed input in asymmetric mode): a row
                // saying why, not a failed comparison.
                result = new Int8ConfigurationResult(label, Int8EvaluationKey.ConfigurationOf(choice), null, false, e.Message);
            }
            results.Add(result);
            progress.Publish(new Int8ConfigurationMeasured(result, i, configurations.Count));
        }

        var floatTop1 = results[0].Measured!.Top1;
        var best = results.Skip(1).Where(r => r.Measured is not null).MaxBy(r => r.Measured!.Top1);
        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Float {floatTop1 * 100:0.00}%{(best is null ? "" : $", best INT8 {best.Label} {best.Measured!.Top1 * 100:0.00}%")} on {session.EvaluationText}"));
        return new Int8ComparisonOutcome(session.Model.ModelId, session.Model.DisplayName, session.Architecture, session.WeightsHash, session.Dataset.Name,
            session.Calibration.Key, session.Evaluation.Key, session.Evaluation.Count, results, clock.Elapsed.TotalSeconds);
    }
}
