using System.CommandLine;
using System.Globalization;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>bench train --arch NAME --dataset NAME [--steps N] [--batch N] [--threads N] [--json]</c>: training steps of an
/// architecture timed the plain module-by-module way and the engine's way (channels-last from an im2col first conv),
/// interleaved in one process (see <see cref="TrainingBenchmark"/>).
/// </summary>
public sealed class BenchTrainCommand : CliCommand
{
    private readonly Option<string> _arch = TextOption("--arch", $"architecture: {string.Join(", ", ModelZoo.Architectures)}", "NAME", required: true);
    private readonly Option<string> _dataset = TextOption("--dataset", "dataset name (see 'datasets')", "NAME", required: true);
    private readonly Option<int?> _steps = RangedIntOption("--steps", "timed steps per path (default 20)", 1, 10_000);
    private readonly Option<int?> _batch = RangedIntOption("--batch", "images per step (default: the architecture's training batch, 128)", 2, 4096);
    private readonly Option<int?> _threads = RangedIntOption("--threads", "intra-op threads (default: one per core)", 1, 1024);
    private readonly Option<bool> _json = JsonOption();

    public BenchTrainCommand() : base("train", "time training steps module-by-module (NCHW) vs the engine's channels-last path")
    {
        _arch.AcceptOnlyFromAmong([.. ModelZoo.Architectures]);
        foreach (var option in new Option[] { _arch, _dataset, _steps, _batch, _threads, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Bench;

    public override bool ComputesWithTorch => true;

    public override bool ChannelsLastConvolutionsOnly => true;

    public override int Execute(ParseResult parse, CliContext context)
    {
        var arch = parse.GetRequiredValue(_arch);
        var steps = parse.GetValue(_steps) ?? 20;
        var batch = parse.GetValue(_batch) ?? TrainingSettings.ForArchitecture(arch).BatchSize;
        var dataset = DatasetSource.Load(context, parse.GetRequiredValue(_dataset));
        var train = TrainingJob.Split(dataset).Train;
        if (train.Count < batch) throw new UsageException("--batch", $"{batch} is more than the {train.Count} training images of {dataset.Name}");

        TorchRuntime.Configure();
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{arch}: {steps} training steps of {batch} images per path, interleaved; {RuntimeSettings}"));
        var r = TrainingBenchmark.Run(arch, train, steps, batch, parse.GetValue(_threads), context.CancellationToken);

        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new BenchTrainJson(r.Architecture, r.BatchSize, r.Steps, CliJson.Round(r.ModuleMilliseconds, 3),
                CliJson.Round(r.EngineMilliseconds, 3), CliJson.Round(r.Speedup, 4), CliJson.Round(r.ImagesPerSecond, 1),
                CliJson.Round(r.EpochSeconds(train.Count), 1), train.Count, r.Threads, r.WaitPolicy, TorchRuntime.ConvolutionInstructionSet, TorchRuntime.AllocatorSettings,
                CliJson.Round(r.TrainerMedianMilliseconds, 3), CliJson.Round(r.EngineMedianMilliseconds, 3), CliJson.Round(r.ModuleMedianMilliseconds, 3),
                r.TrainerMedianCpuMilliseconds is { } cpu ? CliJson.Round(cpu, 3) : null,
                r.TrainerPartsMedianCpuMilliseconds?.ToDictionary(p => p.Key, p => CliJson.Round(p.Value, 3)),
                TorchRuntime.ChannelsLastCheck));
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Architecture}, batch {r.BatchSize}: module-by-module {r.ModuleMilliseconds:0.0} ms/step, engine {r.EngineMilliseconds:0.0} ms/step, speed-up {r.Speedup:0.00}×; the trainer's whole step (median) {r.TrainerMedianMilliseconds:0.0} ms; {r.ImagesPerSecond:0} images/s, about {r.EpochSeconds(train.Count):0} s per epoch of {train.Count:N0} images ({r.Threads} threads)"));
        }
        return CliApp.Success;
    }
}

/// <param name="ModuleMsPerStep">Milliseconds per step, module by module.</param>
/// <param name="OnednnIsa">The instruction set oneDNN's convolutions were allowed (<see cref="TorchRuntime.ConvolutionInstructionSet"/>).</param>
/// <param name="TrainerMedianMsPerStep">Median milliseconds of the Trainer's whole step (batch assembly, flips, AdamW with weight decay): compare with benchmarks/pytorch_train_step.py.</param>
/// <param name="TrainerPartsMedianCpuMs">Median CPU ms of each part of the trainer's step (batch, zero_grad, forward, backward, optimizer, read_back), as the PyTorch script's --breakdown prints them.</param>
/// <param name="ChannelsLastConvCheck">Largest relative error of the start-up check of oneDNN's AVX-512 channels-last convs against float64 (null when it did not run: oneDNN capped at AVX2, or an unaffected processor).</param>
/// <param name="Allocator">What the process did to glibc's allocator settings (<see cref="TorchRuntime.AllocatorSettings"/>).</param>
internal sealed record BenchTrainJson(
    string Architecture, int BatchSize, int Steps, [property: System.Text.Json.Serialization.JsonPropertyName("module_ms_per_step")] double ModuleMsPerStep,
    [property: System.Text.Json.Serialization.JsonPropertyName("engine_ms_per_step")] double EngineMsPerStep, double Speedup, double ImagesPerSecond,
    double EpochSeconds, int TrainImages, int Threads, string OmpWait, string OnednnIsa, string Allocator,
    [property: System.Text.Json.Serialization.JsonPropertyName("trainer_median_ms_per_step")] double TrainerMedianMsPerStep,
    [property: System.Text.Json.Serialization.JsonPropertyName("engine_median_ms_per_step")] double EngineMedianMsPerStep,
    [property: System.Text.Json.Serialization.JsonPropertyName("module_median_ms_per_step")] double ModuleMedianMsPerStep,
    [property: System.Text.Json.Serialization.JsonPropertyName("trainer_median_cpu_ms_per_step")] double? TrainerMedianCpuMsPerStep,
    [property: System.Text.Json.Serialization.JsonPropertyName("trainer_parts_median_cpu_ms")] IReadOnlyDictionary<string, double>? TrainerPartsMedianCpuMs,
    [property: System.Text.Json.Serialization.JsonPropertyName("channels_last_conv_check")] double? ChannelsLastConvCheck);
