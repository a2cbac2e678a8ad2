using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

/// <summary>
/// The simulation against an independent computation: a 4-3-2-3 MLP (lenet-300-100's shape, tiny) whose inputs and
/// weights are quantized by hand with <see cref="QuantizationGrid.RoundTrip"/> and run through plain double loops.
/// </summary>
[Collection(SerialCollection.Name)]
public class Int8SimulationTests
{
    private const string Fc1 = "hidden.fc1";
    private const string Fc2 = "hidden.fc2";
    private const string Fc = "classifier.fc";

    /// <summary>lenet-300-100 at widths 3 and 2 on 2×2 images, 3 classes, weights and biases from a seeded System.Random.</summary>
    internal static ClassifierNetwork TinyMlp(int seed)
    {
        var network = ModelZoo.Create(ModelZoo.Lenet300100, classCount: 3, inputHeight: 2, inputWidth: 2,
            widths: new Dictionary<string, int> { [Fc1] = 3, [Fc2] = 2 });
        var random = new Random(seed);
        using var noGrad = no_grad();
        foreach (var (_, parameter) in network.named_parameters())
        {
            var values = Enumerable.Range(0, (int)parameter.numel()).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
            using var given = tensor(values).view(parameter.shape);
            parameter.copy_(given);
        }
        network.eval();
        return network;
    }

    /// <summary>Seeded 2×2 images with labels 0..2.</summary>
    internal static LabeledImages Images(int count, int seed)
    {
        var random = new Random(seed);
        var pixels = new byte[count * 4];
        random.NextBytes(pixels);
        var labels = Enumerable.Range(0, count).Select(_ => (byte)random.Next(3)).ToArray();
        return new LabeledImages("tiny", pixels, labels, 2, 2, ["a", "b", "c"]);
    }

    /// <summary>Records every layer's input and output as [samples][values] (an independent stand-in for the collector).</summary>
    private sealed class Recorder : IFoldedObserver
    {
        public Dictionary<string, List<float[]>> Inputs { get; } = [];
        public Dictionary<string, List<float[]>> Outputs { get; } = [];

        public Tensor Input(string layer, Tensor x)
        {
            Add(Inputs, layer, x);
            return x;
        }

        public void Output(string layer, Tensor y) => Add(Outputs, layer, y);

        private static void Add(Dictionary<string, List<float[]>> into, string layer, Tensor x)
        {
            var rows = x.reshape(x.shape[0], -1).contiguous();
            var list = into.TryGetValue(layer, out var existing) ? existing : into[layer] = [];
            for (var i = 0; i < rows.shape[0]; i++) list.Add(rows[i].data<float>().ToArray());
        }
    }

    /// <summary>A calibration profile of <paramref name="folded"/> on <paramref name="images"/>, built from recorded tensors.</summary>
    internal static CalibrationProfile Profile(FoldedNetwork folded, LabeledImages images)
    {
        var recorder = new Recorder();
        using (var inputs = ImageTensors.Inputs(images))
        using (folded.Forward(inputs, recorder))
        {
        }
        var layers = folded.Layers.Select(layer =>
        {
            var (min, max) = FakeQuantization.ChannelRanges(layer.Name, layer.Weight);
            var input = recorder.Inputs[layer.Name];
            return new LayerProfile(layer.Name, layer.Kind, input.All(s => s.All(v => v >= 0)), layer.IsOutputLayer,
                QuantizationThresholdsTests.Tensor(layer.Name, TensorRole.Input, [.. input]),
                QuantizationThresholdsTests.Tensor(layer.Name, TensorRole.Output, [.. recorder.Outputs[layer.Name]]),
                QuantizationThresholdsTests.Tensor(layer.Name, TensorRole.Weight, [layer.Weight.reshape(-1).data<float>().ToArray()]),
                min, max);
        }).ToList();
        return new CalibrationProfile(folded.Architecture, "hash", images.Name, "key", images.Count, layers, 0);
    }

