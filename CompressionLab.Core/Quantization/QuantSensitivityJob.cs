using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Quantization;

/// <summary>Per-layer INT8 sensitivity: quantize one layer at a time (AIMET's per-layer analysis), everything else float.</summary>
/// <param name="Methods">The clipping methods to try on each layer (at least one).</param>
/// <param name="SuggestMix">Also build and measure the suggested best mix (<see cref="Int8MixSuggestion"/>).</param>
/// <param name="Tolerance">The best mix keeps layers in float until its top-1 is within this many (fraction) of float's; 0.003 = the issue's 0.3 points.</param>
public sealed record QuantSensitivityRequest(
    ModelSource Model,
    IReadOnlyList<ClippingMethod> Methods,
    string? Dataset = null,
    QuantizationMode Mode = QuantizationMode.Symmetric,
    Int8Images? Images = null,
    bool SuggestMix = true,
    double Tolerance = QuantSensitivityRequest.DefaultTolerance)
{
    public const double DefaultTolerance = 0.003;

    public Int8Images ImagesOrDefault => Images ?? new Int8Images();

    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to quantize.");
        Model.Validate();
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to evaluate on.");
        if (Methods is null || Methods.Count == 0 || Methods.Any(m => m is null)) throw new InvalidRequestException(nameof(Methods), "Give at least one calibration method.");
        if (Methods.Distinct().Count() != Methods.Count) throw new InvalidRequestException(nameof(Methods), "A method is listed twice.");
        if (Mode is not (QuantizationMode.Symmetric or QuantizationMode.Asymmetric))
            throw new InvalidRequestException(nameof(Mode), $"The mode is symmetric or asymmetric (got {Mode}).");
        if (!(Tolerance >= 0 && Tolerance < 1)) throw new InvalidRequestException(nameof(Tolerance), $"The tolerance is a fraction of top-1 in [0, 1) (got {Tolerance}).");
        ImagesOrDefault.Validate();
    }
}

/// <summary>One layer quantized alone with one method; everything else float.</summary>
public sealed record LayerSensitivity(string Layer, string Method, Int8Measurement Measured, bool FromStore);

/// <summary>A layer measured, published as the sensitivity run goes.</summary>
public sealed record LayerSensitivityMeasured(LayerSensitivity Result, int Index, int Count) : JobPartial;

/// <summary>One step of the best-mix search: the mix with these layers in float, measured.</summary>
public sealed record MixStep(IReadOnlyList<string> FloatLayers, string Configuration, Int8Measurement Measured);

/// <summary>The suggested best mix and how it was reached.</summary>
/// <param name="Rule">The rule in words (which method per layer, when layers go to float).</param>
/// <param name="Method">The mix's default method (the most common per-layer best).</param>
/// <param name="LayerMethods">Each quantized layer's method.</param>
/// <param name="FloatLayers">Layers the search kept in float (most sensitive first).</param>
/// <param name="WithinTolerance">The mix's top-1 is within the tolerance of float's.</param>
public sealed record MixSuggestion(
    string Rule,
    string Mode,
    string Method,
    IReadOnlyDictionary<string, string> LayerMethods,
    IReadOnlyList<string> FloatLayers,
    string Configuration,
    Int8Measurement Measured,
    IReadOnlyList<MixStep> Steps,
    bool WithinTolerance)
{
    /// <summary>The mix as a choice (e.g. to run it through a comparison on other images).</summary>
    public QuantizationChoice Choice() => QuantizationChoice.Parse(Mode, Method, LayerMethods, FloatLayers);
}

/// <summary>A finished sensitivity run (fractions). Also the job's JSON result.</summary>
/// <param name="AllLayers">Each method for all layers, in <paramref name="Methods"/>' order.</param>
/// <param name="Layers">Every (layer, method) with only that layer quantized, layer-table order, methods in order within a layer.</param>
public sealed record QuantSensitivityOutcome(
    Guid? ModelId,
    string ModelName,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string CalibrationSubset,
    string EvaluationSubset,
    int EvaluationImages,
    IReadOnlyList<string> Methods,
    Int8Measurement Float,
    IReadOnlyList<Int8Measurement> AllLayers,
    IReadOnlyList<LayerSensitivity> Layers,
    MixSuggestion? Mix,
    double Seconds)
{
    public static QuantSensitivityOutcome FromJson(string json) => ModelJobJson.Read<QuantSensitivityOutcome>(json);
}

