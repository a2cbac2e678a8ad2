using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>Stages, overrides and exclusions of a plan, resolved to per-layer levels, and the messages for bad settings.</summary>
public class PruningPlanTests
{
    private static readonly IReadOnlyList<LayerInfo> VggSmall = Table(ModelZoo.VggSmall);

    [Fact]
    public void DefaultGroupsVggSmallByTheZooStagesAndLeavesTheOutputLayerDense()
    {
        var plan = PruningPlan.Default(VggSmall, PruningMethod.Element, 0.5);

        Assert.Equal(["stage1", "stage2", "stage3", "classifier"], plan.Stages.Select(s => s.Name));
        Assert.Equal(["stage2.conv1", "stage2.conv2"], plan.Stage("stage2").Layers);
        var exclusion = Assert.Single(plan.Exclusions);
        Assert.Equal("classifier.fc", exclusion.Layer);
        // 8,640 of 160,920 + 8,640 = 169,560 weights: 5.10 %.
        Assert.Contains("5.1 % of the weights", exclusion.Reason, StringComparison.Ordinal);

        var resolved = plan.Resolve(VggSmall);
        Assert.Equal(VggSmall.Select(l => l.Name), resolved.Layers.Select(l => l.Layer));
        Assert.All(resolved.Layers.SkipLast(1), l => Assert.Equal((0.5, LevelSource.Stage), (l.Level, l.Source)));
        var fc = resolved.Layer("classifier.fc");
        Assert.Equal((0.0, LevelSource.Excluded, exclusion.Reason), (fc.Level, fc.Source, fc.ExclusionReason));
    }

