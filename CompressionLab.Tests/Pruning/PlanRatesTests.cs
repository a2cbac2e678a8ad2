using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>Rates typed as <c>stage1=0.5,stage3.conv2=0.3</c>: stage rates and layer overrides, and the messages for bad items.</summary>
public class PlanRatesTests
{
    private static readonly IReadOnlyList<LayerInfo> VggSmall = PruningPlanTests.Table(ModelZoo.VggSmall);

    [Fact]
    public void StageNamesSetRatesAndLayerNamesOverride()
    {
        var plan = PlanRates.ApplyTo(PruningPlan.Default(VggSmall, PruningMethod.FilterL1), VggSmall,
            PlanRates.Parse(" stage1=0.5, stage2=0.7 ,stage3.conv2=0.3"));

        var resolved = plan.Resolve(VggSmall);
        Assert.Equal([0.5, 0.5, 0.7, 0.7, 0, 0.3, 0], resolved.Layers.Select(l => l.Level));
        Assert.Equal(LevelSource.Override, resolved.Layer("stage3.conv2").Source);
        Assert.Equal(PruningMethod.FilterL1, resolved.Layer("stage3.conv2").Method); // its stage's method
    }

    [Theory]
    [InlineData("stage1", "'stage1' is not name=level")]
    [InlineData("stage1=half", "the level 'half' is not a number")]
    [InlineData("stage1=1.5", "'stage1=1.5': the level 1.5 is outside [0, 1)")]
    [InlineData("stage1=NaN", "is not a number (NaN)")]
    [InlineData("stage1=0.12345", "finer than 0.0001")]
    [InlineData("stage1=0.5,stage1=0.6", "'stage1' is given twice")]
    [InlineData(",", "No rates given")]
    public void BadItemsAreNamed(string text, string problem)
    {
        var e = Assert.Throws<ArgumentException>(() => PlanRates.Parse(text));

        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ANameThatIsNeitherStageNorLayerListsBoth()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            PlanRates.ApplyTo(PruningPlan.Default(VggSmall, PruningMethod.Element), VggSmall, PlanRates.Parse("stage4=0.5")));

        Assert.Contains("'stage4' is neither a stage (stage1, stage2, stage3, classifier) nor a layer (stage1.conv1,", e.Message, StringComparison.Ordinal);
    }
}
