using CompressionLab.Core.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace CompressionLab.Core.Export;

/// <summary>
/// An exported graph in ONNX Runtime's CPU provider (the reference that an export is right, FORMATS.md): pixels in,
/// logits out, as a user of the file would run it. Graph optimisations at ORT's default (all), so an INT8 QDQ graph runs
/// on ORT's fused integer kernels as it would in deployment.
/// </summary>
public sealed class OnnxInference : IDisposable
{
    private readonly InferenceSession _session;
    private readonly int _height;
    private readonly int _width;

    private OnnxInference(InferenceSession session, int threads)
    {
        _session = session;
        Threads = threads;
        if (!session.InputMetadata.TryGetValue(OnnxSignature.Input, out var input) || input.Dimensions.Length != 4)
            throw new InvalidDataException($"The ONNX graph has no input '{OnnxSignature.Input}' of rank 4 (its inputs: {string.Join(", ", session.InputMetadata.Keys)}).");
        if (!session.OutputMetadata.ContainsKey(OnnxSignature.Output))
            throw new InvalidDataException($"The ONNX graph has no output '{OnnxSignature.Output}' (its outputs: {string.Join(", ", session.OutputMetadata.Keys)}).");
        (_height, _width) = (input.Dimensions[2], input.Dimensions[3]);
        ClassCount = session.OutputMetadata[OnnxSignature.Output].Dimensions[^1];
    }

    public int ClassCount { get; }

    public int Threads { get; }

    /// <summary>Loads a serialised model. A file that is no ONNX model, or one ORT cannot run, throws <see cref="InvalidDataException"/>.</summary>
    /// <param name="threads">Intra-op threads (null: one per core, as TorchSharp is configured).</param>
    public static OnnxInference Load(byte[] model, int? threads = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var count = threads ?? Environment.ProcessorCount;
        using var options = new SessionOptions { IntraOpNumThreads = count, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        // Idle worker threads sleep instead of spinning, as TorchSharp's OpenMP threads do here (TorchRuntime: OMP_WAIT_POLICY=PASSIVE):
        // on a machine shared with other processes, spinning threads take cores the others need, and timings compare like with like.
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        try
        {
            return new OnnxInference(new InferenceSession(model, options), count);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"ONNX Runtime cannot load the model: {e.Message}", e);
        }
    }

    public static OnnxInference Load(string path, int? threads = null) => Load(File.ReadAllBytes(path), threads);

    /// <summary>Logits of images [start, start + count) of <paramref name="images"/>, row-major [count, classes].</summary>
    public float[] Logits(LabeledImages images, int start, int count)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Height != _height || images.Width != _width)
            throw new ArgumentException($"The ONNX graph takes {_height}×{_width} images but {images.Name} has {images.Height}×{images.Width}.", nameof(images));
        if (start < 0 || count < 1 || start > images.Count - count)
            throw new ArgumentOutOfRangeException(nameof(start), $"Images [{start}, {start + count}) are outside {images.Name}, which has {images.Count} images.");
        var size = images.PixelsPerImage;
        var pixels = new float[count * size];
        var source = images.Pixels.AsSpan(start * size, count * size);
        for (var i = 0; i < pixels.Length; i++) pixels[i] = source[i];
        return Logits(pixels, count);
    }

    /// <summary>Logits of <paramref name="count"/> images given as raw pixel values (0..255) in NCHW order.</summary>
    public float[] Logits(float[] pixels, int count)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        var input = new DenseTensor<float>(pixels, [count, 1, _height, _width]);
        using var results = _session.Run([NamedOnnxValue.CreateFromTensor(OnnxSignature.Input, input)]);
        var logits = results.First(r => r.Name == OnnxSignature.Output).AsTensor<float>();
        return logits is DenseTensor<float> dense ? dense.Buffer.ToArray() : [.. logits];
    }

    public void Dispose() => _session.Dispose();
}
