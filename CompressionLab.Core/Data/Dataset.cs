namespace CompressionLab.Core.Data;

/// <summary>A classification dataset with its official train and test parts.</summary>
/// <param name="Name">Catalog name, e.g. <c>fashion-mnist</c> or <c>synthetic</c>.</param>
/// <param name="Source">Where it was loaded from (a folder, or "generated in code").</param>
public sealed record Dataset(string Name, LabeledImages Train, LabeledImages Test, bool IsSynthetic, string Source);

/// <summary>
/// The one input normalisation every model in the zoo is trained with: Fashion-MNIST's pixel mean
/// and standard deviation. Fixed (not per dataset) so that a checkpoint means the same thing on
/// any dataset it is evaluated on.
/// </summary>
public static class ImageNormalization
{
    public const float Mean = 0.2860f;
    public const float Std = 0.3530f;
}
