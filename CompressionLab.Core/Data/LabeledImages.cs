namespace CompressionLab.Core.Data;

/// <summary>
/// A set of single-channel images with class labels, held as raw bytes (0..255, row-major,
/// image after image) so that subsets are cheap and no native memory is held.
/// </summary>
public sealed class LabeledImages
{
    public LabeledImages(string name, byte[] pixels, byte[] labels, int height, int width, IReadOnlyList<string> classNames)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (pixels.Length != (long)labels.Length * height * width)
            throw new ArgumentException($"{name}: {pixels.Length} pixel bytes do not make {labels.Length} images of {height}x{width}.");
        foreach (var label in labels)
            if (label >= classNames.Count)
                throw new ArgumentException($"{name}: label {label} is outside the {classNames.Count} classes.");
        Name = name;
        Pixels = pixels;
        Labels = labels;
        Height = height;
        Width = width;
        ClassNames = classNames;
    }

    public string Name { get; }
    public byte[] Pixels { get; }
    public byte[] Labels { get; }
    public int Height { get; }
    public int Width { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public int Count => Labels.Length;
    public int ClassCount => ClassNames.Count;
    public int PixelsPerImage => Height * Width;

    /// <summary>The images at <paramref name="indices"/>, in that order (copied).</summary>
    public LabeledImages Subset(IReadOnlyList<int> indices, string? name = null)
    {
        var size = PixelsPerImage;
        var pixels = new byte[(long)indices.Count * size];
        var labels = new byte[indices.Count];
        for (var i = 0; i < indices.Count; i++)
        {
            var index = indices[i];
            if ((uint)index >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"index {index} is outside {Name} ({Count} images).");
            Array.Copy(Pixels, (long)index * size, pixels, (long)i * size, size);
            labels[i] = Labels[index];
        }
        return new LabeledImages(name ?? Name, pixels, labels, Height, Width, ClassNames);
    }

    /// <summary>The first <paramref name="count"/> images (or all, when there are fewer).</summary>
    public LabeledImages Take(int count) =>
        count >= Count ? this : Subset(Enumerable.Range(0, count).ToArray(), $"{Name}[:{count}]");
}
