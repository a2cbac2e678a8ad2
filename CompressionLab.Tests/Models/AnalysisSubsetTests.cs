using CompressionLab.Core.Data;
using CompressionLab.Core.Models;

namespace CompressionLab.Tests.Models;

public class AnalysisSubsetTests
{
    // Fashion-MNIST's validation hold-out is 5,000 images, 500 per class; its test part 10,000, 1,000 per class.
    private static Dataset Fashion => TestData.FashionMnist;

    [Fact]
    public void AValidationSubsetHasEveryClassEquallyOftenAndIsNamedByItsImages()
    {
        var subset = AnalysisSubset.Validation(Fashion, 2_000);

        Assert.Equal(2_000, subset.Count);
        Assert.All(ClassCounts(subset.Images), count => Assert.Equal(200, count));
        Assert.Equal(SplitPart.Validation, subset.Part);
        Assert.Matches("^validation/stratified-2000/[0-9a-f]{12}$", subset.Key);
        Assert.Equal(subset.Key, AnalysisSubset.Of(Fashion, SplitPart.Validation, 2_000).Key);
        // 2,005 = 200 per class + 5 classes with one more.
        Assert.Equal([5, 5], ClassCounts(AnalysisSubset.Validation(Fashion, 2_005).Images).GroupBy(c => c).OrderBy(g => g.Key).Select(g => g.Count()));
    }

    [Fact]
    public void ATestSubsetFollowsTheSameRuleUnderItsOwnName()
    {
        var subset = AnalysisSubset.Of(Fashion, SplitPart.Test, 1_000);

        Assert.All(ClassCounts(subset.Images), count => Assert.Equal(100, count));
        Assert.StartsWith("test/stratified-1000/", subset.Key, StringComparison.Ordinal);
        Assert.NotEqual(subset.Key.Split('/')[2], AnalysisSubset.Validation(Fashion, 1_000).Key.Split('/')[2]); // other images, another hash
    }

    [Fact]
    public void NoLimitOrTheWholeSizeIsTheWholePartInItsOwnOrder()
    {
        var whole = AnalysisSubset.Of(Fashion, SplitPart.Test, null);

        Assert.Same(Fashion.Test, whole.Images);
        Assert.Equal(whole.Key, AnalysisSubset.Of(Fashion, SplitPart.Test, 10_000).Key);
        var validation = TrainingJob.Split(Fashion).Validation;
        var wholeValidation = AnalysisSubset.Of(Fashion, SplitPart.Validation, null).Images;
        Assert.Equal(validation.Labels, wholeValidation.Labels);
        Assert.Equal(validation.Pixels, wholeValidation.Pixels);
    }

    [Fact]
    public void ASmallerSubsetIsPartOfALargerOne()
    {
        var small = Rows(AnalysisSubset.Validation(Fashion, 300).Images);
        var large = Rows(AnalysisSubset.Validation(Fashion, 2_000).Images).ToHashSet();

        Assert.All(small, row => Assert.Contains(row, large));
    }

    [Fact]
    public void MoreImagesThanThePartHasOrTheTrainingImagesAreRefused()
    {
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => AnalysisSubset.Validation(Fashion, 5_001));
        Assert.StartsWith("Subset size must be between 1 and 5,000, the validation images of fashion-mnist (got 5,001).", tooMany.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => AnalysisSubset.Of(Fashion, SplitPart.Test, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => AnalysisSubset.Of(Fashion, SplitPart.Train, 10));
    }

    private static int[] ClassCounts(LabeledImages images)
    {
        var counts = new int[images.ClassCount];
        foreach (var label in images.Labels) counts[label]++;
        return counts;
    }

    /// <summary>Each image as its label and pixels in text, to compare images of two subsets.</summary>
    private static IEnumerable<string> Rows(LabeledImages images) =>
        Enumerable.Range(0, images.Count).Select(i =>
            images.Labels[i] + ":" + Convert.ToHexString(images.Pixels.AsSpan(i * images.PixelsPerImage, images.PixelsPerImage)));
}
