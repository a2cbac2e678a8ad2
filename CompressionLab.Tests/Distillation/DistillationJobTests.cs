using CompressionLab.Core.Data;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Pruning;
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
        _teacherA = Save(ModelZoo.VggTiny, 21, "a.ckpt");
        _teacherB = Save(ModelZoo.Lenet5, 22, "b.ckpt");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Save(string architecture, int seed, string name)
    {
        using var network = PruningTestModels.RandomZooModel(architecture, seed);
        var path = Path.Combine(_folder, name);
        Checkpoint.Save(network, path, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
        return path;
    }

    private static DatasetCatalog Catalog() => new(new DatasetOptions { Folders = [TestData.FashionMnistFolder] });

    private sealed class Silent : IJobProgress
    {
        public void Report(double fraction, string message) { }

        public void Publish(JobPartial partial) { }
    }

    private DistillationJobResult Distil(DistillationSettings objective, string output, bool baseline = true) =>
        DistillationJob.Run(new DistillationRequest([new CheckpointFile(_teacherA)], ModelZoo.Lenet300100, objective, IdxDataset.FashionMnistName,
            Epochs: 1, Seed: 3, Baseline: baseline, TrainingImages: 600, OutputFile: Path.Combine(_folder, output)), Catalog(), null, new Silent(), CancellationToken.None);

    [Fact]
    public void TheBaselineIsPlainTrainingAndAlphaZeroDistillationIsTooBitForBit()
    {
        var result = Distil(new DistillationSettings(DistillationLoss.SoftHard, 4, 0), "alpha0.ckpt");
        var plain = TrainingJob.Run(new TrainingRequest(ModelZoo.Lenet300100, IdxDataset.FashionMnistName, 1, 3, 600, OutputFile: Path.Combine(_folder, "plain.ckpt")),
            Catalog(), null, new Silent(), CancellationToken.None);
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
            Catalog(), null, new Silent(), CancellationToken.None);
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
}
