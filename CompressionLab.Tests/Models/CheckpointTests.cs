using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

public sealed class CheckpointTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-checkpoint-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathFor(string name) => Path.Combine(_folder, name);

    /// <summary>A vgg-tiny whose BatchNorm running statistics moved off their defaults, so buffers matter too.</summary>
    private static ClassifierNetwork ModelWithStatistics(string architecture = ModelZoo.VggTiny, int seed = 31)
    {
        manual_seed(seed);
        var model = ModelZoo.Create(architecture);
        model.train();
        using (no_grad())
        using (var scope = NewDisposeScope())
            model.call(randn(16, 1, 28, 28));
        model.eval();
        return model;
    }

    private static string Save(ClassifierNetwork model, string path, TrainingSettings? training = null) =>
        Checkpoint.Save(model, path, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses, 0.875, training).ContentHash;

    [Fact]
    public void RoundTripGivesIdenticalLogitsAndMetadata()
    {
        using var model = ModelWithStatistics();
        var path = PathFor("tiny.ckpt");
        var training = new TrainingSettings { Epochs = 3, Seed = 9 };
        var created = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var saved = Checkpoint.Save(model, path, "fashion-mnist", IdxDataset.FashionMnistClasses, 0.9123, training, created);

        using var loaded = Checkpoint.Load(path);

        using var scope = NewDisposeScope();
        var input = randn(8, 1, 28, 28);
        using (no_grad())
            Assert.True(model.call(input).eq(loaded.Model.call(input)).all().item<bool>());
        Assert.False(loaded.Model.training);
        Assert.Equal(ModelZoo.VggTiny, loaded.Model.Architecture);

        var meta = loaded.Metadata;
        Assert.Equal(ModelZoo.VggTiny, meta.Architecture);
        Assert.Equal("fashion-mnist", meta.Dataset);
        Assert.Equal(0.9123, meta.Top1);
        Assert.Equal(IdxDataset.FashionMnistClasses, meta.ClassNames);
        Assert.Equal(training, meta.Training);
        Assert.Equal(created, meta.CreatedAt);
        Assert.Equal(model.ParameterCount, meta.ParameterCount);
        Assert.Equal(saved.ContentHash, meta.ContentHash);
        Assert.Equal(meta, Checkpoint.ReadMetadata(path) with { ClassNames = meta.ClassNames });

        // The hash is SHA-256 of exactly what TorchSharp's Module.save writes for these weights.
        var plain = PathFor("tiny.weights");
        model.save(plain);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(plain))), meta.ContentHash);
        Assert.Equal(new FileInfo(plain).Length, meta.WeightsLength);
    }

    [Fact]
    public void SameWeightsGiveTheSameContentHash()
    {
        using var model = ModelWithStatistics();
        using var other = ModelWithStatistics(seed: 32);

        Assert.Equal(Save(model, PathFor("a.ckpt")), Save(model, PathFor("b.ckpt")));
        Assert.NotEqual(Save(model, PathFor("a.ckpt")), Save(other, PathFor("c.ckpt")));
    }

    [Fact]
    public void PlainTorchSharpWeightsLoadIntoTheirArchitecture()
    {
        using var model = ModelWithStatistics(ModelZoo.Lenet5);
        var path = PathFor("lenet5.weights");
        model.save(path);

        using var loaded = Checkpoint.LoadTorchSharpWeights(path, ModelZoo.Lenet5);

        using var scope = NewDisposeScope();
        var input = randn(4, 1, 28, 28);
        using (no_grad())
            Assert.True(model.call(input).eq(loaded.call(input)).all().item<bool>());
    }

    [Fact]
    public void WeightsOfAnotherArchitectureAreRejectedByTensorName()
    {
        using var lenet = ModelWithStatistics(ModelZoo.Lenet5);
        var plain = PathFor("lenet5.weights");
        lenet.save(plain);

        var error = Assert.Throws<CheckpointException>(() => Checkpoint.LoadTorchSharpWeights(plain, ModelZoo.VggTiny));
        Assert.Contains(plain, error.Message);
        Assert.Contains("do not fit vgg-tiny", error.Message);
        Assert.Contains("stage1.conv1.weight", error.Message); // 6×1×5×5 in lenet-5, 8×1×3×3 in vgg-tiny

        // A checkpoint whose header names an architecture its weights are not (hash intact).
        var relabelled = PathFor("relabelled.ckpt");
        Save(lenet, relabelled);
        RewriteHeader(relabelled, json => json.Replace("\"lenet-5\"", "\"vgg-tiny\"", StringComparison.Ordinal));
        error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(relabelled));
        Assert.Contains(relabelled, error.Message);
        Assert.Contains("stage1.conv1.weight", error.Message);
        Assert.Contains("6×1×5×5", error.Message);
        Assert.Contains("8×1×3×3", error.Message);
    }

    [Fact]
    public void TinyVggWeightsDoNotPassForTheTeacher()
    {
        // Same tensor names, other widths: only shapes tell them apart.
        using var tiny = ModelWithStatistics();
        var plain = PathFor("tiny.weights");
        tiny.save(plain);

        var error = Assert.Throws<CheckpointException>(() => Checkpoint.LoadTorchSharpWeights(plain, ModelZoo.VggSmall));
        Assert.Contains("'stage1.conv1.weight' is 8×1×3×3 in the file but vgg-small needs 24×1×3×3", error.Message);
    }

    [Fact]
    public void UnknownArchitectureIsNamed()
    {
        using var model = ModelWithStatistics(ModelZoo.Lenet300100);
        var path = PathFor("unknown.ckpt");
        Save(model, path);
        RewriteHeader(path, json => json.Replace("\"lenet-300-100\"", "\"resnet-9000\"", StringComparison.Ordinal));

        var error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(path));
        Assert.Contains("unknown architecture 'resnet-9000'", error.Message);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void CorruptWeightsAreCaughtByTheHash()
    {
        using var model = ModelWithStatistics();
        var path = PathFor("corrupt.ckpt");
        Save(model, path);
        var bytes = File.ReadAllBytes(path);
        bytes[^100] ^= 0x40; // one bit inside the last tensor's data
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(path));
        Assert.Contains("corrupt", error.Message);
        Assert.Contains(path, error.Message);
        Assert.Throws<CheckpointException>(() => Checkpoint.ReadMetadata(path));
    }

    [Fact]
    public void CorruptHeaderIsReported()
    {
        using var model = ModelWithStatistics(ModelZoo.Lenet300100);
        var path = PathFor("header.ckpt");
        Save(model, path);
        RewriteHeader(path, json => "[" + json[1..]);

        var error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(path));
        Assert.Contains("metadata header is corrupt", error.Message);
    }

    [Theory]
    [InlineData(0.5)]   // inside the weights
    [InlineData(0.999)] // the last few bytes
    public void TruncatedFileIsReported(double keep)
    {
        using var model = ModelWithStatistics();
        var path = PathFor("truncated.ckpt");
        Save(model, path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(int)(bytes.Length * keep)]);

        var error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(path));
        Assert.Contains("truncated", error.Message);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void FileCutInsideTheHeaderIsReported()
    {
        using var model = ModelWithStatistics(ModelZoo.Lenet300100);
        var path = PathFor("cut.ckpt");
        Save(model, path);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..40]);

        var error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(path));
        Assert.Contains("truncated inside the header", error.Message);
    }

    [Fact]
    public void MissingEmptyAndForeignFilesAreReported()
    {
        var missing = PathFor("nothing-here.ckpt");
        var error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(missing));
        Assert.Equal($"Checkpoint {missing}: file not found.", error.Message);

        var empty = PathFor("empty.ckpt");
        File.WriteAllBytes(empty, []);
        Assert.Contains("empty", Assert.Throws<CheckpointException>(() => Checkpoint.Load(empty)).Message);

        var text = PathFor("notes.txt");
        File.WriteAllText(text, "these are not the weights you are looking for");
        Assert.Contains("not a CompressionLab checkpoint", Assert.Throws<CheckpointException>(() => Checkpoint.Load(text)).Message);

        using var model = ModelWithStatistics(ModelZoo.Lenet300100);
        var plain = PathFor("plain.weights");
        model.save(plain);
        Assert.Contains("not a CompressionLab checkpoint", Assert.Throws<CheckpointException>(() => Checkpoint.Load(plain)).Message);

        Assert.Contains("is a folder", Assert.Throws<CheckpointException>(() => Checkpoint.Load(_folder)).Message);
    }

    [Fact]
    public void SavingReplacesAnExistingFileWholly()
    {
        using var big = ModelWithStatistics(ModelZoo.VggSmall);
        using var small = ModelWithStatistics(ModelZoo.Lenet5);
        var path = PathFor("replaced.ckpt");
        Save(big, path);

        Save(small, path);

        using var loaded = Checkpoint.Load(path);
        Assert.Equal(ModelZoo.Lenet5, loaded.Model.Architecture);
        Assert.Single(Directory.GetFiles(_folder)); // no temporary file left behind
    }

    [Fact]
    public void AZooModelsHeaderHasNoWidthsAndAModelWithOtherWidthsRecordsThem()
    {
        using var model = ModelWithStatistics();
        var dense = PathFor("dense.ckpt");
        Save(model, dense);
        // The header of a default-width model is what it was before widths existed, so older files read the same way.
        Assert.DoesNotContain("widths", HeaderOf(dense), StringComparison.OrdinalIgnoreCase);
        Assert.Null(Checkpoint.ReadMetadata(dense).Widths);

        manual_seed(33);
        using var narrow = ModelZoo.Create(ModelZoo.VggTiny, widths: new Dictionary<string, int> { ["stage1.conv2"] = 5, ["stage3.conv2"] = 17 });
        narrow.eval();
        var path = PathFor("narrow.ckpt");
        var hash = Save(narrow, path);
        Assert.Contains("\"widths\":{\"stage1.conv1\":8,\"stage1.conv2\":5,", HeaderOf(path), StringComparison.Ordinal);

        using var loaded = Checkpoint.Load(path);
        Assert.Equal("16×5×3×3", loaded.Model.Layer("stage2.conv1").ShapeText);
        Assert.Equal("10×153", loaded.Model.Layer("classifier.fc").ShapeText); // 17 channels × 3 × 3 after the flatten
        Assert.Equal(narrow.ParameterCount, loaded.Metadata.ParameterCount);
        // The weights hash is the hash of the weights, as for any model.
        var plain = PathFor("narrow.weights");
        narrow.save(plain);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(plain))), hash);
        using var scope = NewDisposeScope();
        var input = randn(4, 1, 28, 28);
        using (no_grad())
            Assert.True(narrow.call(input).eq(loaded.Model.call(input)).all().item<bool>());
    }

    [Fact]
    public void WidthsThatDoNotFitTheArchitectureOrTheWeightsAreNamed()
    {
        manual_seed(34);
        using var narrow = ModelZoo.Create(ModelZoo.VggTiny, widths: new Dictionary<string, int> { ["stage1.conv2"] = 5 });
        var unknown = PathFor("unknown.ckpt");
        Save(narrow, unknown);
        RewriteHeader(unknown, json => json.Replace("\"stage1.conv2\":5", "\"stage9.conv2\":5", StringComparison.Ordinal));
        var error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(unknown));
        Assert.Contains("stage9.conv2", error.Message, StringComparison.Ordinal);

        var other = PathFor("other.ckpt");
        Save(narrow, other);
        RewriteHeader(other, json => json.Replace("\"stage1.conv2\":5", "\"stage1.conv2\":6", StringComparison.Ordinal));
        error = Assert.Throws<CheckpointException>(() => Checkpoint.Load(other));
        Assert.Contains("stage1.conv2.weight", error.Message, StringComparison.Ordinal);
    }

    private static string HeaderOf(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return Encoding.UTF8.GetString(bytes, 12, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)));
    }

    /// <summary>Edits the JSON header of a checkpoint, keeping the container valid (length updated, weights untouched).</summary>
    private static void RewriteHeader(string path, Func<string, string> edit)
    {
        var bytes = File.ReadAllBytes(path);
        var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
        var header = Encoding.UTF8.GetBytes(edit(Encoding.UTF8.GetString(bytes, 12, length)));
        var lengthBytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(lengthBytes, header.Length);
        File.WriteAllBytes(path, [.. bytes[..8], .. lengthBytes, .. header, .. bytes[(12 + length)..]]);
    }
}
