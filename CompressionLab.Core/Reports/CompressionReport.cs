using CompressionLab.Core.Distillation;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Reports;

/// <summary>The model a report is about, as its checkpoint states it.</summary>
/// <param name="Name">Display name in the workspace, or the checkpoint's file name.</param>
/// <param name="WeightsHash">SHA-256 of the checkpoint's weights section (<see cref="Models.CheckpointMetadata.ContentHash"/>).</param>
/// <param name="Dataset">The dataset the report's measurements were made on.</param>
/// <param name="TrainedOn">The dataset the checkpoint says it was trained on, when known.</param>
/// <param name="RecordedTop1">The test top-1 recorded in the checkpoint at training (a fraction), when known.</param>
/// <param name="Lineage">How the model was made from another (e.g. <c>fine-tune of vgg-small</c>), when it was.</param>
public sealed record ReportModel(
    string Name,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string? TrainedOn = null,
    double? RecordedTop1 = null,
    long? Parameters = null,
    string? Lineage = null);

/// <summary>The sensitivity section: the stored curves of one identity (weights, dataset, subset, batch size).</summary>
/// <param name="SubsetSize">Images per cell, when known (the subset key holds it too).</param>
public sealed record SensitivitySection(SweepCurves Curves, int? SubsetSize = null);

/// <summary>A pruning plan and what it gives: sizes, the prediction from the curves, and its measurement.</summary>
/// <param name="Source">Where the plan came from (a file name, "the workspace's newest evaluated plan").</param>
/// <param name="Prediction">Null when there were no curves of these weights and images to predict from.</param>
/// <param name="Measured">Null when the plan was not evaluated.</param>
/// <param name="Subset">The images it was measured on (<see cref="Models.AnalysisSubset.Key"/>), when measured.</param>
public sealed record PlanSection(
    string Source,
    ResolvedPlan Plan,
    PlanSize Dense,
    PlanSize Pruned,
    PlanPrediction? Prediction,
    PlanMeasurement? Measured,
    string? Subset = null);

/// <summary>Teacher against student soft targets across T (<see cref="SoftTargetComparison"/>).</summary>
/// <param name="Teachers">The teachers' names (several: an ensemble, soft targets averaged).</param>
/// <param name="Points">One per T of the grid, ascending or as run.</param>
/// <param name="HeatmapTemperature">The T whose class similarity is drawn (must be one of <paramref name="Points"/>).</param>
public sealed record SoftTargetSection(
    IReadOnlyList<string> Teachers,
    string Student,
    IReadOnlyList<string> ClassNames,
    int Images,
    string Subset,
    IReadOnlyList<TemperaturePoint> Points,
    double HeatmapTemperature)
{
    /// <summary>T = 4 when the grid has it (Hinton's usual choice for 10 classes), else the middle of the grid.</summary>
    public static double DefaultHeatmapTemperature(IReadOnlyList<TemperaturePoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0) throw new ArgumentException("A soft-target section needs at least one temperature.", nameof(points));
        return points.Any(p => p.Temperature == 4) ? 4 : points[points.Count / 2].Temperature;
    }

    public TemperaturePoint HeatmapPoint =>
        Points.FirstOrDefault(p => p.Temperature == HeatmapTemperature)
        ?? throw new InvalidOperationException($"The heatmap's T = {HeatmapTemperature} is not one of the section's temperatures.");
}

/// <summary>One simulated INT8 measurement shown in the report.</summary>
/// <param name="Configuration">The quantization choice's key (<see cref="QuantizationChoice.Key"/>) or a method name; <c>float</c> for the float network.</param>
/// <param name="Images">Which images (a subset key).</param>
/// <param name="Top1">Fraction.</param>
/// <param name="FloatTop1">The float network on the same images, when measured with it (a fraction).</param>
public sealed record Int8Result(string Configuration, string Images, int Samples, double Top1, double? FloatTop1 = null);

/// <summary>A method's clip of a layer's input, drawn as a vertical line on its histogram.</summary>
/// <param name="At">amax (symmetric, unsigned), or min and max (asymmetric).</param>
/// <param name="Chosen">The method the thresholds use for the layer (drawn solid).</param>
public sealed record ThresholdMark(string Method, IReadOnlyList<double> At, bool Chosen);

/// <summary>
/// One layer's input histogram for display: the collected 2048 bins with trailing empty ones dropped, merged in equal
/// groups (<see cref="HistogramBars.Of"/>), and the methods' thresholds.
/// </summary>
/// <param name="Signed">Bins of x (asymmetric grid) rather than |x|.</param>
/// <param name="Thresholds">The layer's thresholds under the report's choice (kept in float: no input clip).</param>
public sealed record LayerHistogram(string Layer, bool Signed, HistogramBars Bars, IReadOnlyList<ThresholdMark> Marks, LayerThresholds Thresholds);

