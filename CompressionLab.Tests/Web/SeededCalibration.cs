using System.Text.Json;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Quantization;
using CompressionLab.Web.Components.Pages.Quantization;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Web;

/// <summary>
/// A calibration profile built from known distributions (no network, no collection): a first conv fed signed
/// images, a hidden conv after a ReLU whose input has a few far outliers, and the output layer; plus a backend that
/// serves it and records the jobs the page starts.
/// </summary>
internal static class SeededCalibration
{
    public const string First = "features.conv1";
    public const string Hidden = "features.conv2";
    public const string Output = "classifier.fc";

    /// <param name="weightsHash">The model's content hash the profile belongs to.</param>
    public static CalibrationProfile Profile(string weightsHash, int images = 512)
    {
        var signed = QuantTestData.Gaussian(20_000, 0, 1, seed: 1);
        // After ReLU: a Laplace body rectified, plus 4 values far out (the tail clipping methods disagree on).
        var rectified = QuantTestData.Laplace(20_000, 0, 0.5, seed: 2).Select(v => Math.Max(v, 0f)).Concat([40f, 42f, 45f, 50f]).ToArray();
        var logitsInput = QuantTestData.Gaussian(5_000, 0, 1, seed: 3).Select(v => Math.Abs(v)).ToArray();
        return new CalibrationProfile("vgg-tiny", weightsHash, "synthetic", $"validation/first-{images}", images,
        [
            Layer(First, LayerKind.Conv, inputNonNegative: false, output: false, signed,
                channelMin: [-0.5, -0.4, -0.01, -0.6], channelMax: [0.5, 0.3, 0.02, 0.7]),
            Layer(Hidden, LayerKind.Conv, inputNonNegative: true, output: false, rectified,
                channelMin: [-0.2, -0.25, -0.3, -0.001, -0.2, -0.2], channelMax: [0.2, 0.25, 0.3, 0.002, 0.21, 0.19]),
            Layer(Output, LayerKind.Linear, inputNonNegative: true, output: true, logitsInput,
                channelMin: [-1, -1, -1], channelMax: [1, 1, 1]),
        ], CollectSeconds: 1.5);
    }

    private static LayerProfile Layer(string name, LayerKind kind, bool inputNonNegative, bool output, float[] input,
        double[] channelMin, double[] channelMax)
    {
        var weights = channelMin.Concat(channelMax).Select(v => (float)v).ToArray();
        return new LayerProfile(name, kind, inputNonNegative, output,
            Tensor(name, TensorRole.Input, input),
            Tensor(name, TensorRole.Output, input.Select(v => (v * 2) - 1).ToArray()),
            Tensor(name, TensorRole.Weight, weights),
            channelMin, channelMax);
    }

    private static TensorProfile Tensor(string layer, TensorRole role, float[] values)
    {
        var statistics = new TensorStatistics(layer, role.Text());
        // 100 values a sample, so Distiller's per-sample extremes (avg) mean something.
        using (var batch = tensor(values[..(values.Length / 100 * 100)]).reshape(-1, 100))
        {
            statistics.Add(batch);
        }
        var magnitude = new ActivationHistogram(HistogramMode.Symmetric, layer, role.Text());
        magnitude.Add(values);
        var signedHistogram = new ActivationHistogram(HistogramMode.Asymmetric, layer, role.Text());
        signedHistogram.Add(values);
        return new TensorProfile(layer, role, statistics, magnitude, signedHistogram);
    }
}

/// <summary>
/// Serves profiles from a dictionary (the "workspace cache") and queues jobs on the fake scheduler whose work does
/// what the real ones leave behind: the collection stores the seeded profile, the comparison and the ranking return
/// the results a test sets.
/// </summary>
internal sealed class FakeQuantizationBackend(FakeJobScheduler scheduler) : QuantizationBackend
{
    public const string Collect = "calibration-collect";
    public const string Compare = "int8-comparison";
    public const string Rank = "int8-sensitivity";

    public Dictionary<(string Hash, int Images), CalibrationProfile> Stored { get; } = [];

    public List<QuantizationChoice> Compared { get; } = [];

    public int Collects { get; private set; }

    /// <summary>What the comparison job returns for a mix.</summary>
    public Func<QuantizationChoice, Int8Comparison> Comparison { get; set; } = mix => new Int8Comparison(512, 0.9,
        [new("float", null, 0.9), new("max", "symmetric max; logits float", 0.85), new(MixLabel, mix.Key, 0.88)]);

    public Int8Sensitivity Sensitivity { get; set; } = new(512, 0.9,
        [new SensitivityRow(SeededCalibration.Hidden, "entropy", 0.7), new(SeededCalibration.First, "entropy", 0.89), new(SeededCalibration.Output, "entropy", 0.9)]);

    public override string CollectKind => Collect;

    public override string ComparisonKind => Compare;

    public override string SensitivityKind => Rank;

    public override CalibrationProfile? FindProfile(ModelRecord model, int subsetSize) =>
        Stored.GetValueOrDefault((model.ContentHash, subsetSize));

    public override JobSnapshot StartCollect(ModelRecord model, int subsetSize)
    {
        Collects++;
        return scheduler.Enqueue(Collect, $"Collect calibration statistics of {model.DisplayName} on {subsetSize} images", "{}", (_, _) =>
        {
            Stored[(model.ContentHash, subsetSize)] = SeededCalibration.Profile(model.ContentHash, subsetSize);
            return Task.FromResult<string?>(null);
        });
    }

    public override JobSnapshot StartComparison(ModelRecord model, int subsetSize, QuantizationChoice mix)
    {
        Compared.Add(mix);
        return scheduler.Enqueue(Compare, $"Compare INT8 choices for {model.DisplayName}", "{}",
            (_, _) => Task.FromResult<string?>(JsonSerializer.Serialize(Comparison(mix))));
    }

    public override JobSnapshot StartSensitivity(ModelRecord model, int subsetSize, QuantizationChoice choice) =>
        scheduler.Enqueue(Rank, $"Rank the layers of {model.DisplayName}", "{}", (_, _) => Task.FromResult<string?>(JsonSerializer.Serialize(Sensitivity)));

    public override Int8Comparison ReadComparison(string resultJson) => JsonSerializer.Deserialize<Int8Comparison>(resultJson)!;

    public override Int8Sensitivity ReadSensitivity(string resultJson) => JsonSerializer.Deserialize<Int8Sensitivity>(resultJson)!;
}
