using CompressionLab.Core.Quantization;

namespace CompressionLab.Tests.Quantization;

public class Int8MixSuggestionTests
{
    private static readonly ClippingMethod Max = ClippingMethod.Parse("max");
    private static readonly ClippingMethod Mse = ClippingMethod.Parse("mse");
    private static readonly ClippingMethod Entropy = ClippingMethod.Parse("entropy");

    private static LayerSensitivity Row(string layer, ClippingMethod method, double top1, double loss) =>
        new(layer, method.Name, new Int8Measurement(top1, 1, loss, 100, 0), false);

    private static readonly LayerSensitivity[] Measured =
    [
        Row("a", Max, 0.90, 0.40), Row("a", Mse, 0.91, 0.30), Row("a", Entropy, 0.92, 0.35),   // a: mse (lowest loss, though entropy's top-1 is higher)
        Row("b", Max, 0.80, 0.50), Row("b", Mse, 0.85, 0.50), Row("b", Entropy, 0.70, 0.60),   // b: loss tie → higher top-1: mse
        Row("c", Max, 0.93, 0.20), Row("c", Mse, 0.93, 0.20), Row("c", Entropy, 0.93, 0.25),   // c: full tie → the earlier method: max
    ];

    [Fact]
    public void BestMethodPerLayerIsTheLowestOneLayerLossThenHigherTop1ThenMethodOrder()
    {
        var best = Int8MixSuggestion.BestMethods(["a", "b", "c"], [Max, Mse, Entropy], Measured);
        Assert.Equal([("a", "mse"), ("b", "mse"), ("c", "max")], best.Select(b => (b.Key, b.Value.Name)).Order());
    }

    [Fact]
    public void SensitivityOrderIsTheLargestOneLayerDropWithTheChosenMethod()
    {
        var best = Int8MixSuggestion.BestMethods(["a", "b", "c"], [Max, Mse, Entropy], Measured);
        // With their chosen methods: a 0.91, b 0.85, c 0.93 → b, a, c.
        Assert.Equal(["b", "a", "c"], Int8MixSuggestion.SensitivityOrder(["a", "b", "c"], best, Measured));
        // Equal top-1: the larger loss first, then layer order.
        LayerSensitivity[] ties = [Row("x", Max, 0.9, 0.2), Row("y", Max, 0.9, 0.3), Row("z", Max, 0.9, 0.2)];
        var all = new Dictionary<string, ClippingMethod> { ["x"] = Max, ["y"] = Max, ["z"] = Max };
        Assert.Equal(["y", "x", "z"], Int8MixSuggestion.SensitivityOrder(["x", "y", "z"], all, ties));
    }

    [Fact]
    public void MixUsesTheMostCommonBestMethodAsDefaultAndOverridesTheRest()
    {
        var best = Int8MixSuggestion.BestMethods(["a", "b", "c"], [Max, Mse, Entropy], Measured);
        var mix = Int8MixSuggestion.Mix(QuantizationMode.Symmetric, [Max, Mse, Entropy], best, ["b"]);
        Assert.Equal("symmetric mse; c=max; float: b; logits float", mix.Key);
        Assert.Equal("max", mix.MethodFor("c").Name);
        Assert.Equal("mse", mix.MethodFor("a").Name);
        Assert.True(mix.IsKeptFloat("b"));
    }
}
