using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>Every layer of a plan masked at once, checked against masks worked out independently, and restored bit for bit.</summary>
public class PlanMasksTests
{
    [Fact]
    public void APlansMasksApplyTogetherAsEachLayerAloneWouldAndRestoreEveryParameter()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 21);
        var layers = network.Layers;
        var plan = PruningPlan.Default(layers, PruningMethod.Element, 0.6)
            .WithStageMethod("stage2", PruningMethod.FilterL2)
            .WithStageRate("stage2", 0.25)
            .WithOverride("stage3.conv2", 0.5, PruningMethod.FilterL1)
            .Excluding("stage3.conv1", "left dense by the test")
            .Resolve(layers);
        var before = PruningTestModels.Snapshot(network);

        var masks = PlanMasks.For(network, plan);
        Assert.Equal(["stage1.conv1", "stage1.conv2", "stage2.conv1", "stage2.conv2", "stage3.conv2"], masks.Masks.Select(m => m.LayerName));
        using (masks.ApplyTo(network))
        {
            var state = network.state_dict();
            foreach (var layer in new[] { "stage1.conv1", "stage1.conv2" })
            {
                // Element at 0.6: the round(0.6·n) smallest |w| (ties by index) are zero, the rest untouched.
                var dense = Floats(before[$"{layer}.weight"]);
                var pruned = Smallest(dense.Select(w => (double)Math.Abs(w)).ToArray(), (int)Math.Round(0.6m * dense.Length, MidpointRounding.AwayFromZero));
                var live = state[$"{layer}.weight"].data<float>().ToArray();
                for (var i = 0; i < dense.Length; i++) Assert.Equal(pruned.Contains(i) ? 0f : dense[i], live[i]);
            }
            AssertFilters(before, state, "stage2.conv1", "stage2.bn1", 0.25m, l2: true);
            AssertFilters(before, state, "stage2.conv2", "stage2.bn2", 0.25m, l2: true);
            AssertFilters(before, state, "stage3.conv2", "stage3.bn2", 0.5m, l2: false);
            // Excluded and output layers are untouched.
            Assert.Equal(before["stage3.conv1.weight"], state["stage3.conv1.weight"].bytes.ToArray());
            Assert.Equal(before["classifier.fc.weight"], state["classifier.fc.weight"].bytes.ToArray());
        }
        PruningTestModels.AssertSameSnapshot(before, PruningTestModels.Snapshot(network));
    }

    [Fact]
    public void APlanWithNothingPrunedHasNoMasks()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 22);

        Assert.Empty(PlanMasks.For(network, PruningPlan.Default(network.Layers, PruningMethod.Element, 0).Resolve(network.Layers)).Masks);
    }

    /// <summary>Filter pruning by norm, worked out from the saved dense bytes: the pruned rows of the weight and of the BatchNorm's γ and β are zero.</summary>
    private static void AssertFilters(Dictionary<string, byte[]> before, Dictionary<string, TorchSharp.torch.Tensor> state, string layer, string norm, decimal level, bool l2)
    {
        var dense = Floats(before[$"{layer}.weight"]);
        var filters = state[$"{layer}.weight"].shape[0];
        var perFilter = dense.Length / (int)filters;
        var norms = Enumerable.Range(0, (int)filters).Select(f =>
        {
            var row = dense.Skip(f * perFilter).Take(perFilter).Select(w => (double)w);
            return l2 ? Math.Sqrt(row.Sum(w => w * w)) : row.Sum(Math.Abs);
        }).ToArray();
        var pruned = Smallest(norms, (int)Math.Round(level * filters, MidpointRounding.AwayFromZero));
        var live = state[$"{layer}.weight"].data<float>().ToArray();
        var gamma = state[$"{norm}.weight"].data<float>().ToArray();
        var beta = state[$"{norm}.bias"].data<float>().ToArray();
        for (var f = 0; f < filters; f++)
        {
            var zero = pruned.Contains(f);
            Assert.Equal(zero, live.Skip(f * perFilter).Take(perFilter).All(w => w == 0));
            Assert.Equal(zero, gamma[f] == 0 && beta[f] == 0);
        }
    }

    private static HashSet<int> Smallest(double[] scores, int count) =>
        [.. Enumerable.Range(0, scores.Length).OrderBy(i => scores[i]).ThenBy(i => i).Take(count)];

    private static float[] Floats(byte[] bytes)
    {
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
