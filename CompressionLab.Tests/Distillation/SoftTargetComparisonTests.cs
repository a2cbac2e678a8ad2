using CompressionLab.Core.Distillation;

namespace CompressionLab.Tests.Distillation;

public class SoftTargetComparisonTests
{
    private static ModelLogits Logits(string name, float[,] values, int[] labels, string subset = "validation:4")
    {
        var rows = values.GetLength(0);
        var classes = values.GetLength(1);
        var flat = new float[rows * classes];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < classes; c++) flat[(r * classes) + c] = values[r, c];
        return new ModelLogits(name, $"hash-{name}", subset, rows, classes, flat, labels);
    }

    private static readonly int[] Labels = [0, 1, 2, 0];

    private static readonly float[,] TeacherValues = { { 4, 1, 0 }, { 0, 3, 2 }, { 1, 0, 2 }, { 2, 2.5f, 0 } };
    private static readonly float[,] StudentValues = { { 2, 1, 1 }, { 1, 2, 0 }, { 2, 0, 1 }, { 3, 1, 0 } };

    [Fact]
    public void IdenticalModelsHaveZeroKlAndFullAgreement()
    {
        var comparison = new SoftTargetComparison([Logits("t", TeacherValues, Labels)], Logits("s", TeacherValues, Labels));
        foreach (var point in comparison.Sweep(SoftTargetComparison.DefaultTemperatures))
        {
            Assert.Equal(0, point.Kl, 12);
            Assert.Equal(0, point.KlT2, 10);
            Assert.Equal(1, point.Agreement);
            Assert.Equal(point.TeacherEntropy, point.StudentEntropy, 12);
        }
    }

    [Fact]
    public void MeansAgreementAndTheT2FactorMatchARowByRowComputation()
    {
        var teacher = Logits("t", TeacherValues, Labels);
        var student = Logits("s", StudentValues, Labels);
        var comparison = new SoftTargetComparison([teacher], student);
        const double T = 4;
        var point = comparison.At(T);

        double kl = 0, ht = 0, hs = 0;
        for (var r = 0; r < 4; r++)
        {
            var p = SoftTargets.Softmax(teacher.Row(r), T);
            var q = SoftTargets.Softmax(student.Row(r), T);
            kl += p.Zip(q).Sum(x => x.First * Math.Log(x.First / x.Second));
            ht += SoftTargets.Entropy(p);
            hs += SoftTargets.Entropy(q);
        }
        Assert.Equal(kl / 4, point.Kl, 12);
        Assert.Equal(kl / 4 * 16, point.KlT2, 10);
        Assert.Equal(ht / 4, point.TeacherEntropy, 12);
        Assert.Equal(hs / 4, point.StudentEntropy, 12);
        Assert.True(point.Kl > 0);
        // Top-1: teacher (0, 1, 2, 1), student (0, 1, 0, 0): rows 0 and 1 agree.
        Assert.Equal(0.5, point.Agreement);
        Assert.Equal(0.5, comparison.Agreement);
        // Per class: class 0 has rows 0 and 3 (one agrees), class 1 row 1 (agrees), class 2 row 2 (does not).
        Assert.Equal([2, 1, 1], point.PerClass.Select(c => c.Images));
        Assert.Equal([0.5, 1, 0], point.PerClass.Select(c => c.Agreement));
    }

    [Fact]
    public void ClassSimilarityIsTheMeanTeacherSoftTargetPerTrueClass()
    {
        var teacher = Logits("t", TeacherValues, Labels);
        var comparison = new SoftTargetComparison([teacher], Logits("s", StudentValues, Labels));
        var point = comparison.At(2);
        var row0 = SoftTargets.Softmax(teacher.Row(0), 2);
        var row3 = SoftTargets.Softmax(teacher.Row(3), 2);
        for (var c = 0; c < 3; c++)
            Assert.Equal((row0[c] + row3[c]) / 2, point.ClassSimilarity[0][c], 12);
        Assert.All(point.ClassSimilarity, row => Assert.Equal(1, row.Sum(), 12));
    }

    [Fact]
    public void EnsembleTeacherIsTheMeanOfItsMembersSoftTargets()
    {
        var a = Logits("a", TeacherValues, Labels);
        var b = Logits("b", StudentValues, Labels);
        var comparison = new SoftTargetComparison([a, b], Logits("s", StudentValues, Labels));
        for (var r = 0; r < 4; r++)
        {
            var expected = SoftTargets.Softmax(a.Row(r), 3).Zip(SoftTargets.Softmax(b.Row(r), 3), (x, y) => (x + y) / 2).ToArray();
            var image = comparison.Image(r, 3);
            for (var c = 0; c < 3; c++) Assert.Equal(expected[c], image.Teacher[c], 12);
        }
    }

    [Fact]
    public void MostDisagreeingPutsDifferentTop1FirstThenLargerKl()
    {
        var comparison = new SoftTargetComparison([Logits("t", TeacherValues, Labels)], Logits("s", StudentValues, Labels));
        var order = comparison.MostDisagreeing(2, 4);
        Assert.Equal([2, 3], order.Take(2).Order());
        var kls = order.Select(r => comparison.Image(r, 2).Kl).ToArray();
        Assert.True(kls[0] >= kls[1] && kls[2] >= kls[3]);
    }

    [Fact]
    public void LogitsOnOtherImagesAreRefusedNamingBoth()
    {
        var error = Assert.Throws<ArgumentException>(() => new SoftTargetComparison(
            [Logits("teacher.ckpt", TeacherValues, Labels, "validation:4")], Logits("student.ckpt", StudentValues, Labels, "test:4")));
        Assert.Contains("teacher.ckpt", error.Message);
        Assert.Contains("student.ckpt", error.Message);
    }

    [Fact]
    public void NonFiniteLogitIsNamed()
    {
        var bad = (float[,])StudentValues.Clone();
        bad[2, 1] = float.NaN;
        var error = Assert.Throws<ArgumentException>(() => new SoftTargetComparison([Logits("t", TeacherValues, Labels)], Logits("s", bad, Labels)));
        Assert.Contains("image 2, class 1", error.Message);
    }
}