    /// <summary>The simulated logits computed by hand: RoundTrip on inputs and weights, then double dot products and ReLU.</summary>
    private static double[][] HandLogits(FoldedNetwork folded, QuantizationThresholds thresholds, LabeledImages images)
    {
        using var inputs = ImageTensors.Inputs(images);
        var rows = inputs.reshape(images.Count, -1);
        var result = new double[images.Count][];
        for (var n = 0; n < images.Count; n++)
        {
            var x = rows[n].data<float>().Select(v => (double)v).ToArray();
            foreach (var layer in folded.Layers)
            {
                var t = thresholds.Layer(layer.Name);
                var w = layer.Weight.data<float>().ToArray();
                var b = layer.Bias.data<float>().ToArray();
                var (outputs, fanIn) = ((int)layer.Weight.shape[0], (int)layer.Weight.shape[1]);
                if (!t.KeptFloat) x = [.. x.Select(v => t.Input!.Grid.RoundTrip(v))];
                var y = new double[outputs];
                for (var o = 0; o < outputs; o++)
                {
                    double sum = b[o];
                    for (var i = 0; i < fanIn; i++) sum += (t.KeptFloat ? w[(o * fanIn) + i] : t.WeightGrids[o].RoundTrip(w[(o * fanIn) + i])) * x[i];
                    y[o] = layer.IsOutputLayer ? sum : Math.Max(0, sum);
                }
                if (t.Logits is { } logits) y = [.. y.Select(v => logits.Grid.RoundTrip(v))];
                x = y;
            }
            result[n] = x;
        }
        return result;
    }

    public static TheoryData<string, string[], bool> Choices() => new()
    {
        { "max", [], false },
        { "percentile:90", [], false },   // clips: the hand grid's clamp is exercised
        { "avg", [Fc2], false },          // one layer kept in float
        { "nstd:1", [], true },           // logits quantized too
    };

    [Theory]
    [MemberData(nameof(Choices))]
    public void SimulatedLogitsEqualTheHandComputation(string method, string[] floatLayers, bool quantizeLogits)
    {
        using var network = TinyMlp(3);
        using var folded = FoldedNetwork.Fold(network);
        var images = Images(40, 5);
        var profile = Profile(folded, images);
        var choice = QuantizationChoice.Parse("symmetric", method, floatLayers: floatLayers, quantizeLogits: quantizeLogits);
        var thresholds = QuantizationThresholds.For(profile, choice);
        // fc2's input follows a ReLU: the unsigned grid; fc1's (normalised pixels) is signed.
        Assert.Equal(QuantizationMode.Symmetric, thresholds.Layer(Fc1).Input!.Mode);
        Assert.Equal(floatLayers.Length == 0, thresholds.Layer(Fc2).Input is { Mode: QuantizationMode.Unsigned });

        var expected = HandLogits(folded, thresholds, images);
        using var quantized = Int8Simulation.WithQuantizedWeights(folded, thresholds);
        using var inputs = ImageTensors.Inputs(images);
        using var actual = Int8Simulation.Forward(quantized, thresholds, inputs);
        var values = actual.data<float>().ToArray();
        for (var n = 0; n < images.Count; n++)
            for (var c = 0; c < 3; c++)
                Assert.True(Math.Abs(values[(n * 3) + c] - expected[n][c]) <= 1e-5, $"image {n}, class {c}: {values[(n * 3) + c]} vs hand {expected[n][c]}");

        // And quantization did something: the float logits differ.
        using var floatLogits = folded.Forward(inputs);
        using var moved = (floatLogits - actual).abs().max();
        Assert.True(moved.item<float>() > 1e-4);

        // Evaluate scores the same logits: top-1 from the hand logits.
        var handTop1 = Enumerable.Range(0, images.Count).Count(n => Array.IndexOf(expected[n], expected[n].Max()) == images.Labels[n]) / (double)images.Count;
        Assert.Equal(handTop1, Int8Simulation.Evaluate(folded, thresholds, images).Top1, 12);
        Assert.Equal(handTop1, Int8Simulation.Top1(folded, profile, choice, images), 12);
    }

    [Fact]
    public void FloatLayersKeepTheirWeightsBitForBit()
    {
        using var network = TinyMlp(4);
        using var folded = FoldedNetwork.Fold(network);
        var thresholds = QuantizationThresholds.For(Profile(folded, Images(16, 1)), QuantizationChoice.Parse("symmetric", "max", floatLayers: [Fc1]));
        using var quantized = Int8Simulation.WithQuantizedWeights(folded, thresholds);
        using var kept = quantized.Layer(Fc1).Weight.eq(folded.Layer(Fc1).Weight).all();
        Assert.True(kept.item<bool>());
        using var changed = quantized.Layer(Fc2).Weight.eq(folded.Layer(Fc2).Weight).all();
        Assert.False(changed.item<bool>());
        // Every quantized weight is a point of its channel's grid.
        var grids = thresholds.Layer(Fc2).WeightGrids;
        var w = quantized.Layer(Fc2).Weight;
        for (var o = 0; o < w.shape[0]; o++)
            foreach (var v in w[o].data<float>().ToArray())
                Assert.Equal(Math.Round(v / grids[o].Scale), v / grids[o].Scale, 4);
    }

