using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>Levels (a stored evaluation's, an allocation's) back into an editable plan, and method keys read back.</summary>
public class PlanContentTests
{
    private static readonly IReadOnlyList<LayerInfo> VggSmall = PruningPlanTests.Table(ModelZoo.VggSmall);

    [Fact]
    public void AStageWhoseLayersShareALevelGetsItAsItsRateAndTheOthersBecomeOverrides()
    {
        PlanLevel[] levels =
        [
            new("stage1.conv1", 0.3, "element"), new("stage1.conv2", 0.3, "element"),
            new("stage2.conv1", 0.5, "filter-l2"), new("stage2.conv2", 0.5, "filter-l2"),
            new("stage3.conv1", 0.6, "element"), // stage3.conv2 not listed: dense
        ];

        var plan = PlanContent.ToPlan(VggSmall, levels);

        Assert.Equal((0.3, PruningMethod.Element), (plan.Stage("stage1").Rate, plan.Stage("stage1").Method));
        Assert.Equal((0.5, PruningMethod.FilterL2), (plan.Stage("stage2").Rate, plan.Stage("stage2").Method));
        Assert.Equal(0, plan.Stage("stage3").Rate);
        Assert.Equal([new LayerOverride("stage3.conv1", 0.6, PruningMethod.Element)], plan.Overrides);
        Assert.Equal(["classifier.fc"], plan.Exclusions.Select(e => e.Layer));
        // The same masks as the levels: the hash of the resolved plan is the hash of the levels.
        var resolved = plan.Resolve(VggSmall);
        Assert.Equal(levels, PlanContent.Levels(resolved));
    }

    [Fact]
    public void ALevelOnTheOutputLayerIncludesItAndAnUnknownLayerIsNamed()
    {
        var plan = PlanContent.ToPlan(VggSmall, [new PlanLevel("classifier.fc", 0.2, "element")]);
        Assert.Empty(plan.Exclusions);
        Assert.Equal(0.2, plan.Resolve(VggSmall).Layer("classifier.fc").Level);

        var error = Assert.Throws<ArgumentException>(() => PlanContent.ToPlan(VggSmall, [new PlanLevel("stage9.conv1", 0.2, "element")]));
        Assert.Contains("'stage9.conv1' is not a layer", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("element", PruningCriterion.Element, FilterNorm.L1)]
    [InlineData("filter", PruningCriterion.Filter, FilterNorm.L1)]
    [InlineData("filter-l2", PruningCriterion.Filter, FilterNorm.L2)]
    public void AMethodKeyReadsBackAsTheMethod(string key, PruningCriterion criterion, FilterNorm norm)
    {
        Assert.Equal(new PruningMethod(criterion, norm), PruningMethod.Parse(key));
        Assert.Throws<ArgumentException>(() => PruningMethod.Parse("element-l2"));
    }
}
