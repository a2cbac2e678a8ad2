using CompressionLab.Core.Data;
using CompressionLab.Core.Export;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Pruning;
using CompressionLab.Tests.Quantization;
using Google.Protobuf;
using Onnx;

namespace CompressionLab.Tests.Export;

/// <summary>
/// ONNX export checked in ONNX Runtime (an implementation independent of TorchSharp): float logits against the engine's
/// evaluation on every zoo architecture, and the INT8 QDQ graph's structure and accuracy against the INT8 simulation.
/// </summary>
[Collection(SerialCollection.Name)]
public class OnnxExportTests
{
    private static readonly Lazy<ClassifierNetwork> TrainedMlp = new(SensitivitySweepIntegrationTests.TrainBriefly);

    private static IReadOnlyDictionary<string, int>? Widths(string widths) => widths.Length == 0
        ? null
        : widths.Split(',').Select(w => w.Split('=')).ToDictionary(p => p[0], p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));

    public static TheoryData<string, string> Architectures() => new()
    {
        { ModelZoo.Lenet300100, "" },
        { ModelZoo.Lenet5, "" },
        { ModelZoo.VggSmall, "" },
        { ModelZoo.VggTiny, "" },
        { ModelZoo.VggSmall, "stage1.conv1=13,stage2.conv2=29,stage3.conv1=50" }, // thinned
        { ModelZoo.Lenet5, "stage1.conv1=4,classifier.fc1=77" },
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void FloatLogitsInOnnxRuntimeEqualTheEnginesEvaluationTo1e4(string architecture, string widths)
    {
        using var network = FoldedNetworkTests.RandomModel(architecture, 7, Widths(widths));
        var images = AnalysisSubset.Of(TestData.FashionMnist, SplitPart.Validation, 130).Images; // 3 batches, the last partial
        var model = OnnxExport.Float(network);
        using var onnx = OnnxInference.Load(model.ToByteArray(), threads: 1);

        var check = OnnxValidation.Float(onnx, network, images);

        Assert.True(check.MaxAbsDiff <= OnnxValidation.FloatTolerance, $"max |Δlogit| {check.MaxAbsDiff}");
        Assert.Equal(130, check.Images);
        Assert.Equal(check.TorchSharpTop1, Evaluator.Evaluate(network, images).Top1, 12); // the engine's number is the evaluation's
        Assert.Equal(13, model.OpsetImport.Single(o => o.Domain == "").Version);
        // The batch dimension is symbolic: one image runs as well as 130.
        Assert.Equal("N", model.Graph.Input.Single().Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(10, onnx.Logits(images, 5, 1).Length);
        // Folded, in eval mode: no BatchNorm or Dropout node is left.
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType is "BatchNormalization" or "Dropout");
    }

    [Fact]
    public void TheGraphTakesRawPixelsAndNormalisesThemAsTheEngineDoes()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.Lenet300100, 3);
        var model = OnnxExport.Float(network);
        var first = model.Graph.Node.Take(2).ToArray();
        Assert.Equal(["Mul", "Add"], first.Select(n => n.OpType));
        float Constant(string name) => BitConverter.ToSingle(model.Graph.Initializer.Single(i => i.Name == name).RawData.ToByteArray());
        // By hand: x/255 → (x − mean)/std is x·1/(255·std) − mean/std; a pixel of 255 is (1 − 0.2860)/0.3530 = 2.0227.
        Assert.Equal((1 - 0.2860) / 0.3530, (255 * Constant(first[0].Input[1])) + Constant(first[1].Input[1]), 4);
        Assert.Equal(-0.2860 / 0.3530, Constant(first[1].Input[1]), 5);
    }

    [Fact]
    public void PrunedWeightsExportAsZeros()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.Lenet300100, 4);
        using (TorchSharp.torch.no_grad())
        {
            network.LayerWeight("hidden.fc1").narrow(0, 0, 150).zero_(); // half of fc1's neurons pruned
        }
        var model = OnnxExport.Float(network);
        var weight = model.Graph.Initializer.Single(i => i.Name == "hidden.fc1.weight");
        var values = new float[weight.RawData.Length / 4];
        Buffer.BlockCopy(weight.RawData.ToByteArray(), 0, values, 0, weight.RawData.Length);
        Assert.Equal(150 * 784, values.Count(v => v == 0));
        using var onnx = OnnxInference.Load(model.ToByteArray(), threads: 1);
        Assert.True(OnnxValidation.Float(onnx, network, TestData.FashionMnist.Test.Take(64)).MaxAbsDiff <= OnnxValidation.FloatTolerance);
    }

    [Fact]
    public void Int8GraphHasPerTensorActivationsAndPerAxisInt8WeightsAtOpset13()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 11);
        var profile = CalibrationCollector.Collect(network, "hash", IdxDataset.FashionMnistName, AnalysisSubset.Of(TestData.FashionMnist, SplitPart.Validation, 64));
        var thresholds = QuantizationThresholds.For(profile, QuantizationChoice.Parse("symmetric", "mse", floatLayers: ["stage2.conv2"]));

        var model = OnnxExport.Int8(network, thresholds);
        var graph = model.Graph;
        Assert.Equal(13, model.OpsetImport.Single(o => o.Domain == "").Version);
        TensorProto Initializer(string name) => graph.Initializer.Single(i => i.Name == name);
        NodeProto Producer(string tensor) => graph.Node.Single(n => n.Output.Contains(tensor));

        foreach (var layer in network.Layers)
        {
            var conv = graph.Node.Single(n => n.Name == $"{layer.Name}/{(layer.Kind == LayerKind.Conv ? "Conv" : "Gemm")}");
            var t = thresholds.Layer(layer.Name);
            if (t.KeptFloat)
            {
                Assert.Equal((int)TensorProto.Types.DataType.Float, Initializer(conv.Input[1]).DataType);
                Assert.NotEqual("DequantizeLinear", graph.Node.SingleOrDefault(n => n.Output.Contains(conv.Input[0]))?.OpType);
                continue;
            }
            // Weight: int8 initializer, one float scale per output channel, DequantizeLinear on axis 0.
            var weightDq = Producer(conv.Input[1]);
            Assert.Equal("DequantizeLinear", weightDq.OpType);
            Assert.Equal(0, weightDq.Attribute.Single(a => a.Name == "axis").I);
            var q = Initializer(weightDq.Input[0]);
            Assert.Equal((int)TensorProto.Types.DataType.Int8, q.DataType);
            Assert.Equal(layer.WeightShape, q.Dims);
            Assert.Equal([layer.WeightShape[0]], Initializer(weightDq.Input[1]).Dims);
            var scales = new float[layer.WeightShape[0]];
            Buffer.BlockCopy(Initializer(weightDq.Input[1]).RawData.ToByteArray(), 0, scales, 0, scales.Length * 4);
            Assert.Equal(t.WeightGrids.Select(g => (float)g.Scale), scales);
            // Bias: int32 on input scale × weight scale.
            var biasDq = Producer(conv.Input[2]);
            Assert.Equal((int)TensorProto.Types.DataType.Int32, Initializer(biasDq.Input[0]).DataType);
            // Input: QuantizeLinear → DequantizeLinear per tensor, uint8 after a ReLU, int8 for the signed pixels.
            var inputDq = Producer(conv.Input[0]);
            Assert.Equal("DequantizeLinear", inputDq.OpType);
            var inputQ = Producer(inputDq.Input[0]);
            Assert.Equal("QuantizeLinear", inputQ.OpType);
            Assert.Empty(Initializer(inputQ.Input[1]).Dims);
            var zeroType = Initializer(inputQ.Input[2]).DataType;
            Assert.Equal(t.Input!.Mode == QuantizationMode.Unsigned ? (int)TensorProto.Types.DataType.Uint8 : (int)TensorProto.Types.DataType.Int8, zeroType);
            Assert.Equal((float)t.Input.Grid.Scale, BitConverter.ToSingle(Initializer(inputQ.Input[1]).RawData.ToByteArray()));
        }
        Assert.Equal(QuantizationMode.Symmetric, thresholds.Layer("stage1.conv1").Input!.Mode);
        Assert.Equal(QuantizationMode.Unsigned, thresholds.Layer("stage2.conv1").Input!.Mode);
        using var onnx = OnnxInference.Load(model.ToByteArray(), threads: 1);
        Assert.Equal(10, onnx.Logits(TestData.FashionMnist.Test, 0, 3).Length / 3);
    }

    [Fact]
    public void OnnxRuntimeRunsEveryQuantizedLayerOnAnIntegerKernel()
    {
        // Why the bias is int32 and a linear layer's input is also quantized before the flatten: ORT then fuses each
        // DQ→Conv/Gemm→Q into QLinearConv/QGemm (its optimised graph, written out, shows what it runs).
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 12);
        var profile = CalibrationCollector.Collect(network, "hash", IdxDataset.FashionMnistName, AnalysisSubset.Of(TestData.FashionMnist, SplitPart.Validation, 32));
        var thresholds = QuantizationThresholds.For(profile, QuantizationChoice.AllLayers(ClippingMethod.Parse("entropy")));
        var folder = Directory.CreateTempSubdirectory("clab-onnx-optimised-").FullName;
        try
        {
            var optimised = Path.Combine(folder, "optimised.onnx");
            using (var options = new Microsoft.ML.OnnxRuntime.SessionOptions { OptimizedModelFilePath = optimised })
            using (new Microsoft.ML.OnnxRuntime.InferenceSession(OnnxExport.Int8(network, thresholds).ToByteArray(), options))
            {
            }
            var ops = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimised)).Graph.Node.Select(n => n.OpType).ToArray();
            Assert.Equal(network.Layers.Count(l => l.Kind == LayerKind.Conv), ops.Count(o => o == "QLinearConv"));
            Assert.Equal(1, ops.Count(o => o == "QGemm"));
            Assert.DoesNotContain(ops, o => o is "Conv" or "FusedConv" or "Gemm" or "DequantizeLinear");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("max", false)]
    [InlineData("percentile:90", true)] // clips hard, quantizes the logits too
    public void OnATinyMlpOnnxRuntimesInt8LogitsEqualTheSimulationToAStep(string method, bool quantizeLogits)
    {
        using var network = Int8SimulationTests.TinyMlp(3);
        using var folded = FoldedNetwork.Fold(network);
        var images = Int8SimulationTests.Images(200, 5);
        var thresholds = QuantizationThresholds.For(Int8SimulationTests.Profile(folded, images), QuantizationChoice.Parse("symmetric", method, quantizeLogits: quantizeLogits));
        using var onnx = OnnxInference.Load(OnnxExport.Int8(network, thresholds).ToByteArray(), threads: 1);

        var check = OnnxValidation.Int8(onnx, network, thresholds, images);

        // ORT's integer kernels and the float simulation may round a value on a midpoint differently (one step of the
        // next grid); the output layer's inputs are 2 values whose step is below 0.05 here.
        var output = thresholds.Layer("classifier.fc");
        var step = output.Input!.Grid.Scale * output.WeightGrids.Max(g => g.Scale) * 2 + (quantizeLogits ? output.Logits!.Grid.Scale : 0);
        Assert.True(check.MaxAbsDiff <= Math.Max(1e-4, 2 * step) + 0.05, $"max |Δlogit| {check.MaxAbsDiff}");
        Assert.InRange(Math.Abs(check.OrtTop1 - check.TorchSharpTop1), 0, OnnxValidation.Int8Top1Tolerance);
    }

    [Theory]
    [InlineData("entropy", "symmetric")]
    [InlineData("mse", "symmetric")]
    [InlineData("mse", "asymmetric")] // the pixels on a uint8 grid with a zero point
    public void OnATrainedModelOnnxRuntimesInt8Top1IsWithinAThirdOfAPointOfTheSimulation(string method, string mode)
    {
        var network = TrainedMlp.Value;
        var profile = CalibrationCollector.Collect(network, "hash", IdxDataset.FashionMnistName, AnalysisSubset.Of(TestData.FashionMnist, SplitPart.Validation, 256));
        var thresholds = QuantizationThresholds.For(profile, QuantizationChoice.Parse(mode, method));
        Assert.Equal(mode == "asymmetric", thresholds.Layer("hidden.fc1").Input!.Grid.ZeroPoint != 0);
        var images = AnalysisSubset.Of(TestData.FashionMnist, SplitPart.Validation, 2000).Images;
        using var onnx = OnnxInference.Load(OnnxExport.Int8(network, thresholds).ToByteArray());

        var check = OnnxValidation.Int8(onnx, network, thresholds, images);

        Assert.True(check.TorchSharpTop1 > 0.6, $"simulated top-1 {check.TorchSharpTop1}: the model did not train");
        Assert.InRange(Math.Abs(check.OrtTop1 - check.TorchSharpTop1), 0, OnnxValidation.Int8Top1Tolerance);
        Assert.True(check.Disagreements <= 6, $"{check.Disagreements} of 2000 predictions differ");
        // And the INT8 graph is not the float one: its logits differ from the float engine's.
        using var floatOnnx = OnnxInference.Load(OnnxExport.Float(network).ToByteArray());
        var floatLogits = floatOnnx.Logits(images, 0, 64);
        var int8Logits = onnx.Logits(images, 0, 64);
        Assert.True(floatLogits.Zip(int8Logits).Max(p => Math.Abs(p.First - p.Second)) > 1e-3);
    }

    [Fact]
    public void ThresholdsOfAnotherModelAreRefusedNamingTheLayers()
    {
        using var mlp = Int8SimulationTests.TinyMlp(1);
        using var folded = FoldedNetwork.Fold(mlp);
        var thresholds = QuantizationThresholds.For(Int8SimulationTests.Profile(folded, Int8SimulationTests.Images(8, 1)), QuantizationChoice.AllLayers(ClippingMethod.Parse("max")));
        using var lenet5 = FoldedNetworkTests.RandomModel(ModelZoo.Lenet5, 1);
        var wrongLayers = Assert.Throws<ArgumentException>(() => OnnxExport.Int8(lenet5, thresholds));
        Assert.Contains("hidden.fc1", wrongLayers.Message);
        Assert.Contains("stage1.conv1", wrongLayers.Message);

        // Same layer names, another width: named by layer and channel count.
        using var wider = ModelZoo.Create(ModelZoo.Lenet300100, classCount: 3, inputHeight: 2, inputWidth: 2,
            widths: new Dictionary<string, int> { ["hidden.fc1"] = 5, ["hidden.fc2"] = 2 });
        var wrongWidth = Assert.Throws<ArgumentException>(() => OnnxExport.Int8(wider, thresholds));
        Assert.Contains("hidden.fc1", wrongWidth.Message);
        Assert.Contains("3 weight channels", wrongWidth.Message);
    }

    [Fact]
    public void ACorruptFileOrImagesOfAnotherSizeGetAClearError()
    {
        var corrupt = Assert.Throws<InvalidDataException>(() => OnnxInference.Load([1, 2, 3, 4, 5, 6, 7]));
        Assert.Contains("ONNX Runtime cannot load the model", corrupt.Message);

        using var network = FoldedNetworkTests.RandomModel(ModelZoo.Lenet300100, 2);
        var bytes = OnnxExport.Float(network).ToByteArray();
        var truncated = Assert.Throws<InvalidDataException>(() => OnnxInference.Load(bytes[..(bytes.Length / 2)]));
        Assert.Contains("ONNX Runtime", truncated.Message);

        using var onnx = OnnxInference.Load(bytes, threads: 1);
        var small = Int8SimulationTests.Images(4, 1); // 2×2 images
        var wrongSize = Assert.Throws<ArgumentException>(() => onnx.Logits(small, 0, 4));
        Assert.Contains("28×28", wrongSize.Message);
    }
}