/// <summary>
/// The best-mix rule, as pure functions of measured one-layer results. Per layer, the method whose one-layer
/// quantization costs the least loss (cross-entropy is finer than top-1 on a few thousand images, where most methods
/// tie); then, only if the mix misses the tolerance, the most sensitive layers go to float one at a time, most
/// sensitive first (largest one-layer top-1 drop with its chosen method, then largest loss, then layer order).
/// </summary>
public static class Int8MixSuggestion
{
    public const string Rule =
        "per layer, the method with the lowest loss when only that layer is quantized (AIMET-style one-layer sensitivity); " +
        "then, while the mix's top-1 is more than the tolerance below float's, the most sensitive remaining layer " +
        "(largest one-layer top-1 drop, then loss) is kept in float";

    /// <summary>Each layer's best method: lowest one-layer loss, ties to the higher top-1, then to the earlier method.</summary>
    public static IReadOnlyDictionary<string, ClippingMethod> BestMethods(IReadOnlyList<string> layers, IReadOnlyList<ClippingMethod> methods, IReadOnlyList<LayerSensitivity> measured)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(methods);
        ArgumentNullException.ThrowIfNull(measured);
        var best = new Dictionary<string, ClippingMethod>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            var chosen = methods
                .Select((method, order) => (method, order, result: measured.FirstOrDefault(r => r.Layer == layer && r.Method == method.Name)))
                .Where(m => m.result is not null)
                .OrderBy(m => m.result!.Measured.Loss)
                .ThenByDescending(m => m.result!.Measured.Top1)
                .ThenBy(m => m.order)
                .Select(m => m.method)
                .FirstOrDefault();
            if (chosen is not null) best[layer] = chosen;
        }
        return best;
    }

    /// <summary>Layers most sensitive first: largest one-layer top-1 drop (with the layer's chosen method), then largest loss, then layer order.</summary>
    public static IReadOnlyList<string> SensitivityOrder(IReadOnlyList<string> layers, IReadOnlyDictionary<string, ClippingMethod> methods, IReadOnlyList<LayerSensitivity> measured)
    {
        ArgumentNullException.ThrowIfNull(layers);
        return
        [
            .. layers
                .Select((layer, order) => (layer, order, result: methods.TryGetValue(layer, out var m) ? measured.FirstOrDefault(r => r.Layer == layer && r.Method == m.Name) : null))
                .Where(l => l.result is not null)
                .OrderBy(l => l.result!.Measured.Top1)
                .ThenByDescending(l => l.result!.Measured.Loss)
                .ThenBy(l => l.order)
                .Select(l => l.layer),
        ];
    }

    /// <summary>The mix with <paramref name="floatLayers"/> in float: the most common best method as the default, the others as overrides.</summary>
    public static QuantizationChoice Mix(QuantizationMode mode, IReadOnlyList<ClippingMethod> methods, IReadOnlyDictionary<string, ClippingMethod> best, IEnumerable<string> floatLayers)
    {
        ArgumentNullException.ThrowIfNull(methods);
        ArgumentNullException.ThrowIfNull(best);
        var common = methods.OrderByDescending(m => best.Values.Count(b => b == m)).First();
        return new QuantizationChoice(mode, common, best.Where(b => b.Value != common).ToDictionary(), [.. floatLayers]);
    }
}

/// <summary>
/// Per-layer INT8 sensitivity as a job: float, each method for all layers, then every layer quantized alone with each
/// method, and (when asked) the suggested best mix (<see cref="Int8MixSuggestion"/>), measured. One job body for the
/// dashboard and <c>quant sensitivity</c>; measurements are kept in the workspace like a comparison's (same keys).
/// </summary>
public static class QuantSensitivityJob
{
    public const string Kind = "int8-sensitivity";

    public static string Title(ResolvedModel model, QuantSensitivityRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return $"INT8 sensitivity · {model.DisplayName} · {string.Join(", ", request.Methods.Select(m => m.Name))}";
    }

