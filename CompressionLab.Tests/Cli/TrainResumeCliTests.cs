using CompressionLab.Cli;
using CompressionLab.Tests.Models;

using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// <c>train --out FILE</c> keeps <c>FILE.resume</c> after every epoch; <c>--resume</c> continues a stopped run to the
/// uninterrupted run's weights. Serial: the weights are compared bit for bit (global generator).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class TrainResumeCliTests : IDisposable
{
    // lenet-300-100: each run also validates on 5,000 images per epoch and tests on 10,000, which a CNN makes slow;
    // BatchNorm, flips and dropout are resumed bit for bit in TrainingResumeTests.
    private static readonly string[] Train = ["train", "--arch", "lenet-300-100", "--dataset", "fashion-mnist", "--limit", "300", "--epochs", "2", "--seed", "4", "--json"];

    private readonly string _folder = Directory.CreateTempSubdirectory("clab-cli-resume-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void AStoppedRunResumedWithTheSameCommandSavesTheUninterruptedRunsWeights()
    {
        var straightFile = Path.Combine(_folder, "straight.ckpt");
        var straight = Run([.. Train, "--out", straightFile]);
        Assert.True(straight.Code == CliApp.Success, straight.Err);
        Assert.False(File.Exists(straightFile + ".resume")); // deleted once the checkpoint is saved
        Assert.Contains($"after every epoch the run is saved to {straightFile}.resume", straight.Err);

        // Stopped (Ctrl+C here; a crash leaves the same file) as soon as epoch 1 is reported, i.e. after it was saved.
        var model = Path.Combine(_folder, "model.ckpt");
        using (var stop = new CancellationTokenSource())
        {
            var (stopped, log) = RunUntil(stop, "epoch 1/2: ", [.. Train, "--out", model]);
            Assert.Equal(CliApp.Cancelled, stopped);
            Assert.Contains($"1 of 2 epochs are saved in {model}.resume; run the same command with --resume to continue", log);
        }
        Assert.False(File.Exists(model));
        Assert.True(File.Exists(model + ".resume"));

        var resumed = Run([.. Train, "--out", model, "--resume"]);

        Assert.True(resumed.Code == CliApp.Success, resumed.Err);
        Assert.Contains($"resuming from {model}.resume: 1 of 2 epochs were done", resumed.Err);
        Assert.DoesNotContain("epoch 1/2: ", resumed.Err);
        Assert.Contains("epoch 2/2: ", resumed.Err);
        var json = LastJsonLine(resumed.Out);
        Assert.Equal(1, json.GetProperty("resumed_from_epoch").GetInt32());
        Assert.Equal(LastJsonLine(straight.Out).GetProperty("weights_hash").GetString(), json.GetProperty("weights_hash").GetString());
        Assert.Equal(LastJsonLine(straight.Out).GetProperty("top1").GetDouble(), json.GetProperty("top1").GetDouble());
        Assert.False(File.Exists(model + ".resume"));
    }

    [Fact]
    public void AResumeFileOfAnotherRunIsOneLineNamingTheFileAndWhatDiffers()
    {
        var model = Path.Combine(_folder, "model.ckpt");
        ModelTestData.WriteInterruptedRun(model + ".resume", epochsDone: 1, epochs: 2);

        var (code, output, error) = Run([.. Train, "--out", model, "--resume"]);

        Assert.Equal(CliApp.Failure, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"error: Training state {model}.resume: it was saved with other training settings (batch size 32 then, 128 now; seed 1 then, 4 now).", line);
        Assert.True(File.Exists(model + ".resume")); // left as it was
    }

    /// <summary>
    /// A fresh run beside the saved epochs of a stopped one would replace them after its first epoch (it used to, with
    /// only a "note:" line): refused naming --resume, the saved run left byte for byte.
    /// </summary>
    [Fact]
    public void AnEarlierRunsResumeFileWithoutResumeIsRefusedAndKept()
    {
        var model = Path.Combine(_folder, "model.ckpt");
        ModelTestData.WriteInterruptedRun(model + ".resume", epochsDone: 1, epochs: 2);
        var before = File.ReadAllBytes(model + ".resume");

        var (code, output, error) = Run([.. Train, "--out", model]);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        Assert.Equal($"error: --resume: {model}.resume holds 1 saved epoch of an earlier run: add --resume to continue it, or delete it to start over", error.Trim());
        Assert.Equal(before, File.ReadAllBytes(model + ".resume"));
        Assert.False(File.Exists(model));
    }

    [Fact]
    public void ResumeWithoutAResumeFileIsABadArgument()
    {
        var model = Path.Combine(_folder, "model.ckpt");

        var (code, _, error) = Run([.. Train, "--out", model, "--resume"]);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal($"error: --resume: {model}.resume not found: there is no stopped run to continue (run without --resume to start one)", error.Trim());
    }

    [Fact]
    public void HelpMentionsResume()
    {
        var (_, output, _) = Run("help");

        Assert.Contains("--resume", output);
        Assert.Contains("FILE.resume", output);
    }

    /// <summary>Runs the CLI and cancels it (as Ctrl+C does) when stderr gets a line starting with <paramref name="trigger"/>.</summary>
    private static (int Code, string Err) RunUntil(CancellationTokenSource stop, string trigger, string[] args)
    {
        using var output = new StringWriter();
        using var error = new TriggerWriter(trigger, stop.Cancel);
        var code = CliApp.Run(args, output, error, stop.Token);
        return (code, error.ToString());
    }

    private sealed class TriggerWriter(string trigger, Action onTrigger) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.StartsWith(trigger, StringComparison.Ordinal) == true) onTrigger();
        }
    }
}
