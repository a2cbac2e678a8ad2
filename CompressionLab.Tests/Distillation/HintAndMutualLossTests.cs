using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Distillation;

/// <summary>
/// The FitNets hint loss and the mutual-learning loss: values against hand computations, gradients against central finite
/// differences (double), and the settings' refusals.
/// </summary>
public class HintAndMutualLossTests
{
    private const double H = 1e-6;

    /// <summary>Two stages: student maps 2×2×3×3 and 2×3×2×2, teacher maps 2×3×3×3 and 2×4×2×2, 1×1 regressors with bias.</summary>
    private static readonly long[][] Shapes = [[2, 2, 3, 3], [2, 3, 3, 3], [3, 2, 1, 1], [3], [2, 3, 2, 2], [2, 4, 2, 2], [4, 3, 1, 1], [4]];

    private static double[][] Values()
    {
        var random = new Random(7);
        return [.. Shapes.Select(shape => Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (random.NextDouble() * 2) - 1).ToArray())];
    }

    private static Tensor HintLoss(double[][] values, bool requiresGrad, out Tensor[] leaves)
    {
        leaves = [.. values.Select((v, i) => tensor(v, ScalarType.Float64).view(Shapes[i]))];
        if (requiresGrad) foreach (var leaf in leaves) leaf.requires_grad_();
        return HintObjective.HintLoss([(leaves[0], leaves[1], leaves[2], leaves[3]), (leaves[4], leaves[5], leaves[6], leaves[7])]);
    }

    [Fact]
    public void HintLossGradientMatchesFiniteDifferencesForStudentMapsAndRegressors()
    {
        var values = Values();
        double[][] analytic;
        using (var scope = NewDisposeScope())
        {
            HintLoss(values, requiresGrad: true, out var leaves).backward();
            // Teacher maps (1 and 5) are targets: only the student maps and the regressors' weights and biases are checked.
            analytic = [.. leaves.Select(l => l.grad is null ? [] : l.grad.reshape(-1).data<double>().ToArray())];
        }
        double Value(double[][] v)
        {
            using var scope = NewDisposeScope();
            return HintLoss(v, requiresGrad: false, out _).item<double>();
        }
        foreach (var which in new[] { 0, 2, 3, 4, 6, 7 })
        {
            for (var i = 0; i < values[which].Length; i++)
            {
                var plus = values.Select(a => (double[])a.Clone()).ToArray();
                var minus = values.Select(a => (double[])a.Clone()).ToArray();
                plus[which][i] += H;
                minus[which][i] -= H;
                var numeric = (Value(plus) - Value(minus)) / (2 * H);
                Assert.True(Math.Abs(numeric - analytic[which][i]) < 1e-7, $"tensor {which} element {i}: autograd {analytic[which][i]}, finite differences {numeric}");
            }
        }
    }

    [Fact]
    public void HintLossIsTheMeanOverStagesOfTheRegressedMapsMse()
    {
        var v = Values();
        double StageMse(double[] student, double[] teacher, double[] weight, double[] bias, int n, int cs, int ct, int hw)
        {
            var sum = 0.0;
            for (var b = 0; b < n; b++)
                for (var o = 0; o < ct; o++)
                    for (var p = 0; p < hw; p++)
                    {
                        var r = bias[o];
                        for (var c = 0; c < cs; c++) r += weight[(o * cs) + c] * student[(((b * cs) + c) * hw) + p];
                        var d = r - teacher[(((b * ct) + o) * hw) + p];
                        sum += d * d;
                    }
            return sum / (n * ct * hw);
        }
        var expected = (StageMse(v[0], v[1], v[2], v[3], 2, 2, 3, 9) + StageMse(v[4], v[5], v[6], v[7], 2, 3, 4, 4)) / 2;
        using var scope = NewDisposeScope();
        Assert.Equal(expected, HintLoss(v, requiresGrad: false, out _).item<double>(), 12);
    }

    private static readonly double[] First = [1.0, -0.5, 2.0, 0.3, 0.1, -1.2];
    private static readonly double[] Second = [2.0, 0.5, -1.0, 0.0, 1.5, 0.7];
    private static readonly long[] Labels = [2, 1];

    /// <summary>CE(z) + [T²·]KL(softmax(other/T) ‖ softmax(z/T)), by hand, averaged over the two rows.</summary>
    private static double OwnLoss(double[] z, double[] other, double t, bool t2)
    {
        double kl = 0, ce = 0;
        for (var r = 0; r < 2; r++)
        {
            var p = Softmax([.. other.Skip(3 * r).Take(3).Select(x => x / t)]);
            var q = Softmax([.. z.Skip(3 * r).Take(3).Select(x => x / t)]);
            kl += p.Zip(q).Sum(x => x.First * Math.Log(x.First / x.Second));
            ce -= Math.Log(Softmax([.. z.Skip(3 * r).Take(3)])[Labels[r]]);
        }
        return (ce / 2) + ((t2 ? t * t : 1) * kl / 2);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(3, true)]
    [InlineData(2, false)]
    public void MutualLossIsTheFirstStudentsAndEachStudentGetsTheGradientOfItsOwnLoss(double t, bool t2)
    {
        var settings = new DistillationSettings(DistillationLoss.Mutual, t, ScaleByT2: t2);
        double value;
        double[] g1, g2;
        using (var scope = NewDisposeScope())
        {
            var z1 = tensor(First, ScalarType.Float64).view(2, 3).requires_grad_();
            var z2 = tensor(Second, ScalarType.Float64).view(2, 3).requires_grad_();
            var loss = MutualObjective.MutualLoss(settings, z1, z2, tensor(Labels));
            value = loss.item<double>();
            loss.backward();
            g1 = z1.grad!.reshape(-1).data<double>().ToArray();
            g2 = z2.grad!.reshape(-1).data<double>().ToArray();
        }
        Assert.Equal(OwnLoss(First, Second, t, t2), value, 10);
        for (var i = 0; i < First.Length; i++)
        {
            var (plus, minus) = ((double[])First.Clone(), (double[])First.Clone());
            plus[i] += H;
            minus[i] -= H;
            // The peer's prediction is held fixed: only the first student's own loss moves with z₁.
            var numeric = (OwnLoss(plus, Second, t, t2) - OwnLoss(minus, Second, t, t2)) / (2 * H);
            Assert.True(Math.Abs(numeric - g1[i]) < 1e-6, $"first, logit {i}: autograd {g1[i]}, finite differences {numeric}");
            (plus, minus) = ((double[])Second.Clone(), (double[])Second.Clone());
            plus[i] += H;
            minus[i] -= H;
            numeric = (OwnLoss(plus, First, t, t2) - OwnLoss(minus, First, t, t2)) / (2 * H);
            Assert.True(Math.Abs(numeric - g2[i]) < 1e-6, $"second, logit {i}: autograd {g2[i]}, finite differences {numeric}");
        }
    }

    [Fact]
    public void IdenticalStudentsTeachEachOtherNothing()
    {
        var settings = new DistillationSettings(DistillationLoss.Mutual, 1);
        using var scope = NewDisposeScope();
        var z = tensor(First, ScalarType.Float64).view(2, 3);
        var ce = nn.functional.cross_entropy(z, tensor(Labels)).item<double>();
        Assert.Equal(ce, MutualObjective.MutualLoss(settings, z, z.clone(), tensor(Labels)).item<double>(), 12);
    }

    [Theory]
    [InlineData("hints", DistillationLoss.Hints)]
    [InlineData("dml", DistillationLoss.Mutual)]
    [InlineData("fitnets", DistillationLoss.Hints)]
    public void TheNewObjectivesParse(string text, DistillationLoss loss) => Assert.Equal(loss, DistillationSettings.ParseLoss(text));

    [Fact]
    public void KeysNameWhatMakesTheRunDifferent()
    {
        Assert.Equal("hints T=4 alpha=0.9 t2=on hint=added beta=0.5 stages=all", new DistillationSettings(DistillationLoss.Hints, HintWeight: 0.5).Key);
        Assert.Equal("hints T=2 alpha=0.5 t2=on hint=first-phase epochs=3 stages=stage1,stage2",
            new DistillationSettings(DistillationLoss.Hints, 2, 0.5, Hints: HintMode.FirstPhase, HintEpochs: 3, HintStages: ["stage1", "stage2"]).Key);
        Assert.Equal("dml T=1 t2=on", new DistillationSettings(DistillationLoss.Mutual, 1, 0.3).Key);
    }

    public static TheoryData<DistillationSettings, string> Refused => new()
    {
        { new DistillationSettings(DistillationLoss.Hints, HintWeight: 0), nameof(DistillationSettings.HintWeight) },
        { new DistillationSettings(DistillationLoss.Hints, HintWeight: double.PositiveInfinity), nameof(DistillationSettings.HintWeight) },
        { new DistillationSettings(DistillationLoss.Hints, Hints: HintMode.FirstPhase, HintEpochs: 0), nameof(DistillationSettings.HintEpochs) },
        { new DistillationSettings(DistillationLoss.Hints, HintStages: []), nameof(DistillationSettings.HintStages) },
        { new DistillationSettings(DistillationLoss.Mutual, 1, AverageOverFlips: true), nameof(DistillationSettings.AverageOverFlips) },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void SettingsThatMakeNoSenseAreNamed(DistillationSettings settings, string setting) =>
        Assert.Equal(setting, Assert.Throws<InvalidRequestException>(settings.Validate).Setting);

    [Fact]
    public void ASavedFirstPhaseRunCountsTheHintEpochsAndTheDistillationsTogether()
    {
        var request = new DistillationRequest([], "vgg-tiny", new DistillationSettings(DistillationLoss.Hints, Hints: HintMode.FirstPhase, HintEpochs: 2), Epochs: 3);
        CompressionLab.Core.Models.TrainingStateHeader Header(int done, int epochs, string constraint) => new(1, "vgg-tiny", 10, 28, 28,
            CompressionLab.Core.Models.TrainingSettings.ForArchitecture("vgg-tiny") with { Epochs = epochs }, new("x", 10, "f"), done, [], 0,
            DateTimeOffset.UnixEpoch, [], "", constraint);
        Assert.Equal((1, 5), DistillationJobs.SavedEpochs(Header(1, 2, "distillation hints T=4 alpha=0.9 t2=on hint=first-phase epochs=2 stages=all phase=hints from abc"), request));
        Assert.Equal((3, 5), DistillationJobs.SavedEpochs(Header(1, 3, "distillation hints T=4 alpha=0.9 t2=on hint=first-phase epochs=2 stages=all from abc"), request));
        Assert.Equal((1, 3), DistillationJobs.SavedEpochs(Header(1, 3, "distillation soft T=4"), request with { Objective = new DistillationSettings(DistillationLoss.Soft) }));
    }

    private static double[] Softmax(double[] z)
    {
        var m = z.Max();
        var e = z.Select(v => Math.Exp(v - m)).ToArray();
        return [.. e.Select(v => v / e.Sum())];
    }
}
