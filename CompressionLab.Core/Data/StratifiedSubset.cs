namespace CompressionLab.Core.Data;

/// <summary>
/// A deterministic class-stratified subset: classes get counts as equal as possible (differing by at most
/// one while every class has images left), and the images of each class are a seeded random draw.
/// Images are dealt one per class in a seeded class order, round after round, so a larger subset always
/// contains the smaller one of the same seed: results computed on a small subset stay valid when it grows.
/// </summary>
public static class StratifiedSubset
{
    /// <summary>
    /// <paramref name="size"/> images of <paramref name="images"/>, in their original order.
    /// Asking for more images than there are is an error (never a silent smaller subset).
    /// </summary>
    public static LabeledImages Take(LabeledImages images, int size, int seed) =>
        size == images.Count && images.Count > 0
            ? images
            : images.Subset(Indices(images.Labels, images.ClassCount, size, seed, images.Name), $"{images.Name}[stratified {size}, seed {seed}]");

    /// <summary>Indices (ascending) of the chosen items; <paramref name="labels"/> are class indices below <paramref name="classCount"/>.</summary>
    public static int[] Indices(IReadOnlyList<byte> labels, int classCount, int size, int seed, string? what = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (size > labels.Count)
            throw new ArgumentOutOfRangeException(nameof(size), size,
                $"A stratified subset of {size} images was asked of {what ?? "a set"} that has only {labels.Count}.");

        var byClass = new List<int>[classCount];
        for (var c = 0; c < classCount; c++) byClass[c] = [];
        for (var i = 0; i < labels.Count; i++)
        {
            if (labels[i] >= classCount)
                throw new ArgumentException($"Label {labels[i]} at index {i} of {what ?? "the set"} is outside the {classCount} classes.", nameof(labels));
            byClass[labels[i]].Add(i);
        }

        var random = new SeededRandom(seed);
        var classOrder = Enumerable.Range(0, classCount).ToArray();
        random.Shuffle(classOrder.AsSpan());
        var draws = new int[classCount][];
        for (var c = 0; c < classCount; c++)
        {
            draws[c] = [.. byClass[c]];
            random.Shuffle(draws[c].AsSpan());
        }

        var taken = new int[classCount];
        var chosen = new int[size];
        var count = 0;
        while (count < size)
        {
            foreach (var c in classOrder)
            {
                if (count == size) break;
                if (taken[c] < draws[c].Length) chosen[count++] = draws[c][taken[c]++];
            }
        }
        Array.Sort(chosen);
        return chosen;
    }
}
