using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

/// <summary>Thresholds from a hand-made profile whose ranges are known: every expected scale is computed by hand below.</summary>
public class QuantizationThresholdsTests
{
    /// <summary>A tensor's profile from its values, laid out as [samples, values per sample].</summary>
    internal static TensorProfile Tensor(string layer, TensorRole role, float[][] samples)
    {
        var name = role.ToString().ToLowerInvariant();
        var statistics = new TensorStatistics(layer, name);
        var magnitude = new ActivationHistogram(HistogramMode.Symmetric, layer, name);
        var signed = new ActivationHistogram(HistogramMode.Asymmetric, layer, name);
        var flat = samples.SelectMany(s => s).ToArray();
        using (var t = tensor(flat).view(samples.Length, samples[0].Length)) statistics.Add(t);
        magnitude.Add(flat);
        signed.Add(flat);
        return new TensorProfile(layer, role, statistics, magnitude, signed);
    }

    /// <summary>
    /// Layer a: non-negative input {0, 0.5, 1, 2, 4}, two output channels with weight ranges [−0.5, 0.25] and [−1, 2].
    /// Layer b (the output layer): signed input, two samples [−3, 1, 0] and [−1, 2, 0] (avg_min −2, avg_max 1.5), logits {−6, 1, 5}.
    /// </summary>
    internal static CalibrationProfile HandProfile()
    {
        var weight = Tensor("a", TensorRole.Weight, [[-0.5f, 0.25f, -1f, 2f]]);
        var a = new LayerProfile("a", LayerKind.Linear, InputNonNegative: true, IsOutputLayer: false,
            Tensor("a", TensorRole.Input, [[0f, 0.5f, 1f, 2f, 4f]]), Tensor("a", TensorRole.Output, [[1f, -1f]]), weight,
            [-0.5, -1], [0.25, 2]);
        var b = new LayerProfile("b", LayerKind.Linear, InputNonNegative: false, IsOutputLayer: true,
            Tensor("b", TensorRole.Input, [[-3f, 1f, 0f], [-1f, 2f, 0f]]), Tensor("b", TensorRole.Output, [[-6f, 1f, 5f]]),
            Tensor("b", TensorRole.Weight, [[0.1f, -0.3f]]), [-0.3], [0.1]);
        return new CalibrationProfile("hand", "hash", "data", "validation/stratified-2/x", 2, [a, b], 0);
    }

    private static void AssertGrid(ClippingResult? clip, QuantizationMode mode, double min, double max, double scale, int zero)
    {
        Assert.NotNull(clip);
        Assert.Equal(mode, clip.Mode);
        Assert.Equal(min, clip.Min, 12);
        Assert.Equal(max, clip.Max, 12);
        Assert.Equal(scale, clip.Scale, 12);
        Assert.Equal(zero, clip.ZeroPoint);
    }

    [Fact]
    public void SymmetricMax_UnsignedGridForTheNonNegativeInput_SymmetricForTheSigned_WeightsPerChannel_LogitsFloat()
    {
        var thresholds = QuantizationThresholds.For(HandProfile(), QuantizationChoice.AllLayers(ClippingMethod.Parse("max")));

        var a = thresholds.Layer("a");
        Assert.False(a.KeptFloat);
        AssertGrid(a.Input, QuantizationMode.Unsigned, 0, 4, 4.0 / 255, 0); // [0, 255] over [0, 4]
        Assert.Equal(0, a.Input!.ClippedFraction);
        Assert.Equal([0.5 / 127, 2.0 / 127], a.WeightGrids.Select(g => g.Scale));
        Assert.All(a.WeightGrids, g => Assert.Equal((0, -127, 127), (g.ZeroPoint, g.QMin, g.QMax)));
        Assert.Null(a.Logits);

        var b = thresholds.Layer("b");
        AssertGrid(b.Input, QuantizationMode.Symmetric, -3, 3, 3.0 / 127, 0);
        Assert.Equal([0.3 / 127], b.WeightGrids.Select(g => g.Scale));
        Assert.Null(b.Logits); // Distiller's lesson: logits stay float unless asked
    }

    [Fact]
    public void Asymmetric_SignedInputOnItsXRange_NonNegativeInputStillUnsigned_LogitsWhenAsked()
    {
        var choice = new QuantizationChoice(QuantizationMode.Asymmetric, ClippingMethod.Parse("max"), QuantizeLogits: true);
        var thresholds = QuantizationThresholds.For(HandProfile(), choice);

        AssertGrid(thresholds.Layer("a").Input, QuantizationMode.Unsigned, 0, 4, 4.0 / 255, 0);
        // [−3, 2]: s = 5/255, z = round(3/s) = 153.
        AssertGrid(thresholds.Layer("b").Input, QuantizationMode.Asymmetric, -3, 2, 5.0 / 255, 153);
        // Logits [−6, 5]: s = 11/255, z = round(6·255/11) = round(139.09) = 139; only the output layer has them.
        AssertGrid(thresholds.Layer("b").Logits, QuantizationMode.Asymmetric, -6, 5, 11.0 / 255, 139);
        Assert.Null(thresholds.Layer("a").Logits);
        // Weights stay symmetric per channel in either mode.
        Assert.Equal([0.5 / 127, 2.0 / 127], thresholds.Layer("a").WeightGrids.Select(g => g.Scale));
    }