    [Fact]
    public void AllLayersInFloatEqualsTheFloatEvaluationExactly()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 21);
        using var folded = FoldedNetwork.Fold(network);
        var images = AnalysisSubset.Of(TestData.FashionMnist, SplitPart.Validation, 150).Images; // 3 batches, the last partial
        var profile = Profile(folded, images.Take(32));
        var choice = QuantizationChoice.Parse("symmetric", "entropy", floatLayers: folded.Layers.Select(l => l.Name));
        var simulated = Int8Simulation.Evaluate(folded, QuantizationThresholds.For(profile, choice), images);
        var plain = Int8Simulation.EvaluateFloat(folded, images);
        Assert.Equal(plain.Top1, simulated.Top1);
        Assert.Equal(plain.Loss, simulated.Loss);
        Assert.Equal(plain.ConfusionMatrix.Select(r => r.ToArray()), simulated.ConfusionMatrix.Select(r => r.ToArray()));
        Assert.Equal(150, simulated.Samples);

        // The same network quantized scores other logits (the loss moves).
        var quantized = Int8Simulation.Evaluate(folded, QuantizationThresholds.For(profile, QuantizationChoice.Parse("symmetric", "max")), images);
        Assert.NotEqual(plain.Loss, quantized.Loss);
    }

    /// <summary>x quantized–dequantized element by element with <see cref="QuantizationGrid.RoundTrip"/>, as a new NCHW tensor.</summary>
    private static Tensor HandRoundTrip(Tensor x, Func<long, QuantizationGrid> gridOfRow)
    {
        var contiguous = x.contiguous();
        var rows = contiguous.shape[0];
        var perRow = contiguous.numel() / rows;
        var values = contiguous.data<float>().ToArray();
        for (long i = 0; i < values.Length; i++) values[i] = (float)gridOfRow(i / perRow).RoundTrip(values[i]);
        return tensor(values).view(contiguous.shape);
    }

    [Fact]
    public void OnAConvNetworkTheSimulationFollowsAHandPipelineOfConvReluPoolOnHandQuantizedTensors()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 31);
        using var folded = FoldedNetwork.Fold(network);
        var profile = CalibrationCollector.Collect(network, "hash", "fashion-mnist", AnalysisSubset.Of(TestData.FashionMnist, SplitPart.Validation, 32));
        var thresholds = QuantizationThresholds.For(profile, QuantizationChoice.AllLayers(ClippingMethod.Parse("percentile:99.99")));
        var images = TestData.FashionMnist.Test.Take(4);
        using var inputs = ImageTensors.Inputs(images);

        // The hand pipeline: NCHW, plain conv2d / linear on weights and inputs quantized by RoundTrip.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = inputs.alias();
        foreach (var layer in folded.Layers)
        {
            var t = thresholds.Layer(layer.Name);
            if (layer.Kind == LayerKind.Linear) x = x.flatten(1);
            x = HandRoundTrip(x, _ => t.Input!.Grid);
            var w = HandRoundTrip(layer.Weight, c => t.WeightGrids[(int)c]);
            x = layer.Kind == LayerKind.Conv ? nn.functional.conv2d(x, w, layer.Bias, padding: [1, 1]) : nn.functional.linear(x, w, layer.Bias);
            if (layer.IsOutputLayer) break;
            x = x.relu();
            if (layer.Name.EndsWith("conv2", StringComparison.Ordinal)) x = nn.functional.max_pool2d(x, 2);
        }
        using var quantized = Int8Simulation.WithQuantizedWeights(folded, thresholds);
        var simulated = Int8Simulation.Forward(quantized, thresholds, inputs);
        var plain = folded.Forward(inputs);

        // The two differ only where float rounding (channels-last vs NCHW convs) moves a value across a rounding
        // midpoint of the next grid (one step, rarely): far closer to each other than either is to float.
        var handError = (simulated - x).abs().max().item<float>();
        var quantizationEffect = (plain - x).abs().max().item<float>();
        Assert.True(quantizationEffect > 1e-3, $"quantization moved the logits by only {quantizationEffect}");
        Assert.True(handError <= 0.1 * quantizationEffect, $"simulated vs hand {handError}, float vs hand {quantizationEffect}");
    }
}
