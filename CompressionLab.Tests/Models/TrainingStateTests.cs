using System.Text;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

/// <summary>
/// Resuming a run from the state saved after epoch k must give the weights of an uninterrupted run bit for bit.
/// Serial: the global generator (weight initialisation, dropout) must not be drawn from by a parallel test mid-run.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class TrainingResumeTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-resume-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(ModelZoo.Lenet300100, 300, 3, 64, 1)]
    [InlineData(ModelZoo.Lenet300100, 300, 3, 64, 2)]
    [InlineData(ModelZoo.Lenet300100, 300, 3, 64, 3)] // everything done: resuming trains nothing
    [InlineData(ModelZoo.VggTiny, 200, 2, 64, 1)]      // BatchNorm buffers, flips and dropout
    public void ResumingAfterEpochKGivesTheWeightsOfAnUninterruptedRun(string arch, int images, int epochs, int batchSize, int crashAfter)
    {
        var train = ModelTestData.FashionTrain(images);
        var validation = ModelTestData.FashionTest(100);
        var settings = TrainingSettings.ForArchitecture(arch) with { Epochs = epochs, BatchSize = batchSize, Seed = 5 };

        manual_seed(5);
        using var straight = ModelZoo.Create(arch);
        var uninterrupted = Trainer.Train(straight, train, settings, validation);

        // The first run saves after every epoch and "crashes" (stops between batches) after epoch crashAfter.
        var path = Path.Combine(_folder, "run.state");
        manual_seed(5);
        using (var crashed = ModelZoo.Create(arch))
        using (var crash = new CancellationTokenSource())
        {
            void Save(TrainingState state)
            {
                state.Save(path);
                if (state.EpochsDone == crashAfter) crash.Cancel();
            }

            if (crashAfter < epochs)
                Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(crashed, train, settings, validation, cancellationToken: crash.Token, epochFinished: Save));
            else
                Trainer.Train(crashed, train, settings, validation, epochFinished: Save);
        }

        // A new process would start with other weights and another global generator state: so does this one.
        manual_seed(999);
        using var resumed = ModelZoo.Create(arch);
        randn(1000).Dispose();
        var state = TrainingState.Load(path);
        Assert.Equal(crashAfter, state.EpochsDone);
        var reports = new List<TrainingProgress>();
        var result = Trainer.Train(resumed, train, settings, validation, reports.Add, resumeFrom: state);

        Assert.Equal(WeightBytes(straight), WeightBytes(resumed));
        Assert.False(resumed.training);
        Assert.Equal(epochs, result.EpochsRun);
        // Losses and accuracies of every epoch are those of the uninterrupted run (only the times differ).
        Assert.Equal(uninterrupted.History.Select(WithoutTime), result.History.Select(WithoutTime));
        var batchesPerEpoch = (images / batchSize) + (images % batchSize >= 2 ? 1 : 0);
        Assert.Equal((epochs - crashAfter) * batchesPerEpoch, reports.Count);
        if (reports.Count > 0)
        {
            Assert.Equal(crashAfter + 1, reports[0].Epoch);
            Assert.Equal((double)((crashAfter * batchesPerEpoch) + 1) / (epochs * batchesPerEpoch), reports[0].Fraction);
            Assert.Equal(TimeSpan.Zero, reports[^1].Eta);
        }
    }

    private static byte[] WeightBytes(ClassifierNetwork model)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) model.save(writer);
        return buffer.ToArray();
    }

    private static EpochSummary WithoutTime(EpochSummary summary) => summary with { Seconds = 0 };
}

