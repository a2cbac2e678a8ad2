using System.Diagnostics;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Core.Quantization;

/// <summary>
/// Simulated INT8 inference in float ("fake quantization", as Distiller's and TensorRT's previews do it): every
/// quantized layer's weight is quantized–dequantized per output channel once, and its input activation per tensor on
/// every batch, on the grids of <see cref="QuantizationThresholds"/>; the arithmetic in between stays float (an INT8
/// engine accumulates in int32 and rescales, which float reproduces to rounding). Hidden outputs are not quantized
/// separately: after ReLU and max-pool they are the next layer's input and are quantized there. Logits only when the
/// choice says so. Evaluation batches and metrics are <see cref="Evaluator"/>'s (64 images, <see cref="ClassificationTally"/>).
/// </summary>
public static class Int8Simulation
{
    /// <summary>Top-1 (fraction) of <paramref name="network"/> quantized by <paramref name="choice"/> on <paramref name="images"/>: the <c>calibrate</c> command's <c>top1_int8</c>.</summary>
    /// <exception cref="Jobs.InvalidRequestException">The choice does not fit the profile (see <see cref="QuantizationThresholds.For"/>).</exception>
    public static double Top1(FoldedNetwork network, CalibrationProfile profile, QuantizationChoice choice, LabeledImages images, CancellationToken cancellationToken = default) =>
        Evaluate(network, QuantizationThresholds.For(profile, choice), images, cancellationToken).Top1;

    /// <inheritdoc cref="Top1(FoldedNetwork, CalibrationProfile, QuantizationChoice, LabeledImages, CancellationToken)"/>
    public static double Top1(FoldedNetwork network, CalibrationProfile profile, QuantizationChoice choice, AnalysisSubset subset, CancellationToken cancellationToken = default) =>
        Top1(network, profile, choice, subset?.Images ?? throw new ArgumentNullException(nameof(subset)), cancellationToken);

    /// <summary>Top-1, top-5 and loss of the simulated INT8 network on <paramref name="images"/>, in their order, 64 a batch.</summary>
    public static EvaluationResult Evaluate(FoldedNetwork network, QuantizationThresholds thresholds, LabeledImages images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(images);
        var clock = Stopwatch.StartNew();
        using var noGrad = no_grad();
        using var quantized = WithQuantizedWeights(network, thresholds);
        var observer = new ActivationQuantizer(thresholds);
        var tally = Evaluator.Score(images.ClassCount, images.Count, Evaluator.DefaultBatchSize,
            (start, size) => Forward(quantized, thresholds, observer, ImageTensors.Inputs(images, start, size)),
            (start, size) => ImageTensors.Labels(images, start, size),
            cancellationToken);
        return tally.ToResult(clock.Elapsed.TotalSeconds);
    }

    /// <summary>The folded network in float, through the same batches and metrics: what the INT8 results are compared with.</summary>
    public static EvaluationResult EvaluateFloat(FoldedNetwork network, LabeledImages images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(images);
        var clock = Stopwatch.StartNew();
        using var noGrad = no_grad();
        var tally = Evaluator.Score(images.ClassCount, images.Count, Evaluator.DefaultBatchSize,
            (start, size) => network.Forward(ImageTensors.Inputs(images, start, size)),
            (start, size) => ImageTensors.Labels(images, start, size),
            cancellationToken);
        return tally.ToResult(clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The simulated INT8 logits of one batch. <paramref name="quantized"/> must carry the quantized weights
    /// (<see cref="WithQuantizedWeights"/>); the inputs are quantized here.
    /// </summary>
    public static Tensor Forward(FoldedNetwork quantized, QuantizationThresholds thresholds, Tensor images) =>
        Forward(quantized, thresholds, new ActivationQuantizer(thresholds), images);

    private static Tensor Forward(FoldedNetwork quantized, QuantizationThresholds thresholds, ActivationQuantizer observer, Tensor images)
    {
        var logits = quantized.Forward(images, observer);
        var output = thresholds.Layers.FirstOrDefault(l => l.Logits is not null);
        if (output?.Logits is not { } clip) return logits;
        using (logits)
        {
            return FakeQuantization.PerTensor(logits, clip.Grid);
        }
    }

    /// <summary>
    /// A copy of <paramref name="network"/> whose quantized layers' weights are quantized–dequantized per output channel
    /// (symmetric, the channel's own range); layers kept in float keep their weights bit for bit. The caller disposes it.
    /// </summary>
    public static FoldedNetwork WithQuantizedWeights(FoldedNetwork network, QuantizationThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(thresholds);
        using var noGrad = no_grad();
        return network.WithWeights(layer =>
        {
            var t = thresholds.Layer(layer.Name);
            return t.KeptFloat ? layer.Weight : FakeQuantization.PerChannel(layer.Weight, t.WeightGrids); // the copy clones a weight returned as is
        });
    }

    /// <summary>Replaces each quantized layer's input with its per-tensor fake quantization; leaves float layers' inputs alone.</summary>
    private sealed class ActivationQuantizer(QuantizationThresholds thresholds) : IFoldedObserver
    {
        private readonly Dictionary<string, QuantizationGrid?> _grids =
            thresholds.Layers.ToDictionary(l => l.Layer, l => l.Input is { } input ? input.Grid : (QuantizationGrid?)null);

        public Tensor Input(string layer, Tensor x)
        {
            if (!_grids.TryGetValue(layer, out var grid))
                throw new InvalidOperationException($"The network has a layer '{layer}' that the thresholds do not know ({string.Join(", ", _grids.Keys)}).");
            return grid is { } g ? FakeQuantization.PerTensor(x, g) : x;
        }

        public void Output(string layer, Tensor y)
        {
        }
    }
}
