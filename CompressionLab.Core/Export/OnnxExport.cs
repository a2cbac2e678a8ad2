using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using Onnx;
using static TorchSharp.torch;
using W = CompressionLab.Core.Export.OnnxGraphWriter;

namespace CompressionLab.Core.Export;

/// <summary>
/// What an exported graph eats and returns. The input is raw pixels, as stored in the IDX files, and the graph normalises
/// them itself with the engine's arithmetic (<see cref="ImageTensors.Normalize"/>: x·1/(255·std) − mean/std, both
/// constants float32), so no caller can get the normalisation wrong.
/// </summary>
public static class OnnxSignature
{
    /// <summary>float32 [N, 1, H, W], pixel values 0..255 (not divided by 255, not normalised), N free.</summary>
    public const string Input = "pixels";

    /// <summary>float32 [N, classes]: logits (no softmax), class order of the checkpoint.</summary>
    public const string Output = "logits";

    public const string BatchDimension = "N";

    /// <summary>The multiplier of the in-graph normalisation, as <see cref="ImageTensors.Normalize"/> applies it (float32).</summary>
    public static float Scale => (float)(1.0 / (255.0 * ImageNormalization.Std));

    public static float Offset => (float)(-ImageNormalization.Mean / ImageNormalization.Std);
}

/// <summary>
/// ONNX graphs of a zoo network as deployed: eval mode (dropout gone), every BatchNorm folded into its conv or linear layer
/// (<see cref="FoldedNetwork"/>: the weights the engine's evaluation and the INT8 simulation run). Pruned weights are
/// exported as they are (zeros). Opset 13, NCHW, a symbolic batch dimension; the input is raw pixels
/// (<see cref="OnnxSignature"/>).
/// </summary>
public static class OnnxExport
{
    /// <summary>The float32 graph: Mul/Add (normalisation), then Conv/Gemm with the folded weights, Relu, MaxPool, Flatten.</summary>
    public static ModelProto Float(ClassifierNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return Build(network, null);
    }

    /// <summary>
    /// The INT8 QDQ graph of <paramref name="thresholds"/> (from a calibration, or later a recipe): the float graph where
    /// each quantized layer reads QuantizeLinear→DequantizeLinear of its input (per tensor, the thresholds' grid: uint8
    /// after ReLU, int8 otherwise) and DequantizeLinear of int8 weights (per output channel, axis 0) and of an int32 bias;
    /// layers the thresholds keep in float stay float. The same quantization <see cref="Int8Simulation"/> simulates.
    /// </summary>
    /// <exception cref="ArgumentException">The thresholds do not describe this network's layers (names, channel counts).</exception>
    public static ModelProto Int8(ClassifierNetwork network, QuantizationThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(thresholds);
        CheckFits(network, thresholds);
        return Build(network, thresholds);
    }

    /// <summary>Refuses thresholds made for another network, naming what differs.</summary>
    public static void CheckFits(ClassifierNetwork network, QuantizationThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(thresholds);
        var layers = network.Layers.Select(l => l.Name).ToArray();
        var given = thresholds.Layers.Select(l => l.Layer).ToArray();
        if (!layers.SequenceEqual(given))
            throw new ArgumentException(
                $"The quantization thresholds are for the layers {string.Join(", ", given)}, but model {network.Architecture} has {string.Join(", ", layers)}.", nameof(thresholds));
        foreach (var layer in network.Layers)
        {
            var t = thresholds.Layer(layer.Name);
            if (!t.KeptFloat && t.WeightGrids.Count != layer.WeightShape[0])
                throw new ArgumentException(
                    $"Layer {layer.Name}: the thresholds have {t.WeightGrids.Count} weight channels, the model {layer.WeightShape[0]} (thresholds of another width).", nameof(thresholds));
            if (!t.KeptFloat && t.WeightGrids.Any(g => g.ZeroPoint != 0 || g.QMin != -127 || g.QMax != 127))
                throw new ArgumentException($"Layer {layer.Name}: weights are exported as symmetric int8 per channel; these thresholds have another weight grid.", nameof(thresholds));
        }
    }

