using System.Globalization;
using System.Security.Cryptography;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;

namespace CompressionLab.Core.Models;

/// <summary>
/// The one rule for "N images of a split" in every analysis (sweeps, evaluation with a limit, and what comes after
/// them): the first N of a deterministic class-stratified order (<see cref="StratifiedSubset"/>, seed <see cref="Seed"/>)
/// of a part of <see cref="TrainingJob.Split"/>, kept in the part's own order. A larger subset contains a smaller one,
/// and N equal to the part's size is the whole part, so "2,000 validation images" names the same images in
/// <c>eval --split val --limit 2000</c>, in a sweep of 2,000 images and on the dashboard.
/// </summary>
/// <param name="Part">Validation (the hold-out of the train part: what sweeps measure on) or Test (the official test images).</param>
/// <param name="Key">
/// <c>&lt;part&gt;/stratified-&lt;size&gt;/&lt;first 12 hex digits of the SHA-256 of image size, labels and pixels&gt;</c>
/// (<c>validation/stratified-2000/3fa2b1c09e1d</c>): equal text means equal images, whatever dataset options or code
/// produced them.
/// </param>
public sealed record AnalysisSubset(LabeledImages Images, SplitPart Part, string Key)
{
    /// <summary>Images per sweep cell when nobody says otherwise.</summary>
    public const int DefaultSize = 2_000;

    public const int Seed = 1;

    public int Count => Images.Count;

    /// <summary>
    /// The first <paramref name="size"/> images of the stratified order of the validation hold-out of
    /// <see cref="TrainingJob.Split"/> (never the test images, which stay for the final measurement).
    /// </summary>
    public static AnalysisSubset Validation(Dataset dataset, int size = DefaultSize) => Of(dataset, SplitPart.Validation, size);

    /// <summary>
    /// <paramref name="size"/> images of <paramref name="part"/> (validation or test) by the stratified rule; null: the whole
    /// part. Asking for more images than the part has is an error, never a silently smaller subset.
    /// </summary>
    public static AnalysisSubset Of(Dataset dataset, SplitPart part, int? size)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var images = part switch
        {
            SplitPart.Validation => TrainingJob.Split(dataset).Validation,
            SplitPart.Test => dataset.Test,
            _ => throw new ArgumentOutOfRangeException(nameof(part), part, "Analyses measure on the validation or the test part, not on the training images."),
        };
        var name = PartName(part);
        var count = size ?? images.Count;
        if (count < 1 || count > images.Count)
            throw new ArgumentOutOfRangeException(nameof(size), size, string.Create(CultureInfo.InvariantCulture,
                $"Subset size must be between 1 and {images.Count:N0}, the {name} images of {dataset.Name} (got {count:N0})."));
        var subset = StratifiedSubset.Take(images, count, Seed);
        return new AnalysisSubset(subset, part, string.Create(CultureInfo.InvariantCulture, $"{name}/stratified-{count}/{ContentHash(subset)}"));
    }

    /// <summary>
    /// <see cref="Of"/> for a job's request: a size the part cannot give is the request's <paramref name="setting"/> at
    /// fault (an <see cref="InvalidRequestException"/> naming it, which the CLI maps to its option).
    /// </summary>
    public static AnalysisSubset ForRequest(Dataset dataset, SplitPart part, int? size, string setting)
    {
        try
        {
            return Of(dataset, part, size);
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName == nameof(size))
        {
            throw InvalidRequestException.For(setting, e);
        }
    }

    /// <summary><c>validation</c> or <c>test</c>, as keys and documents name the part.</summary>
    public static string PartName(SplitPart part) => part switch
    {
        SplitPart.Validation => "validation",
        SplitPart.Test => "test",
        _ => throw new ArgumentOutOfRangeException(nameof(part), part, null),
    };

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
