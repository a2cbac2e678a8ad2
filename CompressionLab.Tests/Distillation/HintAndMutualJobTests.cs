using System.Text.Json;
using CompressionLab.Core.Data;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Distillation;

/// <summary>
/// FitNets hints and deep mutual learning as jobs on small runs: which stages can be hinted, the regressors trained and
/// carried through a resume, the hint phase resumed, two identical students staying identical, and the refusals.
/// Serial: resumed weights must match bit for bit.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class HintAndMutualJobTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-kd-hints-").FullName;
    private readonly string _teacher;

    public HintAndMutualJobTests()
    {
        _teacher = DistillationTestData.SaveRandom(_folder, ModelZoo.VggSmall, 41, "teacher.ckpt");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    private DistillationRequest Hints(DistillationSettings objective, string output, int epochs = 2) =>
        new([new CheckpointFile(_teacher)], ModelZoo.VggTiny, objective, IdxDataset.FashionMnistName, Epochs: epochs, Seed: 4, Baseline: false,
            TrainingImages: 200, OutputFile: PathOf(output));

    private static DistillationRequest Mutual(string output, string? peer = null, int? peerSeed = null, int epochs = 2, string student = ModelZoo.VggTiny, bool savePeer = false) =>
        new([], student, new DistillationSettings(DistillationLoss.Mutual, 1), IdxDataset.FashionMnistName, Epochs: epochs, Seed: 4, Baseline: false,
            TrainingImages: 200, OutputFile: output, PeerArchitecture: peer, PeerSeed: peerSeed, SavePeer: savePeer, PeerOutputFile: savePeer ? output + ".peer.ckpt" : null);

    private static DistillationJobResult Run(DistillationRequest request, IJobProgress? progress = null, CancellationToken cancellationToken = default, TrainingStateSlot? slot = null) =>
        DistillationJob.Run(request, DistillationTestData.Catalog(), null, progress ?? new RecordingProgress(), cancellationToken, slot);

    /// <summary>Runs <paramref name="request"/> straight, then again stopped after the first epoch of <paramref name="stopAfter"/> and resumed from its file.</summary>
    private (DistillationJobResult Straight, DistillationJobResult Resumed, TrainingStateHeader Stopped) StraightAndResumed(DistillationRequest request, DistillationRun stopAfter)
    {
        var straight = Run(request with { OutputFile = request.OutputFile + ".straight.ckpt", PeerOutputFile = request.PeerOutputFile is null ? null : request.PeerOutputFile + ".straight" });
        var state = request.OutputFile + ".resume";
        using (var stop = new CancellationTokenSource())
        {
            Assert.ThrowsAny<OperationCanceledException>(() => Run(request, new StoppingProgress(stop, stopAfter), stop.Token, TrainingStateSlot.File(state, resume: false)));
        }
        Assert.True(File.Exists(state));
        Assert.False(File.Exists(request.OutputFile));
        var stopped = TrainingState.ReadHeader(state);
        var resumed = Run(request, cancellationToken: CancellationToken.None, slot: TrainingStateSlot.File(state, resume: true));
        Assert.False(File.Exists(state));
        return (straight, resumed, stopped);
    }

    [Fact]
    public void VggStagesHaveTheSameMapSizesAndOtherStagesAreRefusedNamingBoth()
    {
        manual_seed(1);
        using var tiny = ModelZoo.Create(ModelZoo.VggTiny);
        using var small = ModelZoo.Create(ModelZoo.VggSmall);
        using var lenet = ModelZoo.Create(ModelZoo.Lenet5);
        using var mlp = ModelZoo.Create(ModelZoo.Lenet300100);
        Assert.Equal(
            [new HintStage("stage1", 2, 2, 8, 24, 14, 14), new HintStage("stage2", 4, 4, 16, 48, 7, 7), new HintStage("stage3", 6, 6, 24, 96, 3, 3)],
            HintStages.Plan(tiny, small, null));
        // LeNet-5's stage 1 pools 28×28 to 14×14 as vgg's does; its stage 2 (unpadded 5×5) gives 5×5, not 7×7.
        Assert.Equal([new HintStage("stage1", 2, 1, 8, 6, 14, 14)], HintStages.Plan(tiny, lenet, null));
        var refused = Assert.Throws<InvalidRequestException>(() => HintStages.Plan(tiny, lenet, ["stage2"]));
        Assert.Equal(nameof(DistillationSettings.HintStages), refused.Setting);
        Assert.Contains("stage2 16×7×7", refused.Message);
        Assert.Contains("stage2 16×5×5", refused.Message);
        Assert.Equal(nameof(DistillationSettings.HintStages), Assert.Throws<InvalidRequestException>(() => HintStages.Plan(mlp, small, null)).Setting);
    }

    [Fact]
    public void TheHintPhaseTrainsTheStagesUpToTheLastHintedOneAndTheRegressors()
    {
        manual_seed(1);
        using var tiny = ModelZoo.Create(ModelZoo.VggTiny);
        using var small = ModelZoo.Create(ModelZoo.VggSmall);
        var settings = new DistillationSettings(DistillationLoss.Hints, Hints: HintMode.FirstPhase, HintStages: ["stage2"]);
        using var phase = new HintObjective(settings, small, tiny, null, firstPhase: true, "teacher");
        var trained = phase.TrainedParameters(tiny).ToList();
        var expected = tiny.named_parameters().Where(p => p.name.StartsWith("stage1.", StringComparison.Ordinal) || p.name.StartsWith("stage2.", StringComparison.Ordinal))
            .Select(p => p.parameter).Concat(phase.Regressors.parameters()).ToList();
        Assert.Equal(12 + 2, trained.Count); // two stages of conv, BN weight, BN bias twice; one regressor's weight and bias
        Assert.Equal(expected.Count, trained.Count);
        Assert.All(trained.Zip(expected), pair => Assert.Same(pair.Second, pair.First));
        Assert.Equal([48L, 16, 1, 1], phase.Regressors.Convs.Single().weight!.shape);

        // Added to the loss, every parameter of the student trains, with the regressors.
        using var targets = TeacherTargetsFor(small);
        using var added = new HintObjective(settings with { Hints = HintMode.Added }, small, tiny, targets, firstPhase: false, "teacher");
        Assert.Equal(tiny.parameters().Count() + 2, added.TrainedParameters(tiny).Count());
    }

    private static TeacherTargets TeacherTargetsFor(ClassifierNetwork teacher) =>
        TeacherTargets.Compute([teacher], TestData.FashionMnist.Train.Take(4), new DistillationSettings(DistillationLoss.SoftHard), withMirrors: false);

    [Fact]
    public void HintsAddedToTheLossTrainTheRegressorsAndAResumedRunIsTheUninterruptedOne()
    {
        var request = Hints(new DistillationSettings(DistillationLoss.Hints, 4, 0.9, HintWeight: 2), "added.ckpt");
        var (straight, resumed, stopped) = StraightAndResumed(request, DistillationRun.Distilled);

        Assert.Equal(1, resumed.ResumedFromEpoch);
        Assert.Equal(straight.WeightsHash, resumed.WeightsHash);
        Assert.Equal(straight.History.Select(e => e.TrainLoss), resumed.History.Select(e => e.TrainLoss));
        Assert.Equal("hints T=4 alpha=0.9 t2=on hint=added beta=2 stages=all", straight.Objective);

        // The state after epoch 1 holds regressors that moved away from their initial weights (made, as in the job, right after the seeded student).
        var saved = Convert.FromBase64String(stopped.ConstraintState!.Value.GetProperty("regressors").GetString()!);
        manual_seed(4);
        using var student = ModelZoo.Create(ModelZoo.VggTiny);
        using var teacher = Checkpoint.Load(_teacher);
        using var initial = new HintRegressors(HintStages.Plan(student, teacher.Model, null));
        var before = initial.Save();
        Assert.Equal(before.Length, saved.Length);
        Assert.NotEqual(before, saved);
        Assert.Contains("hint=added", stopped.Constraint);

        // Without hints (β's term gone: soft + hard alone) the student ends elsewhere.
        var plain = Run(Hints(new DistillationSettings(DistillationLoss.SoftHard, 4, 0.9), "softhard.ckpt"));
        Assert.NotEqual(plain.WeightsHash, straight.WeightsHash);
        using var model = Checkpoint.Load(PathOf("added.ckpt"));
        Assert.Equal(student.ParameterCount, model.Model.ParameterCount); // the regressors are not part of the student
    }

    [Fact]
    public void AHintPhaseStoppedMidwayIsResumedToTheUninterruptedRun()
    {
        var request = Hints(new DistillationSettings(DistillationLoss.Hints, 4, 0.9, Hints: HintMode.FirstPhase, HintEpochs: 2, HintStages: ["stage1", "stage2"]), "phase.ckpt", epochs: 1);
        var (straight, resumed, stopped) = StraightAndResumed(request, DistillationRun.HintPhase);

        Assert.Equal(2, straight.HintHistory!.Count);
        Assert.Single(straight.History);
        Assert.EndsWith(" phase=hints from " + Checkpoint.ReadMetadata(_teacher).ContentHash, stopped.Constraint);
        Assert.Equal(1, stopped.EpochsDone);
        Assert.Equal(straight.WeightsHash, resumed.WeightsHash);
        Assert.Equal(straight.HintHistory.Select(e => e.TrainLoss), resumed.HintHistory!.Select(e => e.TrainLoss));
        // The hint phase's loss is the hint loss: it falls from its first epoch to its second.
        Assert.True(straight.HintHistory[1].TrainLoss < straight.HintHistory[0].TrainLoss, $"{straight.HintHistory[0].TrainLoss} then {straight.HintHistory[1].TrainLoss}");
    }

    [Fact]
    public void TwoIdenticalStudentsWithoutDropoutStayIdenticalWithDropoutTheyPartAndAPeerOfAnotherSeedDiffers()
    {
        // lenet-300-100 has no dropout: the same seed gives the same weights, each sees the same batches and flips, the KL
        // term is the same for both, so every update is the same. (vgg has dropout: each draws its own masks, and they part.)
        var same = Run(Mutual(PathOf("same.ckpt"), peerSeed: 4, student: ModelZoo.Lenet300100, savePeer: true, epochs: 1));
        Assert.Equal(same.WeightsHash, Checkpoint.ReadMetadata(PathOf("same.ckpt.peer.ckpt")).ContentHash);
        Assert.Equal(same.Top1, same.PeerTop1);

        // With dropout, the second student's masks are the next draws of the generator, not the first's: they part.
        var dropout = Run(Mutual(PathOf("dropout.ckpt"), peerSeed: 4, savePeer: true, epochs: 1));
        Assert.NotEqual(dropout.WeightsHash, Checkpoint.ReadMetadata(PathOf("dropout.ckpt.peer.ckpt")).ContentHash);

        var other = Run(Mutual(PathOf("other.ckpt"), student: ModelZoo.Lenet300100, savePeer: true, epochs: 1));
        var peer = Checkpoint.ReadMetadata(PathOf("other.ckpt.peer.ckpt"));
        Assert.NotEqual(other.WeightsHash, peer.ContentHash);
        Assert.Equal(5, peer.Training!.Seed); // seed + 1
        using var student = Checkpoint.Load(PathOf("other.ckpt"));
        var lineage = student.Metadata.Lineage!;
        Assert.Equal(("distill", "dml T=1 t2=on"), (lineage.Operation, lineage.Objective));
        Assert.Equal([peer.ContentHash], lineage.Teachers);
        Assert.Equal(peer.ContentHash, lineage.ParentWeightsHash);
        Assert.Equal(other.WeightsHash, peer.Lineage!.ParentWeightsHash);
    }

    [Fact]
    public void MutualLearningResumesBothStudents()
    {
        var (straight, resumed, stopped) = StraightAndResumed(Mutual(PathOf("dml.ckpt"), peer: ModelZoo.VggSmall, savePeer: true), DistillationRun.Distilled);
        Assert.Equal(straight.WeightsHash, resumed.WeightsHash);
        Assert.Equal(straight.PeerTop1, resumed.PeerTop1);
        Assert.Equal(Checkpoint.ReadMetadata(PathOf("dml.ckpt.peer.ckpt.straight")).ContentHash, Checkpoint.ReadMetadata(PathOf("dml.ckpt.peer.ckpt")).ContentHash);
        Assert.Contains("with peer vgg-small seed 5", stopped.Constraint);
        Assert.Equal(ModelZoo.VggSmall, straight.PeerArchitecture);
    }

    [Fact]
    public void RequestsThatMakeNoSenseAreNamed()
    {
        var hints = Hints(new DistillationSettings(DistillationLoss.Hints), "x.ckpt");
        var mutual = Mutual(PathOf("y.ckpt"));
        void Refused(DistillationRequest request, string setting, string? words = null)
        {
            var error = Assert.Throws<InvalidRequestException>(request.Validate);
            Assert.Equal(setting, error.Setting);
            if (words is not null) Assert.Contains(words, error.Message);
        }
        Refused(mutual with { Teachers = [new CheckpointFile(_teacher)] }, nameof(DistillationRequest.Teachers), "no teacher");
        Refused(mutual with { Dataset = null }, nameof(DistillationRequest.Dataset));
        Refused(mutual with { PeerArchitecture = "resnet" }, nameof(DistillationRequest.PeerArchitecture));
        Refused(mutual with { SavePeer = true }, nameof(DistillationRequest.PeerOutputFile));
        Refused(mutual with { SavePeer = true, PeerOutputFile = PathOf("y.ckpt") }, nameof(DistillationRequest.PeerOutputFile));
        Refused(hints with { Teachers = [new CheckpointFile(_teacher), new CheckpointFile(_teacher)] }, nameof(DistillationRequest.Teachers), "one teacher");
        Refused(hints with { PeerArchitecture = ModelZoo.VggTiny }, nameof(DistillationRequest.PeerArchitecture));
        mutual.Validate();
        hints.Validate();
    }

    private sealed class StoppingProgress(CancellationTokenSource stop, DistillationRun run) : IJobProgress
    {
        public void Report(double fraction, string message)
        {
        }

        public void Publish(JobPartial partial)
        {
            if (partial is DistillationEpochFinished { Epoch.Epoch: 1 } finished && finished.Run == run) stop.Cancel();
        }
    }
}
