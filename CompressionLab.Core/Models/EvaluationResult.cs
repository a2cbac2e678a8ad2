namespace CompressionLab.Core.Models;

/// <summary>How a classifier did on a set of images (immutable).</summary>
/// <param name="Top1">Fraction (0..1) of images whose highest logit is the true class.</param>
/// <param name="Top5">Fraction (0..1) of images whose true class is among the five highest logits (all of them when there are fewer than five classes).</param>
/// <param name="Loss">Mean cross-entropy (natural log) over the images.</param>
/// <param name="PerClassAccuracy">Top-1 fraction per true class; null for a class with no images in the set.</param>
/// <param name="ConfusionMatrix">Counts indexed [true class][predicted class].</param>
/// <param name="Samples">Number of images evaluated.</param>
/// <param name="Seconds">Wall-clock time of the evaluation.</param>
public sealed record EvaluationResult(
    double Top1,
    double Top5,
    double Loss,
    IReadOnlyList<double?> PerClassAccuracy,
    IReadOnlyList<IReadOnlyList<int>> ConfusionMatrix,
    int Samples,
    double Seconds)
{
    public int ClassCount => PerClassAccuracy.Count;
}