    private static ModelProto Build(ClassifierNetwork network, QuantizationThresholds? thresholds)
    {
        using var noGrad = no_grad();
        using var folded = FoldedNetwork.Fold(network);
        var writer = new W(network.Architecture);
        writer.Input(OnnxSignature.Input, OnnxSignature.BatchDimension, 1, network.InputHeight, network.InputWidth);
        var x = writer.Node("Mul", "normalize", [OnnxSignature.Input, writer.Scalar("normalize.scale", OnnxSignature.Scale)], "normalize.scaled");
        x = writer.Node("Add", "normalize", [x, writer.Scalar("normalize.offset", OnnxSignature.Offset)], "normalized");

        var lastLayer = network.Layers[^1].Name;
        var wroteOutput = false;
        var modules = network.Blocks.SelectMany(b => b.Modules).ToArray();
        for (var i = 0; i < modules.Length; i++)
        {
            var (name, module) = modules[i];
            switch (module)
            {
                case TorchSharp.Modules.Conv2d conv:
                    {
                        var layer = folded.Layer(name);
                        var t = thresholds?.Layer(name);
                        var input = t is { KeptFloat: false } ? QuantizeInput(writer, name, x, t) : x;
                        var (weight, bias) = t is { KeptFloat: false } ? QuantizedParameters(writer, name, layer, t) : FloatParameters(writer, name, layer);
                        x = Emit(writer, "Conv", name, [input, weight, bias], name == lastLayer && t?.Logits is null, out wroteOutput,
                            W.Ints("kernel_shape", layer.Weight.shape.Skip(2)),
                            W.Ints("strides", conv.stride),
                            W.Ints("pads", [.. conv.padding!, .. conv.padding!]),
                            W.Ints("dilations", conv.dilation),
                            W.Int("group", conv.groups));
                        if (name == lastLayer && t?.Logits is { } logits) wroteOutput = QuantizeLogits(writer, name, x, logits);
                        break;
                    }
                case TorchSharp.Modules.Linear:
                    {
                        var layer = folded.Layer(name);
                        var t = thresholds?.Layer(name);
                        var input = t is { KeptFloat: false } ? QuantizeInput(writer, name, x, t) : x;
                        var (weight, bias) = t is { KeptFloat: false } ? QuantizedParameters(writer, name, layer, t) : FloatParameters(writer, name, layer);
                        x = Emit(writer, "Gemm", name, [input, weight, bias], name == lastLayer && t?.Logits is null, out wroteOutput, W.Int("transB", 1));
                        if (name == lastLayer && t?.Logits is { } logits) wroteOutput = QuantizeLogits(writer, name, x, logits);
                        break;
                    }
                case TorchSharp.Modules.BatchNorm:
                    // FoldedNetwork.Fold refuses a BatchNorm it cannot fold, so this one is inside the layer before it.
                    break;
                case TorchSharp.Modules.Dropout or TorchSharp.Modules.Dropout2d or TorchSharp.Modules.Dropout1d:
                    break; // eval mode
                case TorchSharp.Modules.ReLU:
                    x = writer.Node("Relu", name, [x], name);
                    break;
                case TorchSharp.Modules.MaxPool2d pool:
                    x = writer.Node("MaxPool", name, [x], name, PoolAttributes(name, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode));
                    break;
                case TorchSharp.Modules.Flatten flatten:
                    if (flatten.start_dim != 1 || flatten.end_dim != -1)
                        throw new NotSupportedException($"{name}: only a flatten of every dimension after the batch (start 1, end −1) has an ONNX Flatten; this one is {flatten.start_dim}..{flatten.end_dim}.");
                    // The next layer's input grid also before the flatten: the same values (quantizing grid points again
                    // changes nothing), but ONNX Runtime then sees Q→DQ right after the previous conv's ReLU and pool and fuses
                    // that conv into an integer kernel (it does not move a QuantizeLinear up through a Flatten itself).
                    if (thresholds is not null && NextLayer(modules, i) is { } next && thresholds.Layer(next) is { KeptFloat: false } consumer)
                        x = QuantizeInput(writer, $"{next}.preflatten", x, consumer);
                    x = writer.Node("Flatten", name, [x], name, W.Int("axis", 1));
                    break;
                default:
                    throw new NotSupportedException($"{name}: a {module.GetType().Name} has no ONNX export yet.");
            }
        }
        if (!wroteOutput) throw new InvalidOperationException($"{network.Architecture}: the output layer {lastLayer} is not the last conv or linear module.");
        writer.Output(OnnxSignature.Output, OnnxSignature.BatchDimension, network.ClassCount);

        var metadata = new Dictionary<string, string>
        {
            ["architecture"] = network.Architecture,
            ["input"] = $"{OnnxSignature.Input}: float32 [N, 1, {network.InputHeight}, {network.InputWidth}], raw pixel values 0..255; normalised in the graph ((x/255 - {ImageNormalization.Mean})/{ImageNormalization.Std})",
            ["output"] = $"{OnnxSignature.Output}: float32 [N, {network.ClassCount}], logits",
            ["batchnorm"] = "folded into the preceding conv/linear (eval mode)",
            ["quantization"] = thresholds is null ? "none (float32)" : $"INT8 QDQ: {thresholds.Choice.Key}",
        };
        if (network.Widths is { } widths) metadata["widths"] = string.Join(",", widths.Select(w => $"{w.Key}={w.Value}"));
        var doc = thresholds is null
            ? $"CompressionLab {network.Architecture}, float32, BatchNorm folded."
            : $"CompressionLab {network.Architecture}, INT8 QDQ ({thresholds.Choice.Key}), BatchNorm folded.";
        return writer.Model(doc, metadata);
    }

