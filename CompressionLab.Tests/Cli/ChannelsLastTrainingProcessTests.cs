using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using CompressionLab.Cli;
using CompressionLab.Core.Models;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// The training commands run in a process that promised channels-last convs only, where oneDNN may use AVX-512 on the
/// AMD processors whose AVX-512 NCHW convs are wrong (TorchRuntime.PrepareEnvironment). The test process itself keeps the
/// AVX2 cap, so this runs the CLI as a child process, the way a user does.
/// </summary>
public sealed class ChannelsLastTrainingProcessTests
{
    [Fact]
    public void BenchTrainRunsWithCheckedAvx512ConvolutionsWhereTheProcessorNeedsTheCheck()
    {
        var (code, output, error) = RunCli("bench", "train", "--arch", "vgg-tiny", "--dataset", "synthetic", "--steps", "2", "--batch", "16", "--threads", "1", "--json");

        Assert.True(code == CliApp.Success, error);
        var json = JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        var isa = json.GetProperty("onednn_isa").GetString()!;
        var check = json.GetProperty("channels_last_conv_check");
        var affected = OperatingSystem.IsLinux() && TorchRuntime.HasUnsafeAvx512Convolutions(File.ReadAllText("/proc/cpuinfo"));
        if (affected)
        {
            // Raised to AVX-512 for this process only, and the start-up check against float64 ran and passed.
            Assert.StartsWith($"DNNL_MAX_CPU_ISA={TorchRuntime.ChannelsLastOneDnnIsa} ", isa);
            Assert.InRange(check.GetDouble(), 0, TorchRuntime.ChannelsLastTolerance);
        }
        else
        {
            Assert.Equal(JsonValueKind.Null, check.ValueKind);
        }
        // The step's parts, named as benchmarks/pytorch_train_step.py --breakdown names them.
        var parts = json.GetProperty("trainer_parts_median_cpu_ms");
        Assert.Equal(TrainingBenchmarkResult.TrainerParts, parts.EnumerateObject().Select(p => p.Name));
        Assert.True(parts.GetProperty("backward").GetDouble() > 0);
    }

    [Theory]
    [InlineData("train --arch vgg-small --dataset synthetic --out m.ckpt", true)]
    [InlineData("bench train --arch lenet-5 --dataset synthetic", true)]
    [InlineData("eval --model m.ckpt --dataset synthetic", false)]
    [InlineData("sweep --model m.ckpt", false)]
    [InlineData("kd train --student-arch vgg-tiny", true)] // hint regressors' 1×1 convs too (HintObjective.HintLoss)
    [InlineData("kd compare --teacher t.ckpt --student s.ckpt --dataset synthetic", false)]
    [InlineData("train --help", false)]
    [InlineData("", false)]
    public void OnlyTheTrainingCommandsPromiseChannelsLastConvolutions(string commandLine, bool promise)
    {
        Assert.Equal(promise, CliApp.ConvolvesChannelsLastOnly(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void TheStartUpCheckAgreesWithFloat64InThisProcess()
    {
        // The test process keeps oneDNN's cap, whose convs are right: the check passes, and is not trivially zero.
        var error = TorchRuntime.CheckChannelsLastConvolutions();

        Assert.InRange(error, 1e-9, TorchRuntime.ChannelsLastTolerance);
    }

    internal static (int Code, string Output, string Error) RunCli(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliDll());
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment.Remove("DNNL_MAX_CPU_ISA"); // the process decides, as for a user who did not set it
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {start.FileName}.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    private static string CliDll()
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = typeof(ChannelsLastTrainingProcessTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        for (var dir = testOutput; dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "CompressionLab.sln"))) continue;
            var dll = Path.Combine(dir.FullName, "CompressionLab.Cli", "bin", configuration, testOutput.Name, "compressionlab.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"The CLI build '{dll}' is missing; build the solution in {configuration} first.", dll);
        }
        throw new DirectoryNotFoundException($"Found no CompressionLab.sln above {AppContext.BaseDirectory}.");
    }
}