    public static JobWork Create(QuantSensitivityRequest request, DatasetCatalog catalog, ModelStore store, CalibrationProfileStore profiles, Int8EvaluationStore evaluations)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, profiles, evaluations, job.Id, job.Progress, cancellationToken)));
    }

    /// <summary>The choice that quantizes only <paramref name="layer"/> with <paramref name="method"/>.</summary>
    public static QuantizationChoice OnlyLayer(IReadOnlyList<string> layers, string layer, ClippingMethod method, QuantizationMode mode) =>
        new(mode, method, FloatLayers: [.. layers.Where(l => l != layer)]);

    public static QuantSensitivityOutcome Run(
        QuantSensitivityRequest request,
        DatasetCatalog catalog,
        ModelStore store,
        CalibrationProfileStore profiles,
        Int8EvaluationStore evaluations,
        Guid? jobId,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var session = Int8Session.Open(request.Model, request.Dataset, request.ImagesOrDefault, catalog, store, profiles, evaluations, jobId, progress, cancellationToken);
        var layers = session.Layers;
        var methods = request.Methods;
        // Float, all layers per method, one layer per method, and (for the mix) up to every layer once more.
        var planned = 1 + methods.Count + (layers.Count * methods.Count) + (request.SuggestMix ? layers.Count + 1 : 0);
        var done = 0;
        Int8Measurement Measure(QuantizationChoice? choice, string what, out bool fromStore)
        {
            cancellationToken.ThrowIfCancellationRequested();
            session.Fraction = 0.05 + (0.95 * Math.Min(done, planned) / planned);
            progress.Report(session.Fraction, $"{what}: evaluating on {session.EvaluationText}");
            var (measured, stored) = session.Measure(choice, cancellationToken);
            done++;
            fromStore = stored;
            return measured;
        }

        var floatMeasured = Measure(null, "float", out _);
        var allLayers = methods.Select(m => Measure(QuantizationChoice.AllLayers(m, request.Mode), $"{m.Name} on all layers", out _)).ToList();
        var results = new List<LayerSensitivity>(layers.Count * methods.Count);
        foreach (var layer in layers)
        {
            foreach (var method in methods)
            {
                var measured = Measure(OnlyLayer(layers, layer, method, request.Mode), $"{layer} alone on {method.Name}", out var fromStore);
                var result = new LayerSensitivity(layer, method.Name, measured, fromStore);
                results.Add(result);
                progress.Publish(new LayerSensitivityMeasured(result, results.Count - 1, layers.Count * methods.Count));
            }
        }

        MixSuggestion? mix = null;
        if (request.SuggestMix)
        {
            var best = Int8MixSuggestion.BestMethods(layers, methods, results);
            var order = Int8MixSuggestion.SensitivityOrder(layers, best, results);
            var steps = new List<MixStep>();
            var floats = new List<string>();
            while (true)
            {
                var choice = Int8MixSuggestion.Mix(request.Mode, methods, best, floats);
                var measured = Measure(choice, floats.Count == 0 ? "best mix" : $"best mix with {string.Join(", ", floats)} in float", out _);
                steps.Add(new MixStep([.. floats], choice.Key, measured));
                var within = floatMeasured.Top1 - measured.Top1 <= request.Tolerance + 1e-12;
                if (within || floats.Count == order.Count)
                {
                    mix = new MixSuggestion(Int8MixSuggestion.Rule, request.Mode.ToString().ToLowerInvariant(), choice.Method.Name,
                        best.Where(b => !floats.Contains(b.Key)).ToDictionary(b => b.Key, b => b.Value.Name), [.. floats], choice.Key, measured, steps, within);
                    break;
                }
                floats.Add(order[floats.Count]);
            }
        }

        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Float {floatMeasured.Top1 * 100:0.00}%{(mix is null ? "" : $", best mix {mix.Measured.Top1 * 100:0.00}%")} on {session.EvaluationText}"));
        return new QuantSensitivityOutcome(session.Model.ModelId, session.Model.DisplayName, session.Architecture, session.WeightsHash, session.Dataset.Name,
            session.Calibration.Key, session.Evaluation.Key, session.Evaluation.Count, [.. methods.Select(m => m.Name)], floatMeasured, allLayers, results, mix,
            clock.Elapsed.TotalSeconds);
    }
}
