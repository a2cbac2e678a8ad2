using CompressionLab.Core.Distillation;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Reports;
using CompressionLab.Tests.Web;

namespace CompressionLab.Tests.Reports;

/// <summary>A report built by hand from small records whose numbers the tests know, with names chosen to be hostile.</summary>
internal static class ReportTestData
{
    public const string HostileModel = "<script>alert('model')</script>";
    public const string HostileLayer = "<img src=x onerror=alert(1)>";
    public const string HostileClass = "\"Coat\" & <b>Shirt</b>";
    public const string Hash = "033be89e6f03b0b6a79dfe60ca4033ba8be88f21fdeeb35999daea77747e9c22";

    public static readonly DateTimeOffset Created = new(2026, 12, 8, 1, 2, 0, TimeSpan.Zero);

    public static ReportModel Model => new(HostileModel, "vgg-tiny", Hash, "synthetic", "synthetic", 0.8765, 12_345);

    /// <summary>Dense 0.9; the hostile layer falls to 0.8 at 25 % and 0.5 at 50 %; a second layer stays flat.</summary>
    public static SensitivitySection Sensitivity() => new(new SweepCurves(new SweepIdentity(Hash, "synthetic", "validation/stratified-4/abc"), 0.9,
    [
        SensitivityCurve.Create(HostileLayer, PruningMethod.Element, 0.9, [new(0.25, 0.8), new(0.5, 0.5)]),
        SensitivityCurve.Create("fc2", PruningMethod.Element, 0.9, [new(0.25, 0.9), new(0.5, 0.85)]),
    ]), SubsetSize: 4);

    /// <summary>Two layers: the hostile one at 50 % (800 → 400 weights), fc2 excluded (200 weights).</summary>
    public static PlanSection Plan()
    {
        PlannedLayer[] layers =
        [
            new(HostileLayer, "stage1", 0.5, PruningMethod.Element, LevelSource.Stage),
            new("fc2", "classifier", 0, PruningMethod.Element, LevelSource.Excluded, "it is the output layer"),
        ];
        var dense = new PlanSize(new NetworkSize(1_010, 5_000, []), [new LayerWeights(HostileLayer, 800, 10, 80, 800), new LayerWeights("fc2", 200, 10, 20, 200)],
            new ModelBytes(4_040, 8_000, 1_100, 2_000));
        var pruned = new PlanSize(new NetworkSize(610, 3_000, []), [new LayerWeights(HostileLayer, 800, 10, 80, 400), new LayerWeights("fc2", 200, 10, 20, 200)],
            new ModelBytes(4_040, 4_800, 1_100, 1_500));
        var prediction = new PlanPrediction(0.9, 0.4, 0.5, [],
            [new LayerPrediction(layers[0], pruned.Layers[0], 0.4, false), new LayerPrediction(layers[1], pruned.Layers[1], 0, false)], dense, pruned);
        return new PlanSection("plan.json", new ResolvedPlan(layers), dense, pruned, prediction, new PlanMeasurement(0.6125, 0.9375, 1.2, 4, 0.1),
            "validation/stratified-4/abc");
    }

    /// <summary>Two classes, T = 1 and 4.</summary>
    public static SoftTargetSection SoftTargets() => new([HostileModel], "student", [HostileClass, "Bag"], 4, "validation/stratified-4/abc",
    [
        new TemperaturePoint(1, 0.3141, 0.2718, 0.05432, 0.05432, 0.75, [], [[0.9, 0.1], [0.2, 0.8]]),
        new TemperaturePoint(4, 0.6543, 0.6321, 0.01234, 0.19744, 0.75, [], [[0.7, 0.3], [0.35, 0.65]]),
    ], 4);

    /// <summary>The seeded profile's three layers, the first renamed hostile, thresholds by percentile:99.9.</summary>
    public static CalibrationSection Calibration()
    {
        var seeded = SeededCalibration.Profile(Hash);
        var profile = seeded with { Layers = [seeded.Layers[0] with { Layer = HostileLayer }, .. seeded.Layers.Skip(1)] };
        var choice = QuantizationChoice.AllLayers(ClippingMethod.Parse("percentile:99.9"));
        return CalibrationSection.From(profile, QuantizationThresholds.For(profile, choice), methodWasRun: true,
            [new Int8Result("percentile:99.9", "validation/first-512", 512, 0.8642, 0.8765)]);
    }

    public static CompressionReport Full() => new(Model, Created, "1.2.3")
    {
        Sensitivity = Sensitivity(),
        Plan = Plan(),
        SoftTargets = SoftTargets(),
        Calibration = Calibration(),
    };
}
