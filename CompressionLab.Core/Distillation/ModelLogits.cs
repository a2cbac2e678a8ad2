namespace CompressionLab.Core.Distillation;

/// <summary>
/// One model's logits on a fixed, ordered set of images (rows), with the images' true labels. Everything the soft-target
/// comparison shows across T is computed from these, so moving a T slider never runs a model.
/// </summary>
/// <param name="WeightsHash">The model's weights hash (what the workspace caches them by, with the subset key).</param>
/// <param name="SubsetKey">Which images, in which order (<see cref="Models.AnalysisSubset.Key"/>).</param>
/// <param name="Values">Row-major [rows × classes].</param>
public sealed record ModelLogits(string Model, string WeightsHash, string SubsetKey, int Rows, int Classes, float[] Values, int[] Labels)
{
    public ReadOnlySpan<float> Row(int row) => Values.AsSpan(row * Classes, Classes);

    /// <summary>Throws naming the problem when the shape is inconsistent or a logit is NaN or ±Inf.</summary>
    public void Validate()
    {
        if (Rows < 1 || Classes < 2)
            throw new ArgumentException($"Logits of {Model}: {Rows} images × {Classes} classes; at least 1 image and 2 classes are needed.");
        if (Values.Length != (long)Rows * Classes)
            throw new ArgumentException($"Logits of {Model}: {Values.Length} values for {Rows} images × {Classes} classes.");
        if (Labels.Length != Rows)
            throw new ArgumentException($"Logits of {Model}: {Labels.Length} labels for {Rows} images.");
        for (var i = 0; i < Values.Length; i++)
            if (!float.IsFinite(Values[i]))
                throw new ArgumentException($"Logits of {Model}: image {i / Classes}, class {i % Classes} is {Values[i]}.");
        for (var i = 0; i < Labels.Length; i++)
            if (Labels[i] < 0 || Labels[i] >= Classes)
                throw new ArgumentException($"Logits of {Model}: image {i} has label {Labels[i]} outside 0..{Classes - 1}.");
    }
}
