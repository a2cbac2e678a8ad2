using CompressionLab.Core.Distillation;

namespace CompressionLab.Tests.Distillation;

public class SoftTargetsTests
{
    [Fact]
    public void SoftmaxMatchesHandValues()
    {
        // z = (0, ln 2, ln 3) at T = 1: e^z = (1, 2, 3), so p = (1, 2, 3)/6.
        var p = SoftTargets.Softmax([0f, (float)Math.Log(2), (float)Math.Log(3)], 1);
        Assert.Equal(1.0 / 6, p[0], 6);
        Assert.Equal(2.0 / 6, p[1], 6);
        Assert.Equal(3.0 / 6, p[2], 6);

        // z = (0, 2) at T = 2: p = (1, e)/(1 + e).
        var q = SoftTargets.Softmax([0f, 2f], 2);
        Assert.Equal(1 / (1 + Math.E), q[0], 12);
        Assert.Equal(Math.E / (1 + Math.E), q[1], 12);
    }

    [Fact]
    public void LargeTemperatureTendsToUniformAndSmallToOneHot()
    {
        float[] logits = [3f, -1f, 0.5f, 2f];
        var hot = SoftTargets.Softmax(logits, 0.01);
        Assert.Equal(1, hot[0], 12);
        Assert.All(hot.Skip(1), p => Assert.True(p < 1e-40));

        var flat = SoftTargets.Softmax(logits, 1e6);
        Assert.All(flat, p => Assert.Equal(0.25, p, 5));
        Assert.Equal(Math.Log(4), SoftTargets.Entropy(flat), 5);

        // The entropy grows with T.
        var entropies = new[] { 0.5, 1, 2, 4, 8 }.Select(t => SoftTargets.Entropy(SoftTargets.Softmax(logits, t))).ToArray();
        Assert.True(entropies.Zip(entropies.Skip(1)).All(pair => pair.First < pair.Second), string.Join(", ", entropies));
    }

    [Fact]
    public void LogitsOfHundredAtTemperatureFiveHundredthsNeitherOverflowNorGiveMinusInfinity()
    {
        float[] logits = [100f, -100f, 99f];
        var log = new double[3];
        SoftTargets.LogSoftmax(logits, 0.05, log);
        Assert.All(log, v => Assert.True(double.IsFinite(v)));
        // log p_2 = (99 − 100)/0.05 − log(1 + e^-20 + e^-4000) ≈ −20.
        Assert.Equal(-20, log[2], 6);
        Assert.Equal(-4000, log[1], 6);
        // KL of a teacher against this student stays finite although p_student underflows to 0 in double.
        var teacher = SoftTargets.Softmax([0f, 0f, 0f], 1);
        var kl = SoftTargets.KlDivergence(teacher, log);
        Assert.True(double.IsFinite(kl));
        // Hand: Σ (1/3)(ln(1/3) − log q) = ln(1/3) + (0 + 4000 + 20)/3 (up to the e^-20 in log q_0).
        Assert.Equal(Math.Log(1.0 / 3) + (4020.0 / 3), kl, 4);
    }

    [Fact]
    public void KlIsZeroForIdenticalRowsAndPositiveOtherwise()
    {
        float[] a = [1f, 2f, 0.5f];
        var log = new double[3];
        SoftTargets.LogSoftmax(a, 3, log);
        Assert.Equal(0, SoftTargets.KlDivergence(SoftTargets.Softmax(a, 3), log), 14);

        SoftTargets.LogSoftmax([2f, 1f, 0.5f], 3, log);
        var kl = SoftTargets.KlDivergence(SoftTargets.Softmax(a, 3), log);
        // Hand, two-class-free check: the KL of swapped first two classes is (p0 − p1)(ln p0 − ln p1) with p from a.
        var p = SoftTargets.Softmax(a, 3);
        Assert.Equal((p[0] - p[1]) * (Math.Log(p[0]) - Math.Log(p[1])), kl, 12);
        Assert.True(kl > 0);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void TemperatureMustBeFiniteAndPositive(double t)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => SoftTargets.Softmax([1f, 2f], t));
        Assert.Contains("temperature", error.Message);
    }
}