    [Fact]
    public void OverrideAndFloatLayer()
    {
        // b on Distiller's AVG: mean of the per-sample extremes, min (−3 −1)/2 = −2, max (1 + 2)/2 = 1.5 → amax 2.
        var choice = QuantizationChoice.Parse("symmetric", "max", [new("b", "avg")], ["a"], quantizeLogits: true);
        var thresholds = QuantizationThresholds.For(HandProfile(), choice);

        var a = thresholds.Layer("a");
        Assert.True(a.KeptFloat);
        Assert.Null(a.Method);
        Assert.Empty(a.WeightGrids);

        var b = thresholds.Layer("b");
        Assert.Equal("avg", b.Method!.Name);
        AssertGrid(b.Input, QuantizationMode.Symmetric, -2, 2, 2.0 / 127, 0);
        Assert.True(b.Input!.ClippedFraction > 0); // −3 lies beyond the clip
        // Logits on b's method (avg over the one sample [−6, 1, 5]: −6 and 5) → amax 6.
        AssertGrid(b.Logits, QuantizationMode.Symmetric, -6, 6, 6.0 / 127, 0);
    }

    [Fact]
    public void ValidationNamesTheSetting()
    {
        var profile = HandProfile();
        var unknown = Assert.Throws<InvalidRequestException>(() =>
            QuantizationThresholds.For(profile, QuantizationChoice.Parse("symmetric", "max", [new("c", "mse")])));
        Assert.Equal(nameof(QuantizationChoice.LayerMethods), unknown.Setting);
        Assert.Contains("'c'", unknown.Message);
        Assert.Contains("a, b", unknown.Message);

        var unknownFloat = Assert.Throws<InvalidRequestException>(() =>
            QuantizationThresholds.For(profile, QuantizationChoice.Parse("symmetric", "max", floatLayers: ["fc9"])));
        Assert.Equal(nameof(QuantizationChoice.FloatLayers), unknownFloat.Setting);
        Assert.Contains("'fc9'", unknownFloat.Message);

        Assert.Equal(nameof(QuantizationChoice.Method),
            Assert.Throws<InvalidRequestException>(() => QuantizationChoice.Parse("symmetric", "percentile:101")).Setting);
        var badOverride = Assert.Throws<InvalidRequestException>(() => QuantizationChoice.Parse("symmetric", "max", [new("b", "kl")]));
        Assert.Equal(nameof(QuantizationChoice.LayerMethods), badOverride.Setting);
        Assert.Contains("Layer b", badOverride.Message);
        Assert.Contains("'kl'", badOverride.Message);
        Assert.Equal(nameof(QuantizationChoice.Mode), Assert.Throws<InvalidRequestException>(() => QuantizationChoice.Parse("unsigned", "max")).Setting);
        Assert.Equal(nameof(QuantizationChoice.Mode), Assert.Throws<InvalidRequestException>(() =>
            QuantizationThresholds.For(profile, new QuantizationChoice(QuantizationMode.Unsigned, ClippingMethod.Parse("max")))).Setting);
    }

    [Fact]
    public void EntropyNeedsAMagnitudeHistogram_RefusedForASignedInputInAsymmetricMode_FineForTheNonNegativeOne()
    {
        var profile = HandProfile();
        var refused = Assert.Throws<InvalidRequestException>(() =>
            QuantizationThresholds.For(profile, new QuantizationChoice(QuantizationMode.Asymmetric, ClippingMethod.Parse("entropy"))));
        Assert.Equal(nameof(QuantizationChoice.Method), refused.Setting);
        Assert.Contains("Layer b", refused.Message);

        // With b on max, a (non-negative input → unsigned grid on |x|) can use entropy in asymmetric mode.
        var choice = QuantizationChoice.Parse("asymmetric", "entropy", [new("b", "max")]);
        Assert.Equal(QuantizationMode.Unsigned, QuantizationThresholds.For(profile, choice).Layer("a").Input!.Mode);
    }

    [Fact]
    public void KeyIsCanonical_EqualChoicesAreEqual()
    {
        var one = QuantizationChoice.Parse("symmetric", "entropy", [new("b", "mse"), new("a", "max")], ["b", "a"]);
        var two = QuantizationChoice.Parse("Symmetric", "ENTROPY", [new("a", "max"), new("b", "mse")], ["a", "b"]);
        Assert.Equal("symmetric entropy; a=max, b=mse; float: a, b; logits float", one.Key);
        Assert.Equal(one, two);
        Assert.Equal(one.GetHashCode(), two.GetHashCode());
        // An override equal to the default method changes nothing.
        Assert.Equal(QuantizationChoice.AllLayers(ClippingMethod.Parse("mse")), QuantizationChoice.Parse("symmetric", "mse", [new("a", "mse")]));
        Assert.NotEqual(one, one with { QuantizeLogits = true });
    }
}
