using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Distillation;
using static CompressionLab.Tests.Cli.InProcessCli;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Cli;

/// <summary><c>kd compare</c> in-process on two random vgg-tiny models; the numbers are recomputed from the modules' own logits.</summary>
[Collection(Models.SerialCollection.Name)]
public sealed class KdCompareCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-kd-cli-").FullName;
    private readonly string _teacher;
    private readonly string _student;

    public KdCompareCliTests()
    {
        _teacher = DistillationTestData.SaveRandom(_folder, ModelZoo.VggTiny, 11, "teacher.ckpt");
        _student = DistillationTestData.SaveRandom(_folder, ModelZoo.VggTiny, 12, "student.ckpt");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Probabilities at T from plain exp/sum on the unfolded modules' logits (no shared code with SoftTargets).</summary>
    private static double[][] Probabilities(string checkpoint, LabeledImages images, double t)
    {
        using var loaded = Checkpoint.Load(checkpoint);
        loaded.Model.eval();
        float[] flat;
        using (no_grad())
            flat = loaded.Model.forward(ImageTensors.Inputs(images)).data<float>().ToArray();
        return [.. Enumerable.Range(0, images.Count).Select(r =>
        {
            var z = flat.Skip(r * 10).Take(10).Select(v => v / t).ToArray();
            var m = z.Max();
            var e = z.Select(v => Math.Exp(v - m)).ToArray();
            return e.Select(v => v / e.Sum()).ToArray();
        })];
    }

    [Fact]
    public void KlEntropiesAndAgreementMatchAnIndependentComputation()
    {
        var run = Run("kd", "compare", "--teacher", _teacher, "--student", _student, "--dataset", "fashion-mnist", "--temperatures", "1,4", "--limit", "50", "--json");
        Assert.True(run.Code == CliApp.Success, run.Err);
        var json = LastJsonLine(run.Out);
        Assert.Equal([1.0, 4.0], json.GetProperty("temperatures").EnumerateArray().Select(e => e.GetDouble()));
        var images = AnalysisSubset.Validation(TestData.FashionMnist, 50).Images;
        for (var i = 0; i < 2; i++)
        {
            var t = i == 0 ? 1.0 : 4.0;
            var p = Probabilities(_teacher, images, t);
            var q = Probabilities(_student, images, t);
            var kl = p.Zip(q).Average(x => x.First.Zip(x.Second).Sum(y => y.First * Math.Log(y.First / y.Second)));
            var entropy = p.Average(row => -row.Sum(v => v * Math.Log(v)));
            Assert.Equal(kl, json.GetProperty("kl")[i].GetDouble(), 4);
            Assert.Equal(kl * t * t, json.GetProperty("kl_t2")[i].GetDouble(), 3);
            Assert.Equal(entropy, json.GetProperty("teacher_entropy")[i].GetDouble(), 4);
        }
        var p1 = Probabilities(_teacher, images, 1);
        var q1 = Probabilities(_student, images, 1);
        var agree = p1.Zip(q1).Count(x => Array.IndexOf(x.First, x.First.Max()) == Array.IndexOf(x.Second, x.Second.Max())) / 50.0;
        Assert.Equal(agree, json.GetProperty("agreement").GetDouble(), 6);
        Assert.Equal(10, json.GetProperty("per_class").GetArrayLength());
        Assert.Equal(50, json.GetProperty("per_class").EnumerateArray().Sum(c => c.GetProperty("images").GetInt32()));
        Assert.Equal("T-shirt/top", json.GetProperty("per_class")[0].GetProperty("name").GetString());
    }

    [Fact]
    public void AnEnsembleOfTwoCopiesOfTheTeacherIsTheTeacher()
    {
        var one = LastJsonLine(Run("kd", "compare", "--teacher", _teacher, "--student", _student, "--dataset", "fashion-mnist", "--temperatures", "2", "--limit", "30", "--json").Out);
        var two = LastJsonLine(Run("kd", "compare", "--teacher", $"{_teacher},{_teacher}", "--student", _student, "--dataset", "fashion-mnist", "--temperatures", "2", "--limit", "30", "--json").Out);
        Assert.Equal(one.GetProperty("kl")[0].GetDouble(), two.GetProperty("kl")[0].GetDouble(), 6);
        Assert.Equal(one.GetProperty("agreement").GetDouble(), two.GetProperty("agreement").GetDouble());
    }

    [Fact]
    public void ABadTemperatureIsABadArgumentNamingTheOption()
    {
        var run = Run("kd", "compare", "--teacher", _teacher, "--student", _student, "--dataset", "fashion-mnist", "--temperatures", "1,0", "--json");
        Assert.Equal(CliApp.BadArguments, run.Code);
        Assert.Contains("--temperatures", run.Err);
    }
}
