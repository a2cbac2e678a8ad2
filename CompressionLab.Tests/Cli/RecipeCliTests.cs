using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Tests.Distillation;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Recipes;
using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary><c>calibrate --out</c>, <c>recipe export</c> and <c>recipe apply</c> in-process on a random vgg-tiny and a few hundred Fashion-MNIST validation images.</summary>
[Collection(SerialCollection.Name)]
public sealed class RecipeCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-recipe-cli-").FullName;
    private readonly string _model;
    private readonly string _other;

    public RecipeCliTests()
    {
        _model = DistillationTestData.SaveRandom(_folder, ModelZoo.VggTiny, 51, "tiny.ckpt");
        _other = DistillationTestData.SaveRandom(_folder, ModelZoo.VggTiny, 52, "other.ckpt");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Path(string name) => System.IO.Path.Combine(_folder, name);

    private static JsonElement Json((int Code, string Out, string Err) run)
    {
        Assert.True(run.Code == CliApp.Success, run.Err);
        return LastJsonLine(run.Out);
    }

    private string Plan()
    {
        using var checkpoint = Checkpoint.Load(_model);
        var path = Path("plan.json");
        PlanFile.Write(path, new PlanDocument(new PlanModel(checkpoint.Metadata.Architecture, checkpoint.Metadata.ContentHash), RecipeFixture.Plan(checkpoint.Model.Layers)), checkpoint.Model.Layers);
        return path;
    }

    [Fact]
    public void CalibrateWritesTheFileExportReadsAndApplyReproducesTheRecordedNumbers()
    {
        var calibration = Json(Run(["calibrate", "--model", _model, "--dataset", "fashion-mnist", "--method", "percentile:99.99", "--limit", "64",
            "--workspace", Path("ws"), "--out", Path("calibration.json"), "--stats-yaml", Path("stats.yaml"), "--json"]));
        Assert.Equal(Path("calibration.json"), calibration.GetProperty("calibration_file").GetString());

        var export = Json(Run(["recipe", "export", "--model", _model, "--plan", Plan(), "--calibration", Path("calibration.json"), "--out", Path("out"), "--limit", "200", "--json"]));
        // The recipe first, then the dialects and the state dicts: every file in the folder, each listed.
        var listed = export.GetProperty("files").EnumerateArray().Select(f => f.GetString()!).ToArray();
        Assert.Equal([Path("out/recipe.yaml"), Path("out/recipe.json")], listed.Take(2));
        Assert.Contains(Path("out/distiller_schedule.yaml"), listed);
        Assert.Contains(Path("out/pytorch_model_pruned.safetensors"), listed);
        Assert.Equal(listed.Order(StringComparer.Ordinal), Directory.GetFiles(Path("out")).Order(StringComparer.Ordinal));
        Assert.True(export.GetProperty("pruning").GetBoolean() && export.GetProperty("quantization").GetBoolean());
        Assert.Equal(["distillation", "dialects"], export.GetProperty("gaps").EnumerateArray().Select(g => g.GetProperty("section").GetString()));

        // With the calibration's statistics (calibrate --stats-yaml) Distiller's statistics file is written too and the gap is gone;
        // statistics without a calibration are refused naming --stats-yaml.
        var withStats = Json(Run(["recipe", "export", "--model", _model, "--calibration", Path("calibration.json"), "--stats-yaml", Path("stats.yaml"),
            "--out", Path("out-stats"), "--limit", "50", "--json"]));
        Assert.Contains(Path("out-stats/distiller_activation_stats.yaml"), withStats.GetProperty("files").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(["distillation", "pruning"], withStats.GetProperty("gaps").EnumerateArray().Select(g => g.GetProperty("section").GetString()).Order(StringComparer.Ordinal));
        var (statsCode, _, statsErr) = Run(["recipe", "export", "--model", _model, "--stats-yaml", Path("stats.yaml"), "--out", Path("out-refused"), "--json"]);
        Assert.Equal(CliApp.BadArguments, statsCode);
        Assert.Contains("error: --stats-yaml:", statsErr, StringComparison.Ordinal);

        // export onnx --recipe: the recipe's INT8 parameters on its own model; another model's is refused naming --recipe.
        // Exit 1 only when ORT's INT8 top-1 strays from the simulation's by more than 0.3 points (one image of 100); the file is written either way.
        var exported = Run(["export", "onnx", "--model", _model, "--recipe", Path("out/recipe.yaml"), "--int8", "--limit", "100", "--out", Path("recipe.onnx"), "--json"]);
        Assert.True(exported.Code is CliApp.Success or CliApp.Failure, exported.Err);
        var onnx = LastJsonLine(exported.Out);
        Assert.Equal(Path("recipe.onnx"), onnx.GetProperty("out").GetString());
        Assert.Equal(export.GetProperty("weights_hash").GetString(), onnx.GetProperty("weights_hash").GetString());
        var (code, _, err) = Run(["export", "onnx", "--model", _other, "--recipe", Path("out/recipe.yaml"), "--int8", "--limit", "100", "--out", Path("other.onnx"), "--json"]);
        Assert.Equal(CliApp.BadArguments, code);
        Assert.Contains("error: --recipe: recipe.yaml is for another model", err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path("other.onnx")));
        (code, _, err) = Run(["export", "onnx", "--model", _model, "--recipe", Path("out/recipe.yaml"), "--int8", "--method", "max", "--out", Path("other.onnx")]);
        Assert.Equal(CliApp.BadArguments, code);
        Assert.Contains("--method", err, StringComparison.Ordinal);

        foreach (var file in new[] { "out/recipe.yaml", "out/recipe.json" })
        {
            var apply = Json(Run(["recipe", "apply", "--model", _model, "--recipe", Path(file), "--dataset", "fashion-mnist", "--json"]));
            Assert.True(apply.GetProperty("matches_recorded").GetBoolean());
            Assert.Equal(export.GetProperty("result_top1").GetDouble(), apply.GetProperty("recorded_top1").GetDouble(), 6);
            Assert.Equal(apply.GetProperty("recorded_top1").GetDouble(), apply.GetProperty("top1").GetDouble());
            Assert.Equal(export.GetProperty("sparsity").GetDouble(), apply.GetProperty("sparsity").GetDouble(), 6);
            Assert.Equal(200, apply.GetProperty("samples").GetInt32());
        }
    }

    [Fact]
    public void ABadRecipeFileAndAnotherModelAreRefusedNamingTheOptionAndNothingIsWritten()
    {
        Json(Run(["recipe", "export", "--model", _model, "--out", Path("out"), "--limit", "50", "--json"]));
        var files = Directory.GetFiles(_folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();

        var text = File.ReadAllText(Path("out/recipe.yaml")).Replace("version: 1", "version: 7", StringComparison.Ordinal);
        File.WriteAllText(Path("v7.yaml"), text);
        var (code, _, err) = Run(["recipe", "apply", "--model", _model, "--recipe", Path("v7.yaml"), "--dataset", "fashion-mnist", "--json"]);
        Assert.Equal(CliApp.Failure, code);
        Assert.Matches(@"^error: --recipe: Recipe .*v7\.yaml, line \d+, column 1 \(version\): recipe format version 7", err.Trim());

        (code, _, err) = Run(["recipe", "apply", "--model", _other, "--recipe", Path("out/recipe.yaml"), "--dataset", "fashion-mnist", "--json"]);
        Assert.Equal(CliApp.BadArguments, code);
        Assert.StartsWith("error: --model: recipe.yaml is for another model", err.Split('\n').First(l => l.StartsWith("error:", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains("weights hash", err, StringComparison.Ordinal);

        (code, _, err) = Run(["recipe", "export", "--model", _other, "--plan", Plan(), "--out", Path("refused"), "--json"]);
        Assert.Equal(CliApp.BadArguments, code);
        Assert.Contains("error: --plan:", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path("refused")) && Directory.EnumerateFileSystemEntries(Path("refused")).Any());
        File.Delete(Path("v7.yaml"));
        Assert.Equal(files, Directory.GetFiles(_folder, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith("plan.json", StringComparison.Ordinal) && !f.Contains("/refused", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }
}
