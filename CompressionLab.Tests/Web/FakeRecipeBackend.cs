using CompressionLab.Core.Export;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Reports;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Recipe;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Recipe page's engine for tests: sources seeded per model, a build that "writes" the files it was given, and an
/// apply that returns the result it was given or fails with the refusal it was given (as the real job words it).
/// </summary>
internal sealed class FakeRecipeBackend(FakeJobScheduler scheduler) : RecipeBackend
{
    public Dictionary<Guid, RecipeSources> Stored { get; } = [];

    public List<RecipeBuildChoice> Builds { get; } = [];

    public List<(ModelRecord Model, string FileName)> Applies { get; } = [];

    /// <summary>What a finished build reads back.</summary>
    public BuiltRecipe? BuildResult { get; set; }

    /// <summary>What a finished apply returns; ignored when <see cref="ApplyRefusal"/> is set.</summary>
    public RecipeApplyJobResult? ApplyResult { get; set; }

    /// <summary>The job fails with this (the model is another: hash, layers, shapes).</summary>
    public string? ApplyRefusal { get; set; }

    public override RecipeSources Sources(ModelRecord model) =>
        Stored.TryGetValue(model.Id, out var sources) ? sources : new RecipeSources("f" + model.ContentHash[1..], null, [], [], null);

    public override JobSnapshot StartBuild(RecipeBuildChoice choice)
    {
        Builds.Add(choice);
        return scheduler.Enqueue(BuildKind, $"Build recipe · {choice.Model.DisplayName}", "{}", (_, _) => Task.FromResult<string?>("{}"));
    }

    public override BuiltRecipe ReadBuild(JobSnapshot job) => BuildResult ?? throw new IOException("no build result seeded");

    public List<(ModelRecord Model, Guid Build, bool Int8)> Exports { get; } = [];

    public List<RecipeBuildChoice> Reports { get; } = [];

    /// <summary>What a finished ONNX export reads back; the job fails with <see cref="OnnxRefusal"/> when that is set.</summary>
    public RecipeOnnxExport? OnnxResult { get; set; }

    public string? OnnxRefusal { get; set; }

    public RecipeReport? ReportResult { get; set; }

    /// <summary>The files a download may serve: (job, name) → path.</summary>
    public Dictionary<(Guid Job, string File), string> Paths { get; } = [];

    public override JobSnapshot StartOnnx(ModelRecord model, JobSnapshot build, bool int8)
    {
        Exports.Add((model, build.Id, int8));
        return scheduler.Enqueue(OnnxExportJob.Kind, $"Export ONNX {(int8 ? "INT8" : "float32")} with the recipe · {model.DisplayName}", "{}", (_, _) =>
            OnnxRefusal is { } refusal ? throw new InvalidRequestException("Recipe", refusal) : Task.FromResult<string?>("{}"));
    }

    public override RecipeOnnxExport ReadOnnx(JobSnapshot job) => OnnxResult ?? throw new IOException("no export result seeded");

    public override JobSnapshot StartReport(RecipeBuildChoice choice)
    {
        Reports.Add(choice);
        return scheduler.Enqueue(ReportJobs.Kind, $"Report · {choice.Model.DisplayName}", "{}", (_, _) => Task.FromResult<string?>("{}"));
    }

    public override RecipeReport ReadReport(JobSnapshot job) => ReportResult ?? throw new IOException("no report seeded");

    public override string? DownloadPath(JobSnapshot job, string fileName) => Paths.TryGetValue((job.Id, fileName), out var path) ? path : null;

    public override JobSnapshot StartApply(ModelRecord model, RecipeDocument document, string fileName)
    {
        Applies.Add((model, fileName));
        return scheduler.Enqueue(RecipeApplyJob.Kind, $"Apply recipe {fileName} · {model.DisplayName}", "{}", (_, _) =>
            ApplyRefusal is { } refusal
                ? throw new InvalidRequestException("Model", refusal)
                : Task.FromResult<string?>(ModelJobJson.Write(ApplyResult ?? throw new InvalidOperationException("no apply result seeded"))));
    }
}

/// <summary>Downloads as a build lists them (sizes made up; the href is the app's route for the job's file).</summary>
internal static class SampleDownloads
{
    public static IReadOnlyList<RecipeDownload> Of(Guid job, params (string Name, long Bytes)[] files) =>
        [.. files.Select(f => new RecipeDownload(f.Name, f.Bytes, RecipeDownload.HrefOf(job, f.Name)))];
}

/// <summary>A small recipe built by hand (two layers, no pruning or quantization), consistent so that RecipeFile reads it back.</summary>
internal static class SampleRecipe
{
    public const string WeightsHash = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    public static CompressionRecipe Create(string weightsHash = WeightsHash)
    {
        var baseline = new RecipeMeasurement(0.75, 3, 4, [2, 1], 1.0, 0.5);
        var result = new RecipeMeasurement(0.5, 2, 4, [1, 1], 1.0, 0.7);
        var size = new RecipeSize(0, 20, 20, 80, 160, 20, 60);
        return new CompressionRecipe(CompressionRecipe.FormatName, CompressionRecipe.CurrentVersion,
            new RecipeProvenance(ModelZoo.Lenet300100, weightsHash, "sample", "fashion-mnist",
                [new RecipeLayer("fc1", [4, 3]), new RecipeLayer("fc2", [2, 4])], "0.1.0", new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero), null),
            new RecipeResults(new RecipeImages("fashion-mnist", "validation", 4, "validation/stratified-4/0123456789ab"), baseline, result, size, size),
            null, null, null,
            [new RecipeGap("quantization", "no calibration yet")]);
    }

    public static string Yaml(string weightsHash = WeightsHash) => RecipeFile.ToYaml(Create(weightsHash));
}
