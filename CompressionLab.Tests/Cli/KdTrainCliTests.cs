using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Distillation;
using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary><c>kd train</c> in-process: a quick run with its baseline, the refusals, and a resume under another objective.</summary>
[Collection(Models.SerialCollection.Name)]
public sealed class KdTrainCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-kd-train-").FullName;
    private readonly string _teacher;

    public KdTrainCliTests()
    {
        _teacher = DistillationTestData.SaveRandom(_folder, ModelZoo.VggTiny, 31, "teacher.ckpt");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    [Fact]
    public void AQuickRunReportsTheStudentAndItsBaselineAndWritesTheStudent()
    {
        var run = Run("kd", "train", "--teacher", _teacher, "--student-arch", "lenet-300-100", "--dataset", "fashion-mnist", "--objective", "soft+hard",
            "--temperature", "4", "--alpha", "0.9", "--epochs", "1", "--limit", "300", "--baseline", "--out", PathOf("student.ckpt"), "--json");
        Assert.True(run.Code == CliApp.Success, run.Err);
        var json = LastJsonLine(run.Out);
        Assert.InRange(json.GetProperty("top1").GetDouble(), 0, 1);
        Assert.InRange(json.GetProperty("baseline_top1").GetDouble(), 0, 1);
        Assert.Equal("soft+hard T=4 alpha=0.9 t2=on", json.GetProperty("objective").GetString());
        Assert.Equal(300, json.GetProperty("training_images").GetInt32());
        using var student = Checkpoint.Load(PathOf("student.ckpt"));
        Assert.Equal(student.Metadata.ContentHash, json.GetProperty("weights_hash").GetString());
        Assert.Equal(json.GetProperty("top1").GetDouble(), student.Metadata.Top1!.Value, 4);
        Assert.False(File.Exists(PathOf("student.ckpt.resume"))); // released once the student is safe
        Assert.Contains("baseline epoch 1/1", run.Err);
    }

    [Theory]
    [InlineData("--alpha", "1.5", "--alpha")]
    [InlineData("--temperature", "0", "--temperature")]
    [InlineData("--objective", "hints2", "--objective")]
    [InlineData("--student-arch", "resnet-9000", "--student-arch")]
    public void BadSettingsAreBadArgumentsNamingTheOption(string option, string value, string named)
    {
        var args = new List<string> { "kd", "train", "--teacher", _teacher, "--student-arch", "lenet-300-100", "--dataset", "fashion-mnist", "--epochs", "1",
            "--limit", "100", "--out", PathOf("x.ckpt") };
        var at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value;
        else args.AddRange([option, value]);
        var run = Run([.. args]);
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Contains(named, run.Err);
        Assert.False(File.Exists(PathOf("x.ckpt")));
    }

    [Fact]
    public void OutOverATeacherIsRefused()
    {
        var before = File.ReadAllBytes(_teacher);
        var run = Run("kd", "train", "--teacher", _teacher, "--student-arch", "lenet-300-100", "--dataset", "fashion-mnist", "--epochs", "1", "--limit", "100", "--out", _teacher);
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Contains("--out", run.Err);
        Assert.Equal(before, File.ReadAllBytes(_teacher));
    }
}
