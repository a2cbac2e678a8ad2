using System.Globalization;
using System.Security.Cryptography;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// The images a sweep measures on: a deterministic class-stratified subset of the validation hold-out of
/// <see cref="TrainingJob.Split"/> (never the test images, which stay for the final measurement), and the
/// text that names it in cell keys.
/// </summary>
/// <param name="Key">
/// <c>validation/stratified-&lt;size&gt;/&lt;first 12 hex digits of the SHA-256 of labels and pixels&gt;</c>: equal
/// text means equal images, whatever dataset options or code produced them.
/// </param>
public sealed record SweepSubset(LabeledImages Images, string Key)
{
    public const int DefaultSize = 2_000;
    public const int Seed = 1;

    public int Count => Images.Count;

    /// <summary>The first <paramref name="size"/> images of the stratified order (a larger subset contains a smaller one).</summary>
    public static SweepSubset Validation(Dataset dataset, int size = DefaultSize)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var validation = TrainingJob.Split(dataset).Validation;
        if (size < 1 || size > validation.Count)
            throw new ArgumentOutOfRangeException(nameof(size), size, string.Create(CultureInfo.InvariantCulture,
                $"Subset size must be between 1 and {validation.Count:N0}, the validation images of {dataset.Name} (got {size:N0})."));
        var images = StratifiedSubset.Take(validation, size, Seed);
        return new SweepSubset(images, string.Create(CultureInfo.InvariantCulture, $"validation/stratified-{size}/{ContentHash(images)}"));
    }

    private static string ContentHash(LabeledImages images)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> shape = stackalloc byte[8];
        BitConverter.TryWriteBytes(shape[..4], images.Height);
        BitConverter.TryWriteBytes(shape[4..], images.Width);
        sha.AppendData(shape);
        sha.AppendData(images.Labels);
        sha.AppendData(images.Pixels);
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..12];
    }
}