    [Fact]
    public void InLenet5OnlyTheLastOfTheClassifierStageIsExcluded()
    {
        var layers = Table(ModelZoo.Lenet5);
        var resolved = PruningPlan.Default(layers, PruningMethod.Element, 0.3).Resolve(layers);

        Assert.Equal(["classifier.fc1", "classifier.fc2", "classifier.fc"], resolved.Layers.Where(l => l.Stage == "classifier").Select(l => l.Layer));
        Assert.Equal([0.3, 0.3, 0.3, 0.3, 0.0], resolved.Layers.Select(l => l.Level));
        // Weights 150 + 2,400 + 48,000 + 10,080 + 840 = 61,470; the output layer's 840 are 1.37 %.
        Assert.Contains("1.4 % of the weights", resolved.Layer("classifier.fc").ExclusionReason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOverrideWinsOverItsStageAndAnExclusionOverBoth()
    {
        var plan = PruningPlan.Default(VggSmall, PruningMethod.FilterL1, 0.4)
            .WithStageRate("stage3", 0.6)
            .WithOverride("stage3.conv1", 0.25, PruningMethod.Element)
            .WithOverride("stage1.conv1", 0.1);

        var resolved = plan.Resolve(VggSmall);
        Assert.Equal((0.6, PruningMethod.FilterL1, LevelSource.Stage), Of(resolved.Layer("stage3.conv2")));
        Assert.Equal((0.25, PruningMethod.Element, LevelSource.Override), Of(resolved.Layer("stage3.conv1")));
        Assert.Equal((0.1, PruningMethod.FilterL1, LevelSource.Override), Of(resolved.Layer("stage1.conv1")));

        var excluded = plan.Excluding("stage3.conv1", "kept for the test").Resolve(VggSmall).Layer("stage3.conv1");
        Assert.Equal((0.0, LevelSource.Excluded, "kept for the test"), (excluded.Level, excluded.Source, excluded.ExclusionReason));
        // Overriding an excluded layer includes it again; dropping the override returns it to its stage.
        var included = plan.Excluding("stage3.conv1", "x").WithOverride("stage3.conv1", 0.3);
        Assert.Equal((0.3, LevelSource.Override), (included.Resolve(VggSmall).Layer("stage3.conv1").Level, included.Resolve(VggSmall).Layer("stage3.conv1").Source));
        Assert.Equal(0.6, included.WithoutOverride("stage3.conv1").Resolve(VggSmall).Layer("stage3.conv1").Level);
        // Included, the output layer takes its stage's rate (the default plan gave every stage 0.4).
        var output = plan.Including("classifier.fc").WithStageMethod("classifier", PruningMethod.Element).Resolve(VggSmall).Layer("classifier.fc");
        Assert.Equal((0.4, PruningMethod.Element, LevelSource.Stage), Of(output));
    }

    [Fact]
    public void StagesCanBeRenamedMergedAndSplit()
    {
        var plan = PruningPlan.Default(VggSmall, PruningMethod.Element, 0.2)
            .WithStageRate("stage2", 0.5)
            .RenameStage("stage1", "early")
            .MergeStages(into: "stage2", from: "early")
            .SplitStage("stage3", "last conv", ["stage3.conv2"])
            .WithStageRate("last conv", 0.7);

        Assert.Equal(["stage2", "stage3", "last conv", "classifier"], plan.Stages.Select(s => s.Name));
        var resolved = plan.Resolve(VggSmall);
        Assert.Equal(
            [("stage1.conv1", "stage2", 0.5), ("stage1.conv2", "stage2", 0.5), ("stage2.conv1", "stage2", 0.5), ("stage2.conv2", "stage2", 0.5),
             ("stage3.conv1", "stage3", 0.2), ("stage3.conv2", "last conv", 0.7), ("classifier.fc", "classifier", 0.0)],
            resolved.Layers.Select(l => (l.Layer, l.Stage, l.Level)));

        Assert.Contains("already a stage named 'stage3'", Assert.Throws<ArgumentException>(() => plan.RenameStage("stage2", "stage3")).Message, StringComparison.Ordinal);
        Assert.Contains("leaves it empty", Assert.Throws<ArgumentException>(() => plan.SplitStage("stage3", "x", ["stage3.conv1"])).Message, StringComparison.Ordinal);
        Assert.Contains("is not in stage 'stage3'", Assert.Throws<ArgumentException>(() => plan.SplitStage("stage3", "x", ["stage1.conv1"])).Message, StringComparison.Ordinal);
        Assert.Contains("no stage 'stage1'", Assert.Throws<ArgumentException>(() => plan.WithStageRate("stage1", 0.1)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => plan.MergeStages("stage3", "stage3"));
    }

    [Fact]
    public void ProblemsNameTheBadSetting()
    {
        var plan = PruningPlan.Default(VggSmall, PruningMethod.Element)
            .WithStageRate("stage1", double.NaN)
            .WithStageRate("stage2", 1.0)
            .WithStageRate("stage3", 0.12345)
            .WithOverride("stage9.conv1", -0.1);

        var problems = plan.Problems(VggSmall);
        Assert.Equal(
            ["stages.stage1.rate", "stages.stage2.rate", "stages.stage3.rate", "overrides.stage9.conv1", "overrides.stage9.conv1.level"],
            problems.Select(p => p.Setting));
        Assert.Equal("Stage stage1: rate is not a number (NaN).", problems[0].Message);
        Assert.StartsWith("Stage stage2: rate 1 is outside [0, 1)", problems[1].Message, StringComparison.Ordinal);
        Assert.StartsWith("Stage stage3: rate 0.12345 is finer than 0.0001", problems[2].Message, StringComparison.Ordinal);
        Assert.StartsWith("An override names layer 'stage9.conv1', which the model does not have. Its layers are: stage1.conv1,", problems[3].Message, StringComparison.Ordinal);
        Assert.StartsWith("Override of stage9.conv1: level -0.1 is outside [0, 1)", problems[4].Message, StringComparison.Ordinal);

        var error = Assert.Throws<ArgumentException>(() => plan.Resolve(VggSmall));
        Assert.All(problems, p => Assert.Contains(p.Message, error.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void ALayerInTwoStagesOrInNoneIsRefused()
    {
        var plan = new PruningPlan(
            [new PlanStage("a", ["stage1.conv1", "stage1.conv2", "stage2.conv1"], 0.1, PruningMethod.Element),
             new PlanStage("b", ["stage2.conv1", "stage2.conv2", "stage3.conv1", "classifier.fc"], 0.1, PruningMethod.Element)],
            [], []);

        Assert.Equal(
            ["Layer stage2.conv1 is in two stages: a and b. Put it in one.",
             "Layer stage3.conv2 is in no stage. Put it in one (and exclude it to leave it dense)."],
            plan.Problems(VggSmall).Select(p => p.Message));
    }

    [Fact]
    public void ExcludedAndOverriddenAtOnceOrFilterPruningTheOutputLayerIsRefused()
    {
        var stages = PruningPlan.Default(VggSmall, PruningMethod.FilterL2).Stages;
        var both = new PruningPlan(stages, [new LayerOverride("stage1.conv1", 0.2)],
            [new LayerExclusion("stage1.conv1", "why not"), new LayerExclusion("classifier.fc", " ")]);

        Assert.Equal(
            ["exclusions.stage1.conv1", "exclusions.classifier.fc"],
            both.Problems(VggSmall).Select(p => p.Setting));
        Assert.Equal("Layer stage1.conv1 is both excluded and overridden: drop one of the two.", both.Problems(VggSmall)[0].Message);
        Assert.Equal("The exclusion of classifier.fc gives no reason.", both.Problems(VggSmall)[1].Message);

        var filterOutput = PruningPlan.Default(VggSmall, PruningMethod.FilterL2).Including("classifier.fc");
        var problem = Assert.Single(filterOutput.Problems(VggSmall));
        Assert.Equal("stages.classifier", problem.Setting);
        Assert.StartsWith("Layer classifier.fc cannot be pruned by filter: it is the output layer", problem.Message, StringComparison.Ordinal);
        // By element it may be pruned.
        Assert.Empty(filterOutput.WithOverride("classifier.fc", 0.5, PruningMethod.Element).Problems(VggSmall));
    }

    [Fact]
    public void ElementMethodsAreEqualWhateverNormTheyWereGiven()
    {
        Assert.Equal(PruningMethod.Element, new PruningMethod(PruningCriterion.Element, FilterNorm.L2));
        Assert.NotEqual(PruningMethod.FilterL1, PruningMethod.FilterL2);
        Assert.Equal(["element", "filter-l1", "filter-l2"], new[] { PruningMethod.Element, PruningMethod.FilterL1, PruningMethod.FilterL2 }.Select(m => m.Key));
    }

    private static (double, PruningMethod, LevelSource) Of(PlannedLayer layer) => (layer.Level, layer.Method, layer.Source);

    internal static IReadOnlyList<LayerInfo> Table(string architecture)
    {
        using var network = ModelZoo.Create(architecture);
        return network.Layers;
    }
}
