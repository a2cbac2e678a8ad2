using CompressionLab.Core.Distillation;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Distillation;

/// <summary>Each objective's value against a hand computation, and its gradient against central finite differences (double).</summary>
public class DistillationLossTests
{
    private static readonly double[] Student = [1.0, -0.5, 2.0, 0.3, 0.1, -1.2];
    private static readonly double[] Teacher = [2.0, 0.5, -1.0, 0.0, 1.5, 0.7];
    private static readonly long[] Labels = [2, 1];

    private static double Loss(DistillationSettings settings, double[] student)
    {
        using var scope = NewDisposeScope();
        var s = tensor(student, ScalarType.Float64).view(2, 3);
        var t = TeacherInput(settings);
        return settings.BatchLoss(s, t, tensor(Labels)).item<double>();
    }

    /// <summary>What the loss takes from the teacher: log p(T) for the soft objectives, logits for logit matching.</summary>
    private static Tensor TeacherInput(DistillationSettings settings)
    {
        var logits = tensor(Teacher, ScalarType.Float64).view(2, 3);
        return settings.Loss == DistillationLoss.LogitMse ? logits : nn.functional.log_softmax(logits / settings.Temperature, 1);
    }

    public static TheoryData<DistillationLoss, double, double, bool> Settings => new()
    {
        { DistillationLoss.Soft, 4, 1, true },
        { DistillationLoss.Soft, 0.5, 1, false },
        { DistillationLoss.SoftHard, 3, 0.7, true },
        { DistillationLoss.SoftHard, 2, 0.3, false },
        { DistillationLoss.LogitMse, 1, 0.5, true },
        { DistillationLoss.LogitMse, 1, 1, true },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void GradientMatchesFiniteDifferences(DistillationLoss loss, double temperature, double alpha, bool t2)
    {
        var settings = new DistillationSettings(loss, temperature, alpha, t2);
        double[] analytic;
        using (var scope = NewDisposeScope())
        {
            var s = tensor(Student, ScalarType.Float64).view(2, 3).requires_grad_();
            settings.BatchLoss(s, TeacherInput(settings), tensor(Labels)).backward();
            analytic = s.grad!.reshape(-1).data<double>().ToArray();
        }
        const double h = 1e-6;
        for (var i = 0; i < Student.Length; i++)
        {
            var plus = (double[])Student.Clone();
            var minus = (double[])Student.Clone();
            plus[i] += h;
            minus[i] -= h;
            var numeric = (Loss(settings, plus) - Loss(settings, minus)) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[i]) < 1e-6, $"logit {i}: autograd {analytic[i]}, finite differences {numeric}");
        }
    }

    [Fact]
    public void SoftHardMatchesAHandComputationAndTheT2FactorIsTSquared()
    {
        const double T = 3, alpha = 0.6;
        double kl = 0, ce = 0;
        for (var r = 0; r < 2; r++)
        {
            var p = Softmax(Teacher.Skip(3 * r).Take(3).Select(v => v / T).ToArray());
            var q = Softmax(Student.Skip(3 * r).Take(3).Select(v => v / T).ToArray());
            kl += p.Zip(q).Sum(x => x.First * Math.Log(x.First / x.Second));
            ce -= Math.Log(Softmax(Student.Skip(3 * r).Take(3).ToArray())[Labels[r]]);
        }
        kl /= 2;
        ce /= 2;
        Assert.Equal((alpha * T * T * kl) + ((1 - alpha) * ce), Loss(new DistillationSettings(DistillationLoss.SoftHard, T, alpha), Student), 10);
        Assert.Equal((alpha * kl) + ((1 - alpha) * ce), Loss(new DistillationSettings(DistillationLoss.SoftHard, T, alpha, ScaleByT2: false), Student), 10);
        Assert.Equal(T * T * kl, Loss(new DistillationSettings(DistillationLoss.Soft, T, 1), Student), 10);
        var mse = Student.Zip(Teacher).Average(x => (x.First - x.Second) * (x.First - x.Second));
        Assert.Equal((alpha * mse) + ((1 - alpha) * ce), Loss(new DistillationSettings(DistillationLoss.LogitMse, T, alpha), Student), 10);
    }

    [Fact]
    public void TheSameLogitsCostNothingUnderTheSoftObjective()
    {
        var settings = new DistillationSettings(DistillationLoss.Soft, 5, 1);
        using var scope = NewDisposeScope();
        var t = tensor(Teacher, ScalarType.Float64).view(2, 3);
        Assert.Equal(0, settings.BatchLoss(t, nn.functional.log_softmax(t / 5, 1), tensor(Labels)).item<double>(), 12);
    }

    [Theory]
    [InlineData(0, 0.5, "Temperature")]
    [InlineData(double.NaN, 0.5, "Temperature")]
    [InlineData(4, 1.5, "Alpha")]
    [InlineData(4, -0.1, "Alpha")]
    public void OutOfRangeSettingsAreNamed(double temperature, double alpha, string setting)
    {
        var error = Assert.Throws<CompressionLab.Core.Jobs.InvalidRequestException>(() => new DistillationSettings(DistillationLoss.SoftHard, temperature, alpha).Validate());
        Assert.Equal(setting, error.Setting);
    }

    private static double[] Softmax(double[] z)
    {
        var m = z.Max();
        var e = z.Select(v => Math.Exp(v - m)).ToArray();
        return [.. e.Select(v => v / e.Sum())];
    }
}
