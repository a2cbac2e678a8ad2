using System.Globalization;
using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Models;

using static CompressionLab.Tests.Cli.InProcessCli;

namespace CompressionLab.Tests.Cli;

public sealed class CliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("clab-cli-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);



    [Theory]
    [InlineData("", "no command")]
    [InlineData("frobnicate", "frobnicate")]
    [InlineData("train --arch vgg-tiny --dataset fashion-mnist", "--out")]
    [InlineData("train --arch", "--arch")]
    [InlineData("train --arch resnet-9000 --dataset fashion-mnist --out m.ckpt", "--arch")]
    [InlineData("train --arch vgg-tiny --dataset imagenet --out m.ckpt", "--dataset")]
    [InlineData("train --arch vgg-tiny --dataset fashion-mnist --out m.ckpt --epochs many", "--epochs")]
    [InlineData("train --arch vgg-tiny --dataset fashion-mnist --out m.ckpt --epochs 0", "--epochs")]
    [InlineData("train --arch vgg-tiny --dataset fashion-mnist --out m.ckpt --seed -3", "--seed")]
    [InlineData("train --arch vgg-tiny --dataset fashion-mnist --out m.ckpt --colour blue", "--colour")]
    [InlineData("train --arch vgg-tiny --arch vgg-small --dataset fashion-mnist --out m.ckpt", "--arch")]
    [InlineData("train --arch vgg-tiny --dataset fashion-mnist --out m.ckpt --json=yes", "--json")]
    [InlineData("train vgg-tiny", "vgg-tiny")]
    [InlineData("bench train --arch resnet-9000 --dataset synthetic", "--arch")]
    [InlineData("bench train --arch lenet-5 --dataset synthetic --steps 0", "--steps")]
    [InlineData("bench train --arch lenet-5 --dataset synthetic --batch 1", "--batch")]
    [InlineData("eval --model /nonexistent/model.ckpt --dataset fashion-mnist", "--model")]
    [InlineData("eval --dataset fashion-mnist", "--model")]
    [InlineData("eval --model /nonexistent/model.ckpt --dataset fashion-mnist --split train", "--split")]
    [InlineData("eval --model /nonexistent/model.ckpt --dataset fashion-mnist --limit 12x", "--limit")]
    [InlineData("datasets --verbose", "--verbose")]
    public void BadArgumentsExitNonZeroWithOneLineNamingTheArgument(string commandLine, string named)
    {
        var args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        var (code, output, error) = Run(args);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(named, lines[0]);
        Assert.StartsWith("error: ", lines[0]);
    }

    /// <summary>
    /// The parser's words and its typo suggestion are read in one language whatever the user's UI culture
    /// (System.CommandLine ships German, Japanese, Russian... resources), so the error line keeps its shape.
    /// </summary>
    [Theory]
    [InlineData("en-US")]
    [InlineData("de-DE")]
    [InlineData("ja-JP")]
    [InlineData("ru-RU")]
    public void AMistypedOptionGetsTheParsersSuggestionInAnyUiCulture(string culture)
    {
        var before = CultureInfo.CurrentUICulture;
        CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(culture);
        try
        {
            var (code, output, error) = Run("datasets", "--jsno");

            Assert.Equal(CliApp.BadArguments, code);
            Assert.Equal("", output);
            Assert.Equal("error: --jsno: Unrecognized command or argument '--jsno'. Did you mean '--json'?", error.Trim());
            Assert.Equal(culture, CultureInfo.CurrentUICulture.Name); // the caller's culture is left as it was
        }
        finally
        {
            CultureInfo.CurrentUICulture = before;
        }
    }

    [Theory]
    [InlineData("trian", "'train' or 'thin'")] // both are two edits away
    [InlineData("bench swep", "'sweep'")]
    public void AMistypedCommandGetsTheParsersSuggestion(string commandLine, string suggestion)
    {
        var (code, _, error) = Run(commandLine.Split(' '));

        Assert.Equal(CliApp.BadArguments, code);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.EndsWith($"Did you mean {suggestion}?", line.Trim(), StringComparison.Ordinal);
    }

    /// <summary>
    /// A number the parser reads is checked once, by the job's request (<c>Validate</c>), whose words reach the user with
    /// the option named; the parser only checks that it is a number.
    /// </summary>
    [Theory]
    [InlineData("train --arch vgg-tiny --dataset synthetic --out m.ckpt --epochs 0", "error: --epochs: Epochs must be between 1 and 1000 (got 0).")]
    [InlineData("train --arch vgg-tiny --dataset synthetic --out m.ckpt --epochs 1001", "error: --epochs: Epochs must be between 1 and 1000 (got 1001).")]
    [InlineData("train --arch vgg-tiny --dataset synthetic --out m.ckpt --seed -3", "error: --seed: The seed must be zero or positive (got -3).")]
    [InlineData("train --arch vgg-tiny --dataset synthetic --out m.ckpt --limit 1", "error: --limit: Training images must be at least 2, or all (got 1).")]
    [InlineData("eval --model lenet.ckpt --dataset synthetic --limit 0", "error: --limit: Evaluate at least one image (got 0).")]
    public void ANumberOutOfRangeGetsTheRequestsOwnMessage(string commandLine, string line)
    {
        using var folder = new CliFolder("clab-cli-range-");
        var args = commandLine.Replace("m.ckpt", folder.PathOf("m.ckpt"), StringComparison.Ordinal)
            .Replace("lenet.ckpt", folder.WriteLenetCheckpoint(), StringComparison.Ordinal).Split(' ');

        var (code, output, error) = Run(args);

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        Assert.Equal(line, error.Trim());
    }

    [Fact]
    public void HelpListsEveryCommandAndSucceeds()
    {
        var (code, output, _) = Run("help");

        Assert.Equal(CliApp.Success, code);
        // System.CommandLine's help of the root and of every command, in turn.
        foreach (var command in CliApp.Commands()) Assert.Contains($" {command.Name} [options]", output);
        Assert.Contains(" bench sweep [options]", output); // after the executable's name (the test host's, in-process)
        Assert.Contains("--arch <NAME> (REQUIRED)", output);
        Assert.Contains("--config <FILE>", output);
    }

    /// <summary>The command list is the one source: each command is reached by its group's word and its own, and a bare group names its commands.</summary>
    [Fact]
    public void EveryCommandIsReachedByItsPathAndABareGroupListsItsCommands()
    {
        foreach (var command in CliApp.Commands())
        {
            var path = CliApp.CommandPath(command);
            var (code, output, error) = Run([.. path, "--help"]);

            Assert.True(code == CliApp.Success, error);
            Assert.Contains($" {string.Join(' ', path)} [options]", output);
        }

        foreach (var group in CliApp.Commands().Where(c => c.Group is not null).GroupBy(c => c.Group!))
        {
            var (code, _, error) = Run(group.Key.Name);

            Assert.Equal(CliApp.BadArguments, code);
            var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"error: {group.Key.Name}: ", line, StringComparison.Ordinal);
            Assert.All(group, command => Assert.Contains($"'{group.Key.Name} {command.Name}'", line));
        }
        Assert.Equal(["calibrate", "onnx", "plan", "sweep", "thin", "train"], CliApp.Commands().Where(c => c.Group == CommandGroup.Bench).Select(c => c.Name).Order());
        Assert.Equal(["allocate", "evaluate"], CliApp.Commands().Where(c => c.Group == CommandGroup.Plan).Select(c => c.Name).Order());
        Assert.Equal(["compare", "sensitivity"], CliApp.Commands().Where(c => c.Group == CommandGroup.Quant).Select(c => c.Name).Order());
        Assert.Equal(["apply", "export"], CliApp.Commands().Where(c => c.Group == CommandGroup.Recipe).Select(c => c.Name).Order());
        Assert.Equal(["dialects", "onnx", "state-dict"], CliApp.Commands().Where(c => c.Group == CommandGroup.Export).Select(c => c.Name).Order());
        Assert.Equal(["calibrate", "datasets", "eval", "finetune", "report", "sweep", "thin", "train"], CliApp.Commands().Where(c => c.Group is null).Select(c => c.Name).Order());
    }

    [Fact]
    public void DatasetsListsFashionMnistWithItsCounts()
    {
        var (code, output, _) = Run("datasets", "--json");

        Assert.Equal(CliApp.Success, code);
        var fashion = LastJsonLine(output).GetProperty("datasets").EnumerateArray()
            .Single(d => d.GetProperty("name").GetString() == "fashion-mnist");
        Assert.Equal(60000, fashion.GetProperty("train").GetInt32());
        Assert.Equal(10000, fashion.GetProperty("test").GetInt32());
        Assert.False(fashion.GetProperty("synthetic").GetBoolean());
        Assert.Equal(Path.GetFullPath(TestData.FashionMnistFolder), fashion.GetProperty("path").GetString());
    }

    [Fact]
    public void TrainThenEvalRoundTrip()
    {
        var model = Path.Combine(_folder, "sub", "lenet.ckpt");

        var train = Run("train", "--arch", "lenet-300-100", "--dataset", "fashion-mnist", "--limit", "500", "--epochs", "1",
            "--seed", "4", "--out", model, "--json");

        Assert.True(train.Code == CliApp.Success, train.Err);
        var trained = LastJsonLine(train.Out);
        Assert.Equal("lenet-300-100", trained.GetProperty("arch").GetString());
        Assert.Equal(model, trained.GetProperty("out").GetString());
        Assert.True(File.Exists(model));
        var top1 = trained.GetProperty("top1").GetDouble();
        Assert.InRange(top1, 0.3, 1.0); // 500 images, one epoch: well above chance (0.1)
        Assert.True(trained.GetProperty("seconds").GetDouble() > 0);
        Assert.Contains("epoch 1/1", train.Err); // progress went to stderr
        Assert.Contains($"; convolutions: {TorchRuntime.ConvolutionInstructionSet}", train.Err.Split('\n')[0]); // in the header line

        var eval = Run("eval", "--model", model, "--dataset", "fashion-mnist", "--json");

        Assert.True(eval.Code == CliApp.Success, eval.Err);
        var measured = LastJsonLine(eval.Out);
        Assert.Equal(10000, measured.GetProperty("samples").GetInt32());
        Assert.Equal(top1, measured.GetProperty("top1").GetDouble()); // train reports top-1 on the same full test split
        Assert.InRange(measured.GetProperty("top5").GetDouble(), top1, 1.0);
        Assert.True(measured.GetProperty("loss").GetDouble() > 0);

        var validation = Run("eval", "--model", model, "--dataset", "fashion-mnist", "--split", "val", "--limit", "300", "--json");
        Assert.Equal(CliApp.Success, validation.Code);
        Assert.Equal(300, LastJsonLine(validation.Out).GetProperty("samples").GetInt32());
    }

    [Fact]
    public void EvalSaysWhatItMeasuresOnStderr()
    {
        using var folder = new CliFolder("clab-cli-eval-");
        var model = folder.WriteLenetCheckpoint();

        var (code, output, error) = Run("eval", "--model", model, "--dataset", "fashion-mnist", "--split", "val", "--limit", "30", "--json");

        Assert.True(code == CliApp.Success, error);
        Assert.Equal(30, LastJsonLine(output).GetProperty("samples").GetInt32());
        Assert.StartsWith("evaluating lenet (lenet-300-100) on 30 validation images of fashion-mnist", error, StringComparison.Ordinal);
        Assert.EndsWith($"; idle OpenMP threads {TorchRuntime.WaitPolicy}; convolutions: {TorchRuntime.ConvolutionInstructionSet}", error.Split('\n')[0].TrimEnd());
    }

    [Fact]
    public void AnEvalLimitBeyondTheSplitIsABadLimit()
    {
        using var folder = new CliFolder("clab-cli-eval-limit-");
        var model = folder.WriteLenetCheckpoint();

        var (code, output, error) = Run("eval", "--model", model, "--dataset", "fashion-mnist", "--split", "val", "--limit", "5001");

        Assert.Equal(CliApp.BadArguments, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: --limit: ", line, StringComparison.Ordinal);
        Assert.Contains("5,000", line); // the validation hold-out's size
    }

    [Fact]
    public void CorruptModelFileIsOneLineNamingTheFile()
    {
        var path = Path.Combine(_folder, "broken.ckpt");
        File.WriteAllText(path, "CLABCKPT but then nonsense");

        var (code, output, error) = Run("eval", "--model", path, "--dataset", "fashion-mnist", "--json");

        Assert.Equal(CliApp.Failure, code);
        Assert.Equal("", output);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(path, error);
    }

    [Fact]
    public void BenchTrainTimesBothPathsAndReportsTheirRatio()
    {
        var (code, output, error) = Run("bench", "train", "--arch", "lenet-5", "--dataset", "synthetic", "--steps", "3", "--batch", "32", "--json");

        Assert.True(code == CliApp.Success, error);
        var json = LastJsonLine(output);
        Assert.Equal(("lenet-5", 32, 3), (json.GetProperty("architecture").GetString(), json.GetProperty("batch_size").GetInt32(), json.GetProperty("steps").GetInt32()));
        var module = json.GetProperty("module_ms_per_step").GetDouble();
        var engine = json.GetProperty("engine_ms_per_step").GetDouble();
        Assert.True(module > 0 && engine > 0);
        // The JSON rounds each number (ms to 3 decimals, ratio to 4); compare within that rounding, not by
        // rounding both sides to fixed decimals, which fails whenever a value sits on a rounding boundary.
        Assert.Equal(module / engine, json.GetProperty("speedup").GetDouble(), tolerance: 1e-3 * module / engine);
        Assert.Equal(32 * 1000 / engine, json.GetProperty("images_per_second").GetDouble(), tolerance: 0.1 + (1e-3 * 32 * 1000 / engine));
        Assert.Equal(TorchRuntime.WaitPolicy, json.GetProperty("omp_wait").GetString());
        Assert.Equal(TorchRuntime.ConvolutionInstructionSet, json.GetProperty("onednn_isa").GetString());
        Assert.Contains($"convolutions: {TorchRuntime.ConvolutionInstructionSet}", error);
    }
}