/// <summary>Calibration statistics, thresholds and simulated INT8 results.</summary>
/// <param name="Method">The method of the thresholds shown (the choice's method for every layer without an override).</param>
/// <param name="MethodWasRun">The method was asked for and its INT8 accuracy simulated; false: the thresholds are shown for a default method only.</param>
public sealed record CalibrationSection(
    string Dataset,
    string Subset,
    int Images,
    QuantizationChoice Choice,
    bool MethodWasRun,
    IReadOnlyList<LayerHistogram> Layers,
    IReadOnlyList<Int8Result> Results)
{
    /// <summary>Methods whose thresholds are drawn besides the chosen one: the common ones, few enough to read.</summary>
    public static IReadOnlyList<ClippingMethod> ComparedMethods { get; } =
        [.. new[] { "max", "percentile:99.99", "mse", "entropy" }.Select(ClippingMethod.Parse)];

    /// <summary>Display bars per histogram at most (see <see cref="HistogramBars.Of"/>).</summary>
    public const int DisplayBars = 96;

    /// <summary>
    /// The section from a profile and the thresholds of a choice on it: every layer's input histogram (the one the
    /// thresholds were computed on: |x|, or x for an asymmetric grid) cut to <see cref="DisplayBars"/> bars, with the
    /// choice's threshold and those of <paramref name="compared"/> (default <see cref="ComparedMethods"/>).
    /// </summary>
    public static CalibrationSection From(CalibrationProfile profile, QuantizationThresholds thresholds, bool methodWasRun, IReadOnlyList<Int8Result> results,
        IReadOnlyList<ClippingMethod>? compared = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(results);
        var layers = new List<LayerHistogram>(profile.Layers.Count);
        foreach (var layer in profile.Layers)
        {
            var chosen = thresholds.Layer(layer.Layer);
            var mode = chosen.Input?.Mode ?? (layer.InputNonNegative ? QuantizationMode.Unsigned : thresholds.Choice.Mode);
            var signed = mode == QuantizationMode.Asymmetric;
            var histogram = signed ? layer.Input.Signed : layer.Input.Magnitude;
            var marks = new List<ThresholdMark>();
            foreach (var method in (compared ?? ComparedMethods).Append(chosen.Method).OfType<ClippingMethod>().Distinct())
            {
                // The entropy search runs on |x| only: on an asymmetric grid it has no threshold to draw.
                if (method.Kind == ClippingKind.Entropy && signed) continue;
                var clip = method == chosen.Method && chosen.Input is { } input
                    ? input
                    : ClippingMethods.Calibrate(method, histogram, layer.Input.Statistics, mode);
                marks.Add(new ThresholdMark(method.Name, signed ? [clip.Min, clip.Max] : [clip.Amax], method == chosen.Method));
            }
            layers.Add(new LayerHistogram(layer.Layer, signed, HistogramBars.Of(histogram, DisplayBars), marks, chosen));
        }
        return new CalibrationSection(profile.Dataset, profile.SubsetKey, profile.Images, thresholds.Choice, methodWasRun, layers, results);
    }
}

/// <summary>Which part of a report, by the key the CLI's JSON and the HTML anchors use.</summary>
public static class ReportSections
{
    public const string Model = "model";
    public const string Sensitivity = "sensitivity";
    public const string Plan = "plan";
    public const string SoftTargets = "soft-targets";
    public const string Calibration = "calibration";

    public static IReadOnlyList<string> All { get; } = [Model, Sensitivity, Plan, SoftTargets, Calibration];
}

/// <summary>A section the report has no data for, and how to get it.</summary>
public sealed record ReportGap(string Section, string Message);

/// <summary>
/// What a compression report shows, assembled from records that already exist: the model's provenance and, each
/// optional, its sensitivity curves, a plan with its prediction and measurement, a soft-target comparison, and
/// calibration histograms with thresholds and INT8 results. A missing section is a gap with its reason
/// (<see cref="Gaps"/>), never an empty chart. Writing it (<see cref="ReportHtml"/>) is a separate, pure step.
/// </summary>
/// <param name="ToolVersion">The CompressionLab version that made it.</param>
public sealed record CompressionReport(ReportModel Model, DateTimeOffset CreatedAt, string ToolVersion)
{
    public SensitivitySection? Sensitivity { get; init; }
    public PlanSection? Plan { get; init; }
    public SoftTargetSection? SoftTargets { get; init; }
    public CalibrationSection? Calibration { get; init; }

    /// <summary>Why a section is missing, by section key, when the assembler knows better than the default text (e.g. "no sweep of these weights on mnist").</summary>
    public IReadOnlyDictionary<string, string> GapReasons { get; init; } = new Dictionary<string, string>();

    /// <summary>Sections with data, in report order (the model's provenance is always there).</summary>
    public IReadOnlyList<string> Sections =>
        [.. ReportSections.All.Where(s => s == ReportSections.Model || Gap(s) is null)];

    /// <summary>Sections without data, each with why and how to get it, in report order.</summary>
    public IReadOnlyList<ReportGap> Gaps => [.. ReportSections.All.Select(Gap).OfType<ReportGap>()];

    /// <summary>The gap of a section, or null when it has data.</summary>
    public ReportGap? Gap(string section)
    {
        var missing = section switch
        {
            ReportSections.Model => false,
            ReportSections.Sensitivity => Sensitivity is null || Sensitivity.Curves.Curves.Count == 0,
            ReportSections.Plan => Plan is null,
            ReportSections.SoftTargets => SoftTargets is null,
            ReportSections.Calibration => Calibration is null,
            _ => throw new ArgumentOutOfRangeException(nameof(section), section, $"Unknown report section; the sections are {string.Join(", ", ReportSections.All)}."),
        };
        if (!missing) return null;
        return new ReportGap(section, GapReasons.TryGetValue(section, out var reason) ? reason : DefaultGap(section));
    }

    private static string DefaultGap(string section) => section switch
    {
        ReportSections.Sensitivity => "No sensitivity sweep yet: run one on the Sensitivity page or with `compressionlab sweep`.",
        ReportSections.Plan => "No pruning plan yet: make one on the Pruning page or with `compressionlab plan allocate`, then evaluate it.",
        ReportSections.SoftTargets => "No soft-target comparison yet: compare a teacher on the Distillation page or with `compressionlab kd compare`.",
        ReportSections.Calibration => "No calibration yet: run it on the Quantization page or with `compressionlab calibrate`.",
        _ => $"No {section} yet.",
    };
}
