using CompressionLab.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// The one conversion from raw images to what every model in the zoo eats: float32 [N, 1, H, W] with
/// pixels scaled to 0..1 and normalised by <see cref="ImageNormalization"/>, and int64 labels [N].
/// Training, evaluation, sweeps and distillation all go through here so a model never sees two
/// different normalisations.
/// </summary>
public static class ImageTensors
{
    /// <summary>All images as one normalised float tensor [N, 1, H, W]. The caller owns (disposes) it.</summary>
    public static Tensor Inputs(LabeledImages images) => Inputs(images, 0, images.Count);

    /// <summary>Images [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) as a normalised float tensor [count, 1, H, W].</summary>
    public static Tensor Inputs(LabeledImages images, int start, int count)
    {
        using var pixels = Pixels(images, start, count);
        return Normalize(pixels);
    }

    /// <summary>
    /// Raw pixels as a uint8 tensor [count, 1, H, W]: a quarter of the memory of <see cref="Inputs(LabeledImages)"/>,
    /// for loops that keep a whole training set resident and normalise each batch with <see cref="Normalize"/>.
    /// </summary>
    public static Tensor Pixels(LabeledImages images, int start, int count)
    {
        CheckRange(images, start, count);
        var size = images.PixelsPerImage;
        var bytes = images.Pixels.AsSpan(start * size, count * size).ToArray();
        return tensor(bytes, [count, 1, images.Height, images.Width]);
    }

    /// <summary>All raw pixels as a uint8 tensor [N, 1, H, W].</summary>
    public static Tensor Pixels(LabeledImages images) => Pixels(images, 0, images.Count);

    /// <summary>uint8 pixels (any shape) to normalised float32: (x/255 - mean)/std, the zoo's one normalisation.</summary>
    public static Tensor Normalize(Tensor pixels)
    {
        if (pixels.dtype != ScalarType.Byte)
            throw new ArgumentException($"Expected uint8 pixels, got {pixels.dtype}.", nameof(pixels));
        // Folded into one multiply-add per pixel.
        const double scale = 1.0 / (255.0 * ImageNormalization.Std);
        const double offset = -ImageNormalization.Mean / ImageNormalization.Std;
        // Explicit Scalars kept alive across the native calls: implicit ones are temporaries the GC may finalize
        // while libtorch still reads them (called for every batch of every training and evaluation).
        using var scaleScalar = scale.ToScalar();
        using var offsetScalar = offset.ToScalar();
        return pixels.to_type(ScalarType.Float32).mul_(scaleScalar).add_(offsetScalar);
    }

    /// <summary>All labels as an int64 tensor [N] (what cross-entropy expects). The caller owns it.</summary>
    public static Tensor Labels(LabeledImages images) => Labels(images, 0, images.Count);

    /// <summary>Labels [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) as an int64 tensor [count].</summary>
    public static Tensor Labels(LabeledImages images, int start, int count)
    {
        CheckRange(images, start, count);
        var labels = new long[count];
        for (var i = 0; i < count; i++) labels[i] = images.Labels[start + i];
        return tensor(labels, [count]);
    }

    private static void CheckRange(LabeledImages images, int start, int count)
    {
        if (start < 0 || count < 0 || start > images.Count - count)
            throw new ArgumentOutOfRangeException(nameof(start),
                $"Images [{start}, {start + count}) are outside {images.Name}, which has {images.Count} images.");
    }
}