    /// <summary>The first conv or linear module after <c>modules[i]</c>, or null.</summary>
    private static string? NextLayer(IReadOnlyList<(string Name, TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Module)> modules, int i) =>
        modules.Skip(i + 1).Where(m => m.Module is TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear).Select(m => m.Name).FirstOrDefault();

    /// <summary>The layer node, writing into the graph's output when it is the last thing the graph computes.</summary>
    private static string Emit(W writer, string op, string name, string[] inputs, bool isGraphOutput, out bool wroteOutput, params AttributeProto[] attributes)
    {
        wroteOutput = isGraphOutput;
        if (!isGraphOutput) return writer.Node(op, name, inputs, name, attributes);
        writer.NodeInto(op, name, inputs, OnnxSignature.Output, attributes);
        return OnnxSignature.Output;
    }

    private static AttributeProto[] PoolAttributes(string name, long[]? kernel, long[]? stride, long[]? padding, long[]? dilation, bool ceilMode)
    {
        if (kernel is null) throw new NotSupportedException($"{name}: a pool without a kernel size.");
        long[] Pair(long[]? v, long fallback) => v is null ? [fallback, fallback] : v.Length == 1 ? [v[0], v[0]] : v;
        var k = Pair(kernel, 0);
        var p = Pair(padding, 0);
        return
        [
            W.Ints("kernel_shape", k),
            W.Ints("strides", stride is null ? k : Pair(stride, 0)),
            W.Ints("pads", [.. p, .. p]),
            W.Ints("dilations", Pair(dilation, 1)),
            W.Int("ceil_mode", ceilMode ? 1 : 0),
        ];
    }

    private static (string Weight, string Bias) FloatParameters(W writer, string name, FoldedLayer layer) =>
        (writer.Float($"{name}.weight", layer.Weight.shape, layer.Weight.contiguous().data<float>().ToArray()),
         writer.Float($"{name}.bias", layer.Bias.shape, layer.Bias.contiguous().data<float>().ToArray()));

    /// <summary>
    /// Q→DQ of the layer's input on its per-tensor grid. A symmetric (int8) grid spans −127..127 but QuantizeLinear
    /// saturates to −128: a Clip to the grid's range first keeps the export equal to the simulation.
    /// </summary>
    private static string QuantizeInput(W writer, string name, string x, LayerThresholds t)
    {
        var grid = t.Input!.Grid;
        var (scale, zero) = GridTensors(writer, $"{name}.input", grid);
        if (grid.QMin == -127)
            x = writer.Node("Clip", $"{name}.input", [x, writer.Scalar($"{name}.input.min", (float)grid.Min), writer.Scalar($"{name}.input.max", (float)grid.Max)], $"{name}.input.clipped");
        var q = writer.Node("QuantizeLinear", $"{name}.input", [x, scale, zero], $"{name}.input.quantized");
        return writer.Node("DequantizeLinear", $"{name}.input", [q, scale, zero], $"{name}.input.dequantized");
    }

