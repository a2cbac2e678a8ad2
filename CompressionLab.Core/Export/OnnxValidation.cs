using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using static TorchSharp.torch;

namespace CompressionLab.Core.Export;

/// <summary>
/// An exported graph run in ONNX Runtime beside the engine on the same images, batch by batch (64, as every evaluation).
/// </summary>
/// <param name="OrtTop1">Top-1 (fraction) of the ONNX graph in ONNX Runtime.</param>
/// <param name="TorchSharpTop1">Top-1 of the engine: its evaluation (float) or the simulated INT8 network (QDQ).</param>
/// <param name="MaxAbsDiff">The largest |ORT logit − engine logit| over all images and classes.</param>
/// <param name="Disagreements">Images whose predicted class differs between the two.</param>
public sealed record OnnxCheck(double OrtTop1, double TorchSharpTop1, double MaxAbsDiff, int Images, int Disagreements);

public static class OnnxValidation
{
    /// <summary>The bound the issue sets on float logits: ORT equals TorchSharp to 1e-4.</summary>
    public const double FloatTolerance = 1e-4;

    /// <summary>The bound on INT8: ORT's top-1 within 0.3 points of the simulated INT8 top-1.</summary>
    public const double Int8Top1Tolerance = 0.003;

    /// <summary>
    /// The float graph against the engine's evaluation arithmetic (<see cref="Evaluator"/>: BatchNorm folded,
    /// channels-last), images normalised by <see cref="ImageTensors"/>, metrics by <see cref="ClassificationTally"/>.
    /// </summary>
    public static OnnxCheck Float(OnnxInference onnx, ClassifierNetwork network, LabeledImages images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        network.CheckAccepts(images);
        var wasTraining = network.training;
        network.eval();
        try
        {
            using var noGrad = no_grad();
            using var forward = new FoldedForward(network);
            return Compare(onnx, images, inputs => forward.ForwardRange(0, forward.BlockCount, inputs), cancellationToken);
        }
        finally
        {
            if (wasTraining) network.train();
        }
    }

    /// <summary>The QDQ graph against <see cref="Int8Simulation"/> with the same thresholds.</summary>
    public static OnnxCheck Int8(OnnxInference onnx, ClassifierNetwork network, QuantizationThresholds thresholds, LabeledImages images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(thresholds);
        network.CheckAccepts(images);
        using var noGrad = no_grad();
        using var folded = FoldedNetwork.Fold(network);
        using var quantized = Int8Simulation.WithQuantizedWeights(folded, thresholds);
        return Compare(onnx, images, inputs => Int8Simulation.Forward(quantized, thresholds, inputs), cancellationToken);
    }

    private static OnnxCheck Compare(OnnxInference onnx, LabeledImages images, Func<Tensor, Tensor> engine, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onnx);
        ArgumentNullException.ThrowIfNull(images);
        if (onnx.ClassCount != images.ClassCount)
            throw new ArgumentException($"The ONNX graph has {onnx.ClassCount} classes but {images.Name} has {images.ClassCount}.", nameof(images));
        var ortTally = new ClassificationTally(images.ClassCount);
        var engineTally = new ClassificationTally(images.ClassCount);
        var maxDiff = 0.0;
        var disagreements = 0;
        for (var start = 0; start < images.Count; start += Evaluator.DefaultBatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var size = Math.Min(Evaluator.DefaultBatchSize, images.Count - start);
            var labels = ImageTensors.Labels(images, start, size);
            var expected = engine(ImageTensors.Inputs(images, start, size)).contiguous();
            var actual = tensor(onnx.Logits(images, start, size), [size, images.ClassCount]);
            maxDiff = Math.Max(maxDiff, (actual - expected).abs().max().item<float>());
            disagreements += (int)actual.argmax(1).ne(expected.argmax(1)).sum().item<long>();
            ortTally.Add(actual, labels);
            engineTally.Add(expected, labels);
        }
        return new OnnxCheck(ortTally.ToResult(0).Top1, engineTally.ToResult(0).Top1, maxDiff, images.Count, disagreements);
    }
}
