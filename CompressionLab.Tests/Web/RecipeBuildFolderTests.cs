using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Recipe;
using CompressionLab.Web.Services;

namespace CompressionLab.Tests.Web;

/// <summary>The dashboard's recipe build folder is named by the whole choice: a rebuild of a choice replaces its files, another choice gets its own folder.</summary>
public sealed class RecipeBuildFolderTests
{
    private static readonly ModelRecord Model = new(Guid.Parse("0193a5c0-0000-7000-8000-000000000001"), "vgg", "vgg-small", "fashion-mnist", 0.93, 170242, "ab",
        "/ws/models/ab.ckpt", DateTimeOffset.UnixEpoch, "{}");

    private static readonly RecipeBuildChoice Choice = new(Model, new PlanEvaluationKey("w", "fashion-mnist", "validation/stratified-2000/x", "p1"),
        new CalibrationProfileKey("w", "fashion-mnist", "validation/stratified-512/y"), "mse", null, 2000);

    [Fact]
    public void TheSameChoiceGetsTheSameFolderAndEveryFieldOfTheChoiceChangesIt()
    {
        var name = WorkspaceRecipeBackend.BuildFolderName(Choice);
        Assert.Matches("^build-[0-9a-f]{16}$", name);
        Assert.Equal(name, WorkspaceRecipeBackend.BuildFolderName(Choice with { Model = Model with { } }));
        var others = new[]
        {
            Choice with { Model = Model with { Id = Guid.Parse("0193a5c0-0000-7000-8000-000000000002") } },
            Choice with { Plan = Choice.Plan! with { PlanHash = "p2" } },
            Choice with { Plan = null },
            Choice with { Calibration = null },
            Choice with { CalibrationMethod = "entropy" },
            Choice with { Distillation = Guid.Parse("0193a5c0-0000-7000-8000-000000000003") },
            Choice with { SubsetSize = 1000 },
        }.Select(WorkspaceRecipeBackend.BuildFolderName).ToArray();
        Assert.DoesNotContain(name, others);
        Assert.Equal(others.Length, others.Distinct(StringComparer.Ordinal).Count());
    }
}
