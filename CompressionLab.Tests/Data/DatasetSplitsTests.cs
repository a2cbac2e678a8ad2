using CompressionLab.Core.Data;

namespace CompressionLab.Tests.Data;

public sealed class DatasetSplitsTests
{
    private static readonly Dataset Small = SyntheticDataset.Generate(seed: 11, trainCount: 503, testCount: 60);

    private static int[] ClassCounts(LabeledImages images) =>
        Enumerable.Range(0, images.ClassCount).Select(c => images.Labels.Count(l => l == c)).ToArray();

    [Fact]
    public void SizesAddUpAndTestIsTheOfficialTestPart()
    {
        var split = DatasetSplits.Create(Small, validationSize: 100, seed: 4);
        Assert.Equal(100, split.Validation.Count);
        Assert.Equal(403, split.Train.Count);
        Assert.Same(Small.Test, split.Test);
        Assert.Same(split.Validation, split.Part(SplitPart.Validation));
        Assert.Equal("synthetic/validation", split.Validation.Name);
    }

    [Fact]
    public void TrainAndValidationAreDisjointAndCoverTheOfficialTrainPart()
    {
        var split = DatasetSplits.Create(Small, validationSize: 100, seed: 4);
        Assert.Empty(split.TrainIndices.Intersect(split.ValidationIndices));
        Assert.Equal(Enumerable.Range(0, Small.Train.Count), split.TrainIndices.Concat(split.ValidationIndices).Order());
        // The images are the ones the indices name, in that order.
        var k = split.ValidationIndices[7];
        Assert.Equal(Small.Train.Pixels.AsSpan(k * 784, 784).ToArray(), split.Validation.Pixels.AsSpan(7 * 784, 784).ToArray());
        Assert.Equal(Small.Train.Labels[k], split.Validation.Labels[7]);
    }

    [Fact]
    public void SameSeedSameSplitOtherSeedOtherSplit()
    {
        var a = DatasetSplits.Create(Small, validationSize: 100, seed: 4);
        var b = DatasetSplits.Create(Small, validationSize: 100, seed: 4);
        var c = DatasetSplits.Create(Small, validationSize: 100, seed: 5);
        Assert.Equal(a.ValidationIndices, b.ValidationIndices);
        Assert.Equal(a.Validation.Pixels, b.Validation.Pixels);
        Assert.NotEqual(a.ValidationIndices, c.ValidationIndices);
    }

    [Fact]
    public void ValidationIsStratified()
    {
        // 503 train images: classes hold 50 or 51; a hold-out of 95 gives 9 or 10 per class.
        var counts = ClassCounts(DatasetSplits.Create(Small, validationSize: 95, seed: 2).Validation);
        Assert.Equal(95, counts.Sum());
        Assert.True(counts.Max() - counts.Min() <= 1, string.Join(",", counts));
        Assert.Equal(5, counts.Count(n => n == 10));
    }

    [Fact]
    public void DefaultSplitOfFashionMnistHoldsOut500PerClass()
    {
        var split = DatasetSplits.Create(TestData.FashionMnist);
        Assert.Equal((55_000, 5_000, 10_000), (split.Train.Count, split.Validation.Count, split.Test.Count));
        Assert.All(ClassCounts(split.Validation), n => Assert.Equal(500, n));
        Assert.All(ClassCounts(split.Train), n => Assert.Equal(5_500, n));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(503)]
    public void ValidationSizeMustLeaveTrainImages(int size)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => DatasetSplits.Create(Small, validationSize: size));
        Assert.Contains("the train part has 503", e.Message);
    }

    [Theory]
    [InlineData("train", SplitPart.Train)]
    [InlineData("val", SplitPart.Validation)]
    [InlineData("Validation", SplitPart.Validation)]
    [InlineData(" test ", SplitPart.Test)]
    public void PartNamesParse(string name, SplitPart part) => Assert.Equal(part, DatasetSplits.ParsePart(name));

    [Fact]
    public void UnknownPartNameIsNamed() =>
        Assert.Contains("'dev'", Assert.Throws<ArgumentException>(() => DatasetSplits.ParsePart("dev")).Message);
}

public sealed class StratifiedSubsetTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(10)]
    [InlineData(37)]
    [InlineData(300)]
    public void PerClassCountsDifferByAtMostOne(int size)
    {
        var images = SyntheticDataset.Generate(seed: 1, trainCount: 400, testCount: 10).Train;
        var subset = StratifiedSubset.Take(images, size, seed: 3);
        var counts = Enumerable.Range(0, 10).Select(c => subset.Labels.Count(l => l == c)).ToArray();
        Assert.Equal(size, subset.Count);
        Assert.Equal(size, counts.Sum());
        Assert.True(counts.Max() - counts.Min() <= 1, string.Join(",", counts));
    }

    [Fact]
    public void RemainderGoesToSeededClassesNotAlwaysTheFirst()
    {
        byte[] labels = [.. Enumerable.Range(0, 100).Select(i => (byte)(i % 10))];
        var extraClasses = Enumerable.Range(0, 20)
            .Select(seed => string.Join(",", StratifiedSubset.Indices(labels, 10, 13, seed).Select(i => labels[i]).GroupBy(l => l).Where(g => g.Count() == 2).Select(g => g.Key).Order()))
            .ToHashSet();
        Assert.True(extraClasses.Count > 1, "every seed gave the remainder to the same classes");
    }

    [Fact]
    public void DeterministicSortedAndNested()
    {
        byte[] labels = [.. Enumerable.Range(0, 1000).Select(i => (byte)((i * 7) % 10))];
        var small = StratifiedSubset.Indices(labels, 10, 50, seed: 9);
        var again = StratifiedSubset.Indices(labels, 10, 50, seed: 9);
        var large = StratifiedSubset.Indices(labels, 10, 333, seed: 9);
        Assert.Equal(small, again);
        Assert.Equal(small.Order(), small);
        Assert.Equal(50, small.Distinct().Count());
        Assert.Subset(large.ToHashSet(), small.ToHashSet());
        Assert.NotEqual(small, StratifiedSubset.Indices(labels, 10, 50, seed: 10));
    }

    [Fact]
    public void ClassesThatRunOutLeaveTheRestToOthers()
    {
        // Class 0 has 2 items, class 1 has 20: a subset of 10 takes both of class 0 and 8 of class 1.
        byte[] labels = [0, 0, .. Enumerable.Repeat((byte)1, 20)];
        var chosen = StratifiedSubset.Indices(labels, 2, 10, seed: 1);
        Assert.Equal(2, chosen.Count(i => labels[i] == 0));
        Assert.Equal(8, chosen.Count(i => labels[i] == 1));
    }

    [Fact]
    public void MoreThanAvailableIsAnErrorNamingBothCounts()
    {
        var images = SyntheticDataset.Generate(seed: 1, trainCount: 30, testCount: 10).Train;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => StratifiedSubset.Take(images, 31, seed: 1));
        Assert.Contains("31 images", e.Message);
        Assert.Contains("synthetic/train", e.Message);
        Assert.Contains("only 30", e.Message);
        Assert.Same(images, StratifiedSubset.Take(images, 30, seed: 1));
    }
}
