using CompressionLab.Cli;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Pruning;

using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// <c>finetune</c> end to end on a random vgg-tiny and a few Fashion-MNIST images, its JSON line, and its refusals each
/// naming the option. Serial: it trains (global generator).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class FinetuneCliTests : IDisposable
{
    private readonly CliFolder _folder = new("clab-cli-finetune-");
    private readonly string _model;
    private readonly CheckpointMetadata _metadata;

    public FinetuneCliTests()
    {
        _model = _folder.PathOf("tiny.ckpt");
        using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 4);
        _metadata = Checkpoint.Save(network, _model, IdxDataset.FashionMnistName, IdxDataset.FashionMnistClasses);
    }

    public void Dispose() => _folder.Dispose();

    private string[] Finetune(params string[] more) =>
        ["finetune", "--model", _model, "--dataset", "fashion-mnist", "--limit", "200", "--val-limit", "100", "--batch", "50", .. more];

    [Fact]
    public void AFineTuningOnATinySubsetWritesThePrunedModelAndItsJsonLine()
    {
        var output = _folder.PathOf("pruned.ckpt");

        var (code, stdout, stderr) = Run(Finetune("--rates", "stage1=0.3,stage2=0.6,stage3=0.8", "--epochs", "2", "--lr", "0.002", "--out", output, "--json"));

        Assert.True(code == CliApp.Success, stderr);
        var json = LastJsonLine(stdout);
        foreach (var key in new[] { "top1_before", "top1_after", "dense_top1", "test_top1" })
            Assert.InRange(json.GetProperty(key).GetDouble(), 0, 1);
        Assert.Equal(output, json.GetProperty("out").GetString());
        Assert.True(json.GetProperty("seconds").GetDouble() > 0);
        Assert.Equal(("agp", 2, 0.002, 200, 100), (json.GetProperty("schedule").GetString(), json.GetProperty("epochs").GetInt32(),
            json.GetProperty("lr").GetDouble(), json.GetProperty("training_images").GetInt32(), json.GetProperty("samples").GetInt32()));
        Assert.Equal(2, json.GetProperty("validation_top1").GetArrayLength());
        Assert.Equal(json.GetProperty("top1_after").GetDouble(), json.GetProperty("validation_top1")[1].GetDouble());
        Assert.Equal(_metadata.ContentHash, json.GetProperty("parent_weights_hash").GetString());

        // The sparsity is the plan's, as plan evaluate counts it (excluded output layer dense).
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var plan = PlanRates.ApplyTo(PruningPlan.Default(network.Layers, PruningMethod.Element), network.Layers, PlanRates.Parse("stage1=0.3,stage2=0.6,stage3=0.8"));
        Assert.Equal(Math.Round(PlanSize.Of(network.Graph, plan.Resolve(network.Layers).Layers).Sparsity, 6), json.GetProperty("sparsity").GetDouble());

        var written = Checkpoint.ReadMetadata(output);
        Assert.Equal(json.GetProperty("weights_hash").GetString(), written.ContentHash);
        Assert.Equal(_metadata.ContentHash, written.Lineage!.ParentWeightsHash);
        Assert.False(File.Exists(output + ".resume"));
        Assert.Contains("validation top-1 on 100 images: dense ", stderr);
        Assert.Contains("schedule agp: masks ranked again every ", stderr);
        Assert.Contains("epoch 2/2: train loss ", stderr);
    }

    [Fact]
    public void APlanFileForAnotherModelIsRefusedNamingBothWeights()
    {
        using var network = ModelZoo.Create(ModelZoo.VggTiny);
        var planFile = _folder.PathOf("plan.json");
        var otherHash = new string('b', 64);
        PlanFile.Write(planFile, new PlanDocument(new PlanModel(ModelZoo.VggTiny, otherHash, "other"),
            PruningPlan.Default(network.Layers, PruningMethod.Element, 0.5)), network.Layers);
        var output = _folder.PathOf("pruned.ckpt");

        var (code, stdout, stderr) = Run(Finetune("--plan", planFile, "--epochs", "1", "--out", output, "--json"));

        Assert.Equal(CliApp.Failure, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: --plan: Plan file {planFile}: the plan is for other weights of vgg-tiny ('other'): its weights hash is bbbbbbbbbbbb…, this model's is {_metadata.ContentHash[..12]}…. " +
                     "Levels chosen from one training's sweeps do not carry over to another; make a plan for this model (plan allocate).", stderr.Trim());
        Assert.False(File.Exists(output));
    }

    /// <summary>The parent checkpoint as --out would be replaced by its pruned child: refused before any work, the parent unchanged.</summary>
    [Fact]
    public void TheModelFileAsOutputIsRefusedAndTheParentIsUnchanged()
    {
        var before = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(_model)));

        var (code, stdout, stderr) = Run(Finetune("--rates", "stage1=0.5", "--epochs", "1", "--out", _model));

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("error: --out: is the model file itself", stderr.Trim(), StringComparison.Ordinal);
        Assert.Equal(before, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(_model))));
        Assert.False(File.Exists(_model + ".resume"));
    }

    /// <summary>The saved epochs of a stopped fine-tuning are never replaced by a fresh run: without --resume it is refused, the file kept.</summary>
    [Fact]
    public void AnEarlierRunsResumeFileWithoutResumeIsRefusedAndKept()
    {
        var output = _folder.PathOf("pruned.ckpt");
        ModelTestData.WriteInterruptedRun(output + ".resume", epochsDone: 2, epochs: 3);
        var before = File.ReadAllBytes(output + ".resume");

        var (code, stdout, stderr) = Run(Finetune("--rates", "stage1=0.5", "--epochs", "3", "--out", output));

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: --resume: {output}.resume holds 2 saved epochs of an earlier run: add --resume to continue it, or delete it to start over", stderr.Trim());
        Assert.Equal(before, File.ReadAllBytes(output + ".resume"));
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData("--epochs 1", "--rates", "give the rates")]
    [InlineData("--rates stage1=0.5 --epochs 0", "--epochs", "Epochs must be between 1 and 1000 (got 0).")]
    [InlineData("--rates stage1=0.5 --epochs 1 --lr 0", "--lr", "The learning rate must be above 0 and at most 1 (got 0).")]
    [InlineData("--rates stage1=0.5 --epochs 1 --lr fast", "--lr", "fast")]
    [InlineData("--rates stage1=0.5 --epochs 1 --schedule cubic", "--schedule", "cubic")]
    [InlineData("--rates stage9=0.5 --epochs 1", "--rates", "'stage9' is neither a stage")]
    [InlineData("--rates stage1=1.5 --epochs 1", "--rates", "1.5 is outside [0, 1)")]
    [InlineData("--rates stage1=0.5 --epochs 1 --batch 1", "--batch", "The batch size must be between 2 (for BatchNorm) and 4096 (got 1).")]
    [InlineData("--rates stage1=0.5 --epochs 1 --val-limit 0", "--val-limit", "The subset needs at least one image (got 0).")]
    [InlineData("--rates stage1=0.5 --epochs 1 --val-limit 5001", "--val-limit", "5,000")]
    [InlineData("--rates stage1=0.5 --epochs 1 --resume", "--resume", "there is no stopped run to continue")]
    [InlineData("--rates stage1=0.5", "--epochs", "Option '--epochs' is required.")]
    public void BadInputIsOneLineNamingTheOption(string arguments, string option, string words)
    {
        var output = _folder.PathOf("pruned.ckpt");
        string[] args = ["finetune", "--model", _model, "--dataset", "fashion-mnist", "--out", output, .. arguments.Split(' ')];

        var (code, stdout, stderr) = Run(args);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.StartsWith($"error: {option}: ", line, StringComparison.Ordinal);
        Assert.Contains(words, line, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }
}