/// <summary>The state file: written atomically, damage and mismatches reported naming the file and the problem.</summary>
public sealed class TrainingStateFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-state-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>The state after one epoch of lenet-300-100 on <paramref name="images"/> Fashion-MNIST images, saved to a file.</summary>
    private string SavedState(int images = 64, int seed = 3, string name = "run.state")
    {
        var path = Path.Combine(_folder, name);
        manual_seed(seed);
        using var model = ModelZoo.Create(ModelZoo.Lenet300100);
        var settings = TrainingSettings.ForArchitecture(ModelZoo.Lenet300100) with { Epochs = 2, BatchSize = 32, Seed = seed };
        using var stop = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(model, ModelTestData.FashionTrain(images), settings,
            cancellationToken: stop.Token, epochFinished: state =>
            {
                state.Save(path);
                stop.Cancel();
            }));
        return path;
    }

    private static TrainingSettings Settings(int seed = 3) =>
        TrainingSettings.ForArchitecture(ModelZoo.Lenet300100) with { Epochs = 2, BatchSize = 32, Seed = seed };

    [Fact]
    public void ARoundTripKeepsTheHeaderAndASecondSaveReplacesTheFileWithoutTouchingTheOldOne()
    {
        var path = SavedState();
        var header = TrainingState.ReadHeader(path);

        Assert.Equal((ModelZoo.Lenet300100, 1, 2, 10, 28, 28), (header.Architecture, header.EpochsDone, header.Settings.Epochs, header.ClassCount, header.InputHeight, header.InputWidth));
        Assert.Equal(TrainingDataIdentity.Of(ModelTestData.FashionTrain(64)), header.Data);
        Assert.Equal([1], header.History.Select(e => e.Epoch));
        Assert.True(header.TrainingSeconds > 0);
        var loaded = TrainingState.Load(path);
        Assert.Equal(Path.GetFullPath(path), loaded.FilePath);
        Assert.Equal((header.PayloadHash, header.Settings, header.Data, header.SavedAt), (loaded.Header.PayloadHash, loaded.Header.Settings, loaded.Header.Data, loaded.Header.SavedAt));
        Assert.Equal(header.History, loaded.Header.History);
        Assert.Equal(header.SectionLengths, loaded.Header.SectionLengths);

        // Saving again writes a new file and renames it over the old: a reader of the old one still reads it whole,
        // which an in-place overwrite (the way a crash could leave half a file) would not allow.
        var before = File.ReadAllBytes(path);
        using (var old = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            SavedState(images: 96, seed: 4);
            using var copy = new MemoryStream();
            old.CopyTo(copy);
            Assert.Equal(before, copy.ToArray());
        }
        Assert.Equal(96, TrainingState.ReadHeader(path).Data.Count);
        Assert.Equal(["run.state"], Directory.GetFiles(_folder).Select(Path.GetFileName)); // no temporary file left
    }

    [Fact]
    public void ATruncatedFileNamesTheFileAndSaysSo()
    {
        var path = SavedState();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);

        var error = Assert.Throws<TrainingStateException>(() => TrainingState.Load(path));

        Assert.StartsWith($"Training state {path}: truncated: the sections should be ", error.Message);
        Assert.Equal(path, error.FilePath);
    }

    [Fact]
    public void AFlippedByteInTheTensorsIsCaughtByTheHash()
    {
        var path = SavedState();
        var bytes = File.ReadAllBytes(path);
        bytes[^200] ^= 0x10;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<TrainingStateException>(() => TrainingState.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("the saved tensors are corrupt (SHA-256 ", error.Message);
    }

    [Theory]
    [InlineData("", "the file is empty")]
    [InlineData("CLABCKPT....", "not a CompressionLab training state")]
    [InlineData("CLABTRST\u0005\0\0\0{nope", "the header is corrupt")]
    [InlineData("CLABTRST\u0009\0\0\0{nope", "truncated inside the header (17 bytes, the header alone ends at byte 21)")]
    [InlineData("CLABTRST\u00ff\u00ff\u00ff\u007f{", "the header length 2147483647 is not plausible")]
    public void SomethingElseIsNotReadAsAState(string content, string problem)
    {
        var path = Path.Combine(_folder, "other.state");
        File.WriteAllText(path, content, Encoding.Latin1);

        var error = Assert.Throws<TrainingStateException>(() => TrainingState.Load(path));

        Assert.StartsWith($"Training state {path}: {problem}", error.Message);
        Assert.Equal(error.Message, Assert.Throws<TrainingStateException>(() => TrainingState.ReadHeader(path)).Message);
    }

    [Fact]
    public void AMissingFileSaysSo()
    {
        var path = Path.Combine(_folder, "gone.state");

        Assert.Equal($"Training state {path}: file not found.", Assert.Throws<TrainingStateException>(() => TrainingState.Load(path)).Message);
    }

    [Fact]
    public void AStateOfAnotherArchitectureSettingsOrDataIsRefusedBeforeAnythingChanges()
    {
        var path = SavedState();
        var state = TrainingState.Load(path);
        var train = ModelTestData.FashionTrain(64);

        using var lenet5 = ModelZoo.Create(ModelZoo.Lenet5);
        var before = lenet5.LayerWeight("stage1.conv1").clone();
        var architecture = Assert.Throws<TrainingStateException>(() =>
            Trainer.Train(lenet5, train, TrainingSettings.ForArchitecture(ModelZoo.Lenet5) with { Epochs = 2, BatchSize = 32, Seed = 3 }, resumeFrom: state));
        Assert.Equal($"Training state {path}: it was saved by a lenet-300-100 training but this run trains lenet-5.", architecture.Message);
        Assert.True(lenet5.LayerWeight("stage1.conv1").eq(before).all().item<bool>());

        using var mlp = ModelZoo.Create(ModelZoo.Lenet300100);
        var settings = Assert.Throws<TrainingStateException>(() => Trainer.Train(mlp, train, Settings() with { Epochs = 5, Seed = 8 }, resumeFrom: state));
        Assert.Equal($"Training state {path}: it was saved with other training settings (epochs 2 then, 5 now; seed 3 then, 8 now).", settings.Message);

        var other = ModelTestData.FashionTest(64);
        var data = Assert.Throws<TrainingStateException>(() => Trainer.Train(mlp, other, Settings(), resumeFrom: state));
        Assert.StartsWith($"Training state {path}: it was saved training on 64 images of '{train.Name}' (data ", data.Message);
        Assert.Contains($"but this run trains on 64 images of '{other.Name}' (data ", data.Message);
    }

    [Fact]
    public void TheDataIdentityChangesWithAnyLabelOrPixel()
    {
        var images = ModelTestData.FashionTrain(10);
        var identity = TrainingDataIdentity.Of(images);
        var pixels = (byte[])images.Pixels.Clone();
        pixels[^1] ^= 1;
        var labels = (byte[])images.Labels.Clone();
        labels[0] = (byte)((labels[0] + 1) % 10);

        Assert.Equal(identity, TrainingDataIdentity.Of(new LabeledImages(images.Name, (byte[])images.Pixels.Clone(), (byte[])images.Labels.Clone(), 28, 28, images.ClassNames)));
        Assert.NotEqual(identity.Fingerprint, TrainingDataIdentity.Of(new LabeledImages(images.Name, pixels, images.Labels, 28, 28, images.ClassNames)).Fingerprint);
        Assert.NotEqual(identity.Fingerprint, TrainingDataIdentity.Of(new LabeledImages(images.Name, images.Pixels, labels, 28, 28, images.ClassNames)).Fingerprint);
        Assert.Equal(64, identity.Fingerprint.Length);
    }
}