    private static bool QuantizeLogits(W writer, string name, string logits, ClippingResult clip)
    {
        var (scale, zero) = GridTensors(writer, $"{name}.output", clip.Grid);
        var q = writer.Node("QuantizeLinear", $"{name}.output", [logits, scale, zero], $"{name}.output.quantized");
        writer.NodeInto("DequantizeLinear", $"{name}.output", [q, scale, zero], OnnxSignature.Output);
        return true;
    }

    /// <summary>A per-tensor grid's scale (float32) and zero point: uint8 for a [0, 255] grid, int8 for a symmetric one.</summary>
    private static (string Scale, string Zero) GridTensors(W writer, string name, QuantizationGrid grid)
    {
        var scale = writer.Scalar($"{name}.scale", (float)grid.Scale);
        var zero = grid.QMin < 0
            ? writer.Int8($"{name}.zero_point", [], [checked((sbyte)grid.ZeroPoint)])
            : writer.UInt8($"{name}.zero_point", [], [checked((byte)grid.ZeroPoint)]);
        return (scale, zero);
    }

    /// <summary>
    /// int8 weights with one scale per output channel (DequantizeLinear axis 0), quantized as the simulation does
    /// (float32 w / s, round half to even, clamp to ±127); the bias as int32 on the scale input scale × channel scale,
    /// zero point 0, which is ONNX Runtime's convention for fusing DQ→Conv/Gemm→… into integer kernels. Its rounding
    /// error (at most half of that scale, far below an output step) is the one place the export differs from the
    /// simulation's float bias. A bias too large for int32 on that scale stays float32.
    /// </summary>
    private static (string Weight, string Bias) QuantizedParameters(W writer, string name, FoldedLayer layer, LayerThresholds t)
    {
        using var scope = NewDisposeScope();
        var grids = t.WeightGrids;
        var channels = grids.Count;
        var scales = grids.Select(g => (float)g.Scale).ToArray();
        var view = new long[layer.Weight.dim()];
        Array.Fill(view, 1L);
        view[0] = channels;
        var scaleTensor = tensor(grids.Select(g => g.Scale).ToArray(), layer.Weight.dtype).view(view);
        var q = (layer.Weight / scaleTensor).round_().clamp_(-127, 127).to_type(ScalarType.Int8).contiguous();
        var weightQ = writer.Int8($"{name}.weight.quantized", layer.Weight.shape, q.data<sbyte>().ToArray());
        var weightScale = writer.Float($"{name}.weight.scale", [channels], scales);
        var weightZero = writer.Int8($"{name}.weight.zero_point", [channels], new sbyte[channels]);
        var weight = writer.Node("DequantizeLinear", $"{name}.weight", [weightQ, weightScale, weightZero], $"{name}.weight.dequantized", W.Int("axis", 0));

        var inputScale = (float)t.Input!.Grid.Scale;
        var biasScales = scales.Select(s => inputScale * s).ToArray();
        var bias = layer.Bias.contiguous().data<float>().ToArray();
        var biasQ = new int[channels];
        for (var c = 0; c < channels; c++)
        {
            var v = Math.Round(bias[c] / (double)biasScales[c], MidpointRounding.ToEven);
            if (Math.Abs(v) > int.MaxValue || !double.IsFinite(v))
                return (weight, writer.Float($"{name}.bias", [channels], bias));
            biasQ[c] = (int)v;
        }
        var biasQName = writer.Int32($"{name}.bias.quantized", [channels], biasQ);
        var biasScale = writer.Float($"{name}.bias.scale", [channels], biasScales);
        var biasZero = writer.Int32($"{name}.bias.zero_point", [channels], new int[channels]);
        var biasName = writer.Node("DequantizeLinear", $"{name}.bias", [biasQName, biasScale, biasZero], $"{name}.bias.dequantized", W.Int("axis", 0));
        return (weight, biasName);
    }
}
