using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// Masks held through training: after every optimizer step the pruned weights (and a pruned filter's bias and BatchNorm
/// γ, β) are exactly 0, and AdamW's moments at those positions are 0 too, so that nothing revives them. Serial: training
/// draws from TorchSharp's global generator.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class MaskedTrainingTests
{
    private static LabeledImages Images() => ModelTestData.FashionTrain(64);

    /// <summary>Element pruning in stages 1 and 2, filter pruning (L1) in stage 3.</summary>
    private static ResolvedPlan Plan(ClassifierNetwork network) =>
        PruningPlan.Default(network.Layers, PruningMethod.Element)
            .WithStageRate("stage1", 0.5).WithStageRate("stage2", 0.7)
            .WithStageRate("stage3", 0.5).WithStageMethod("stage3", PruningMethod.FilterL1)
            .Resolve(network.Layers);

    private static optim.Optimizer AdamW(ClassifierNetwork network) => optim.AdamW(network.parameters(), lr: 1e-2, weight_decay: 1e-2);

    /// <summary>One training step on the images, with the constraint's hooks where the trainer calls them (none: a plain step).</summary>
    private static void Step(ClassifierNetwork network, optim.Optimizer optimizer, LabeledImages images, long step, ITrainingConstraint? constraint = null)
    {
        using var scope = NewDisposeScope();
        network.train();
        constraint?.BeforeBatch(step, optimizer);
        optimizer.zero_grad();
        var inputs = ImageTensors.Normalize(ImageTensors.Pixels(images));
        var loss = nn.functional.cross_entropy(network.call(inputs), ImageTensors.Labels(images));
        loss.backward();
        constraint?.BeforeOptimizerStep(step, optimizer);
        optimizer.step();
        constraint?.AfterOptimizerStep(step, optimizer);
    }

    /// <summary>Every tensor a mask zeroes, with its pruned positions: the weight (element), or the filter rows of weight, bias and BatchNorm γ, β.</summary>
    private static List<(string Name, Tensor Live, Tensor Pruned)> Targets(ClassifierNetwork network, IReadOnlyList<PruningMask> masks)
    {
        var parameters = network.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var targets = new List<(string, Tensor, Tensor)>();
        foreach (var mask in masks)
        {
            var channels = network.Graph.Layer(mask.LayerName);
            var weightPruned = mask.PrunedWeights();
            targets.Add(($"{mask.LayerName}.weight", parameters[$"{mask.LayerName}.weight"], weightPruned));
            if (mask.Criterion != PruningCriterion.Filter) continue;
            var rows = weightPruned.flatten(1).any(1);
            foreach (var name in new[] { $"{mask.LayerName}.bias", $"{channels.Norm}.weight", $"{channels.Norm}.bias" })
                if (parameters.TryGetValue(name, out var live)) targets.Add((name, live, rows));
        }
        return targets;
    }

    private static List<(Tensor ExpAvg, Tensor ExpAvgSq)> Moments(ClassifierNetwork network, optim.Optimizer optimizer, IEnumerable<string> names)
    {
        var order = network.named_parameters().Select(p => p.name).ToList();
        var states = ((TorchSharp.Modules.AdamW)optimizer).state_dict().State.Cast<TorchSharp.Modules.AdamW.State>().ToList();
        return [.. names.Select(n => states[order.IndexOf(n)]).Select(s => (s.exp_avg, s.exp_avg_sq))];
    }

    private static double MaxAbsAt(Tensor tensor, Tensor pruned)
    {
        using var scope = NewDisposeScope();
        return tensor.detach().masked_select(pruned).abs().max().item<float>();
    }

    [Fact]
    public void AfterEveryStepThePrunedWeightsAndTheirMomentsAreExactlyZeroThoughTheMomentsWereNotBeforeMasking()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 3);
        using var optimizer = AdamW(network);
        var images = Images();
        // Three plain steps: the moments at every position are non-zero, as they are mid-run when AGP changes a mask.
        for (var step = 0; step < 3; step++) Step(network, optimizer, images, step);
        var plan = Plan(network);
        // The masks a fixed schedule sets: those of the plan ranked on the current weights.
        var expected = PlanMasks.For(network, plan).Masks;
        var targets = Targets(network, expected);
        Assert.True(targets.Count > expected.Count); // the filter masks also hold BatchNorm's γ and β (and biases, if any)
        var before = Moments(network, optimizer, targets.Select(t => t.Name));
        Assert.All(targets.Select((t, i) => (t, i)), x => Assert.True(MaxAbsAt(before[x.i].ExpAvg, x.t.Pruned) > 0, $"{x.t.Name}: no moment to revive it"));
        using var masks = new MaskedTraining(network, plan, MaskSchedule.For(FineTuneSchedule.Fixed, batchesPerEpoch: 10, epochs: 1), "parent");

        masks.Update(3, optimizer);

        Assert.Equal(expected.Select(m => (m.LayerName, string.Join(",", m.PrunedUnits))), masks.Masks.Select(m => (m.LayerName, string.Join(",", m.PrunedUnits))));
        for (var step = 3L; step < 9; step++)
        {
            if (step > 3) Step(network, optimizer, images, step, masks);
            var moments = Moments(network, optimizer, targets.Select(t => t.Name));
            for (var i = 0; i < targets.Count; i++)
            {
                var (name, live, pruned) = targets[i];
                Assert.True(MaxAbsAt(live, pruned) == 0, $"{name} is not 0 at a pruned position after step {step}");
                Assert.True(MaxAbsAt(moments[i].ExpAvg, pruned) == 0, $"{name}: exp_avg is not 0 at a pruned position after step {step}");
                Assert.True(MaxAbsAt(moments[i].ExpAvgSq, pruned) == 0, $"{name}: exp_avg_sq is not 0 at a pruned position after step {step}");
            }
        }
        // Training went on around the masks: the kept weights moved.
        using var kept = targets[0].Pruned.logical_not();
        Assert.True(MaxAbsAt(targets[0].Live, kept) > 0);
    }

    /// <summary>
    /// Why moments must be zeroed: the same masks applied the way a sweep applies them (weights zeroed) and gradients
    /// zeroed at pruned positions still let AdamW's remembered moments move the pruned weights off 0 at the next step.
    /// </summary>
    [Fact]
    public void WithoutZeroingTheMomentsAdamWRevivesPrunedWeightsEvenWithTheirGradientsZeroed()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 3);
        using var optimizer = AdamW(network);
        var images = Images();
        for (var step = 0; step < 3; step++) Step(network, optimizer, images, step);
        var masks = PlanMasks.For(network, Plan(network));
        var targets = Targets(network, masks.Masks);
        _ = masks.ApplyTo(network); // zeroes the weights (the dense copy it keeps is not restored here)
        Assert.All(targets, t => Assert.Equal(0, MaxAbsAt(t.Live, t.Pruned)));

        using (var scope = NewDisposeScope())
        {
            network.train();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(network.call(ImageTensors.Normalize(ImageTensors.Pixels(images))), ImageTensors.Labels(images));
            loss.backward();
            using (no_grad())
                foreach (var (_, live, pruned) in targets)
                    live.grad!.masked_fill_(pruned, 0.0);
            optimizer.step();
        }

        Assert.True(MaxAbsAt(targets[0].Live, targets[0].Pruned) > 0, "AdamW's moments should have moved pruned weights");
    }

    [Fact]
    public void TheTrainerHoldsTheMasksAfterEveryStepAndAgpUpdatesFollowTheSchedule()
    {
        var images = ModelTestData.FashionTrain(200);
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 5);
        var settings = TrainingSettings.ForArchitecture(ModelZoo.VggTiny) with { Epochs = 2, BatchSize = 20, Seed = 2 };
        var plan = Plan(network);
        var schedule = MaskSchedule.For(FineTuneSchedule.Agp, Trainer.BatchesPerEpoch(images.Count, settings.BatchSize), settings.Epochs);
        // 10 batches an epoch: masks every step, 15 updates, the final levels from step 15 of 20.
        Assert.Equal((1, 15, 15L, 20L), (schedule.Interval, schedule.Updates, schedule.FinalStep, schedule.TotalSteps));
        using var masks = new MaskedTraining(network, plan, schedule, "parent");
        var updates = new List<MaskUpdate>();
        masks.MasksChanged += updates.Add;
        var checkedSteps = 0;
        var spy = new CheckingConstraint(masks, (step, optimizer) =>
        {
            var targets = Targets(network, masks.Masks);
            var moments = Moments(network, optimizer, targets.Select(t => t.Name));
            for (var i = 0; i < targets.Count; i++)
            {
                Assert.True(MaxAbsAt(targets[i].Live, targets[i].Pruned) == 0, $"{targets[i].Name} after step {step}");
                Assert.True(MaxAbsAt(moments[i].ExpAvg, targets[i].Pruned) == 0, $"{targets[i].Name} exp_avg after step {step}");
            }
            checkedSteps++;
        });

        Trainer.Train(network, images, settings, constraint: spy);

        Assert.Equal(20, checkedSteps);
        // An update wherever a layer's rounded cubic level rose, with exactly the schedule's level.
        Assert.Equal(15, updates.Count);
        Assert.Equal(Enumerable.Range(1, 15).Select(k => (long)k), updates.Select(u => u.Step));
        foreach (var update in updates)
            foreach (var level in update.Levels)
                Assert.Equal(schedule.LevelAt(plan.Layer(level.Layer).Level, update.Step), level.Level);
        // The end: every layer at its plan level, its mask exactly the rounded count.
        foreach (var mask in masks.Masks)
        {
            var level = plan.Layer(mask.LayerName).Level;
            Assert.Equal(level, masks.Levels[mask.LayerName]);
            Assert.Equal(PruningRanking.PrunedCount(level, mask.UnitCount), mask.PrunedCount);
        }
    }

    [Fact]
    public void AgpLevelsAreTheCubicAtEachUpdateAndHeldBetween()
    {
        // 20 batches an epoch, 2 epochs: Δt = 2 steps, n = floor(0.75·40/2) = 15, final from step 30.
        var schedule = MaskSchedule.For(FineTuneSchedule.Agp, batchesPerEpoch: 20, epochs: 2);
        Assert.Equal((2, 15, 30L), (schedule.Interval, schedule.Updates, schedule.FinalStep));
        // s = 0.8·(1 − (1 − k/15)³): k = 4 → 0.8·(1 − (11/15)³) = 0.48450…; k = 5 → 0.8·(1 − (2/3)³) = 0.56296…
        Assert.Equal(0, schedule.LevelAt(0.8, 0));
        Assert.Equal(0, schedule.LevelAt(0.8, 1));
        Assert.Equal(0.4845, schedule.LevelAt(0.8, 8));
        Assert.Equal(0.4845, schedule.LevelAt(0.8, 9));
        Assert.Equal(0.563, schedule.LevelAt(0.8, 10));
        Assert.Equal(0.8, schedule.LevelAt(0.8, 30));
        Assert.Equal(0.8, schedule.LevelAt(0.8, 39));
        Assert.True(schedule.UpdatesAt(10));
        Assert.False(schedule.UpdatesAt(11));
        Assert.True(schedule.UpdatesAt(30));
        Assert.False(schedule.UpdatesAt(32));

        var fixedSchedule = MaskSchedule.For(FineTuneSchedule.Fixed, batchesPerEpoch: 20, epochs: 2);
        Assert.Equal(0.8, fixedSchedule.LevelAt(0.8, 0));
        Assert.True(fixedSchedule.UpdatesAt(0));
        Assert.False(fixedSchedule.UpdatesAt(1));
    }

    /// <summary>
    /// Regression for a native crash seen once in three AGP fine-tunings ("Expected false to be true … toBool"): the
    /// masks were built with index_fill_(…, true) on an implicit, temporary Scalar that the GC could finalize while
    /// libtorch still read it. Many mask updates with collections forced between and alongside them: every mask must
    /// still hold exactly its pruned units (a freed Scalar reads as garbage or aborts the process).
    /// </summary>
    [Fact]
    public void ManyMaskUpdatesWithCollectionsInBetweenBuildExactMasks()
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 5);
        using var optimizer = AdamW(network);
        Step(network, optimizer, Images(), 0);
        var plan = Plan(network);
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        collector.Start();
        try
        {
            // Mask rebuilds alone for a few seconds: thousands of native calls for the collector to land in.
            var filter = PlanMasks.For(network, plan).Masks.First(m => m.Criterion == PruningCriterion.Filter);
            var perFilter = filter.WeightShape.Skip(1).Aggregate(1L, (a, b) => a * b);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(4))
            {
                using var pruned = filter.PrunedWeights();
                Assert.Equal(filter.PrunedCount * perFilter, pruned.sum().item<long>());
            }
            for (var round = 0; round < 150; round++)
            {
                using var masks = new MaskedTraining(network, plan, MaskSchedule.For(FineTuneSchedule.Fixed, batchesPerEpoch: 10, epochs: 1), "parent");
                masks.Update(0, optimizer);
                GC.Collect();
                GC.WaitForPendingFinalizers();
                foreach (var mask in masks.Masks)
                {
                    using var pruned = mask.PrunedWeights();
                    var perUnit = mask.Criterion == PruningCriterion.Filter ? pruned[0].numel() : 1;
                    Assert.Equal(mask.PrunedCount * perUnit, pruned.sum().item<long>());
                }
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }

    /// <summary>
    /// A damaged fine-tuning state (bad base64, an unknown criterion, a shape or level that does not fit the layer)
    /// is an InvalidDataException naming the layer, which TrainingState.Restore reports as a damaged state; before,
    /// FormatException and ArgumentException escaped as internal errors and shape and level were not checked. The
    /// masks held are left as they were.
    /// </summary>
    [Theory]
    [InlineData("pruned", "\"!!not base64!!\"", "is not readable")]
    [InlineData("criterion", "\"channel\"", "has an unknown criterion")]
    [InlineData("shape", "[3, 3]", "is for a weight of shape [3, 3]")]
    [InlineData("level", "1.5", "is at level 1.5")]
    public void ATamperedSavedMaskIsInvalidDataNamingTheLayer(string field, string value, string words)
    {
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 3);
        using var optimizer = AdamW(network);
        Step(network, optimizer, Images(), 0);
        using var masks = new MaskedTraining(network, Plan(network), MaskSchedule.For(FineTuneSchedule.Fixed, batchesPerEpoch: 10, epochs: 1), "parent");
        masks.Update(0, optimizer);
        var held = masks.Masks.Select(m => (m.LayerName, string.Join(",", m.PrunedUnits))).ToList();
        var saved = System.Text.Json.Nodes.JsonNode.Parse(masks.SaveState().GetRawText())!;
        var first = saved["Layers"]![0]!;
        var layer = first["Layer"]!.GetValue<string>();
        first[char.ToUpperInvariant(field[0]) + field[1..]] = System.Text.Json.Nodes.JsonNode.Parse(value);
        using var tampered = System.Text.Json.JsonDocument.Parse(saved.ToJsonString());

        var e = Assert.Throws<InvalidDataException>(() => masks.RestoreState(tampered.RootElement, optimizer));

        Assert.Contains($"the mask of {layer} ", e.Message, StringComparison.Ordinal);
        Assert.Contains(words, e.Message, StringComparison.Ordinal);
        Assert.Equal(held, masks.Masks.Select(m => (m.LayerName, string.Join(",", m.PrunedUnits))));
    }

    /// <summary>Runs another constraint and checks after every optimizer step.</summary>
    private sealed class CheckingConstraint(ITrainingConstraint inner, Action<long, optim.Optimizer> check) : ITrainingConstraint
    {
        public string Identity => inner.Identity;

        public void BeforeBatch(long step, optim.Optimizer optimizer) => inner.BeforeBatch(step, optimizer);

        public void BeforeOptimizerStep(long step, optim.Optimizer optimizer) => inner.BeforeOptimizerStep(step, optimizer);

        public void AfterOptimizerStep(long step, optim.Optimizer optimizer)
        {
            inner.AfterOptimizerStep(step, optimizer);
            check(step, optimizer);
        }

        public System.Text.Json.JsonElement SaveState() => inner.SaveState();

        public void RestoreState(System.Text.Json.JsonElement saved, optim.Optimizer optimizer) => inner.RestoreState(saved, optimizer);
    }
}
