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

    [Fact]
    public void MutualLearningTakesNoTeacherAndWritesThePeerWhereAsked()
    {
        var run = Run("kd", "train", "--objective", "dml", "--student-arch", "lenet-300-100", "--peer-arch", "lenet-5", "--dataset", "fashion-mnist",
            "--epochs", "1", "--limit", "200", "--out", PathOf("dml.ckpt"), "--peer-out", PathOf("peer.ckpt"), "--json");
        Assert.True(run.Code == CliApp.Success, run.Err);
        var json = LastJsonLine(run.Out);
        Assert.Equal("dml T=1 t2=on", json.GetProperty("objective").GetString()); // T defaults to 1 for dml
        Assert.InRange(json.GetProperty("peer_top1").GetDouble(), 0, 1);
        Assert.Equal(PathOf("peer.ckpt"), json.GetProperty("peer_out").GetString());
        Assert.Equal("lenet-5", Checkpoint.ReadMetadata(PathOf("peer.ckpt")).Architecture);
        Assert.Contains("mutual learning of lenet-300-100 and a lenet-5 peer (seed 2)", run.Err);
    }

    [Fact]
    public void HintsAsAFirstPhaseRunTheHintEpochsBeforeTheDistillation()
    {
        var run = Run("kd", "train", "--teacher", _teacher, "--objective", "hints", "--hint-mode", "first-phase", "--hint-epochs", "1", "--student-arch", "vgg-tiny",
            "--dataset", "fashion-mnist", "--epochs", "1", "--limit", "100", "--out", PathOf("hinted.ckpt"), "--json");
        Assert.True(run.Code == CliApp.Success, run.Err);
        Assert.Equal("hints T=4 alpha=0.9 t2=on hint=first-phase epochs=1 stages=all", LastJsonLine(run.Out).GetProperty("objective").GetString());
        Assert.Contains("hint phase epoch 1/1", run.Err);
        Assert.Contains("distilled epoch 1/1", run.Err);
    }

    [Theory]
    [InlineData("--objective dml --teacher TEACHER", "--teacher", "no teacher")]
    [InlineData("--objective soft+hard --teacher TEACHER --hint-weight 2", "--hint-weight", "--objective hints")]
    [InlineData("--objective hints --teacher TEACHER --hint-epochs 3", "--hint-epochs", "first-phase")]
    [InlineData("--objective hints --teacher TEACHER --hint-mode first-phase --hint-weight 3", "--hint-weight", "added")]
    [InlineData("--objective hints --teacher TEACHER --hint-weight -1", "--hint-weight", "β")]
    [InlineData("--objective hints --teacher TEACHER --hint-stages stage7", "--hint-stages", "stage7")]
    [InlineData("--objective hints --teacher TEACHER,TEACHER", "--teacher", "one teacher")]
    [InlineData("--objective soft --teacher TEACHER --peer-arch vgg-tiny", "--peer-arch", "dml")]
    [InlineData("--objective dml --alpha 0.5", "--alpha", "α does not apply")]
    [InlineData("--objective dml --peer-arch resnet", "--peer-arch", "resnet")]
    [InlineData("--objective dml --peer-out OUT", "--peer-out", "own")]
    [InlineData("--objective soft+hard", "--teacher", "teacher")]
    public void ObjectiveOptionsThatDoNotFitAreBadArgumentsNamingTheOption(string options, string named, string words)
    {
        var args = new List<string> { "kd", "train", "--student-arch", "vgg-tiny", "--dataset", "fashion-mnist", "--epochs", "1", "--limit", "100", "--out", PathOf("x.ckpt") };
        args.AddRange(options.Replace("TEACHER", _teacher, StringComparison.Ordinal).Replace("OUT", PathOf("x.ckpt"), StringComparison.Ordinal).Split(' '));
        var run = Run([.. args]);
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Contains(named, run.Err);
        Assert.Contains(words, run.Err);
        Assert.False(File.Exists(PathOf("x.ckpt")));
    }
}
