using CompressionLab.Core.Data;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Distillation;

/// <summary>The distillation job on small runs: the baseline is plain training, α = 0 is plain training, an ensemble's targets are the mean of its members'.</summary>
[Collection(Models.SerialCollection.Name)]
public sealed class DistillationJobTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-kd-job-").FullName;
    private readonly string _teacherA;
    private readonly string _teacherB;

    public DistillationJobTests()
    {
        _teacherA = DistillationTestData.SaveRandom(_folder, ModelZoo.VggTiny, 21, "a.ckpt");
        _teacherB = DistillationTestData.SaveRandom(_folder, ModelZoo.Lenet5, 22, "b.ckpt");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static DatasetCatalog Catalog() => DistillationTestData.Catalog();

    private DistillationJobResult Distil(DistillationSettings objective, string output, bool baseline = true) =>
        DistillationJob.Run(new DistillationRequest([new CheckpointFile(_teacherA)], ModelZoo.Lenet300100, objective, IdxDataset.FashionMnistName,
            Epochs: 1, Seed: 3, Baseline: baseline, TrainingImages: 600, OutputFile: Path.Combine(_folder, output)), Catalog(), null, new RecordingProgress(), CancellationToken.None);

    [Fact]
    public void TheBaselineIsPlainTrainingAndAlphaZeroDistillationIsTooBitForBit()
    {
        var result = Distil(new DistillationSettings(DistillationLoss.SoftHard, 4, 0), "alpha0.ckpt");
        var plain = TrainingJob.Run(new TrainingRequest(ModelZoo.Lenet300100, IdxDataset.FashionMnistName, 1, 3, 600, OutputFile: Path.Combine(_folder, "plain.ckpt")),
            Catalog(), null, new RecordingProgress(), CancellationToken.None);
        Assert.Equal(plain.Top1, result.BaselineTop1);
        // α = 0 leaves only the labels' term: the same weights as plain training.
        Assert.Equal(plain.WeightsHash, result.WeightsHash);
        Assert.Equal(plain.Top1, result.Top1);
        Assert.Equal(600, result.TrainingImages);

        using var saved = Checkpoint.Load(Path.Combine(_folder, "alpha0.ckpt"));
        Assert.Equal("distill", saved.Metadata.Lineage!.Operation);
        Assert.Equal(new[] { Checkpoint.Load(_teacherA).Metadata.ContentHash }, saved.Metadata.Lineage.Teachers);
        Assert.Equal("soft+hard T=4 alpha=0 t2=on", saved.Metadata.Lineage.Objective);
    }

    [Fact]
    public void DistillationWithATeacherTrainsOtherWeights()
    {
        var result = Distil(new DistillationSettings(DistillationLoss.SoftHard, 4, 0.9), "kd.ckpt", baseline: false);
        Assert.Null(result.BaselineTop1);
        var plain = TrainingJob.Run(new TrainingRequest(ModelZoo.Lenet300100, IdxDataset.FashionMnistName, 1, 3, 600, OutputFile: Path.Combine(_folder, "plain.ckpt")),
            Catalog(), null, new RecordingProgress(), CancellationToken.None);
        Assert.NotEqual(plain.WeightsHash, result.WeightsHash);
        Assert.True(result.TeacherSeconds > 0);
    }

    [Fact]
    public void EnsembleTargetsAreTheLogOfTheMeanOfTheMembersSoftTargetsForPlainAndMirroredImages()
    {
        var images = TestData.FashionMnist.Train.Take(40);
        using var a = Checkpoint.Load(_teacherA);
        using var b = Checkpoint.Load(_teacherB);
        var settings = new DistillationSettings(DistillationLoss.Soft, 3, 1);
        using var targets = TeacherTargets.Compute([a.Model, b.Model], images, settings, withMirrors: true);
        Assert.Equal([40L, 10L], targets.Plain.shape);

        a.Model.eval();
        b.Model.eval();
        using var noGrad = no_grad();
        foreach (var mirror in new[] { false, true })
        {
            var inputs = ImageTensors.Inputs(images);
            if (mirror) inputs = inputs.flip(3);
            var za = a.Model.forward(inputs).data<float>().ToArray();
            var zb = b.Model.forward(inputs).data<float>().ToArray();
            var table = (mirror ? targets.Mirrored! : targets.Plain).data<float>().ToArray();
            for (var r = 0; r < 40; r++)
            {
                var pa = SoftTargets.Softmax(za.AsSpan(r * 10, 10), 3);
                var pb = SoftTargets.Softmax(zb.AsSpan(r * 10, 10), 3);
                for (var c = 0; c < 10; c++)
                    Assert.Equal(Math.Log((pa[c] + pb[c]) / 2), table[(r * 10) + c], 4);
            }
        }

        // A batch reads the mirrored row where it flipped the image.
        var rows = targets.For(tensor(new long[] { 5, 7 }), tensor(new[] { true, false }));
        Assert.Equal(targets.Mirrored![5].data<float>().ToArray(), rows[0].data<float>().ToArray());
        Assert.Equal(targets.Plain[7].data<float>().ToArray(), rows[1].data<float>().ToArray());
    }

    [Fact]
    public void AStudentStartedFromAModelAndItsBaselineBothStartFromIt()
    {
        var start = DistillationTestData.SaveRandom(_folder, ModelZoo.Lenet300100, 23, "start.ckpt");
        var request = new DistillationRequest([new CheckpointFile(_teacherA)], ModelZoo.Lenet300100, new DistillationSettings(DistillationLoss.SoftHard, 4, 0),
            IdxDataset.FashionMnistName, Epochs: 1, Seed: 3, Baseline: true, TrainingImages: 300, OutputFile: Path.Combine(_folder, "from-start.ckpt"),
            StudentStart: new CheckpointFile(start));
        var fromStart = DistillationJob.Run(request, Catalog(), null, new RecordingProgress(), CancellationToken.None);
        // α = 0: the distilled student is its baseline, bit for bit, and both differ from a scratch start.
        Assert.Equal(fromStart.Top1, fromStart.BaselineTop1);
        var scratch = DistillationJob.Run(request with { StudentStart = null, OutputFile = Path.Combine(_folder, "scratch.ckpt") }, Catalog(), null, new RecordingProgress(), CancellationToken.None);
        Assert.NotEqual(scratch.WeightsHash, fromStart.WeightsHash);
        using var saved = Checkpoint.Load(Path.Combine(_folder, "from-start.ckpt"));
        Assert.Equal(Checkpoint.ReadMetadata(start).ContentHash, saved.Metadata.Lineage!.ParentWeightsHash);

        var wrong = Assert.Throws<InvalidRequestException>(() => DistillationJob.Run(request with { StudentArchitecture = ModelZoo.VggTiny },
            Catalog(), null, new RecordingProgress(), CancellationToken.None));
        Assert.Equal(nameof(DistillationRequest.StudentStart), wrong.Setting);
        Assert.Contains("lenet-300-100", wrong.Message);
    }

    [Fact]
    public void AMissingTeacherIsNamedAsATeacher()
    {
        var request = new DistillationRequest([new CheckpointFile(Path.Combine(_folder, "nope.ckpt"))], ModelZoo.Lenet300100, new DistillationSettings(DistillationLoss.Soft));
        Assert.Equal(nameof(DistillationRequest.Teachers), Assert.Throws<InvalidRequestException>(request.Validate).Setting);
    }

    [Fact]
    public void DataDistillationTargetsAreTheMeanOverTheImageAndItsMirror()
    {
        var images = TestData.FashionMnist.Train.Take(20);
        using var a = Checkpoint.Load(_teacherA);
        var plain = new DistillationSettings(DistillationLoss.SoftHard, 2, 0.5);
        using var separate = TeacherTargets.Compute([a.Model], images, plain, withMirrors: true);
        using var averaged = TeacherTargets.Compute([a.Model], images, plain with { AverageOverFlips = true }, withMirrors: true);
        var p = separate.Plain.exp().data<float>().ToArray();
        var q = separate.Mirrored!.exp().data<float>().ToArray();
        var mean = averaged.Plain.exp().data<float>().ToArray();
        for (var i = 0; i < p.Length; i++) Assert.Equal((p[i] + q[i]) / 2, mean[i], 5);
        Assert.Equal(averaged.Plain.data<float>().ToArray(), averaged.Mirrored!.data<float>().ToArray());
        Assert.EndsWith("targets=mean-over-flips", (plain with { AverageOverFlips = true }).Key);
    }
}
