using System.Globalization;
using CompressionLab.Core.Models;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>bench train --arch NAME --dataset NAME [--steps N] [--batch N] [--threads N] [--json]</c>: training steps of an
/// architecture timed the plain module-by-module way and the engine's way (channels-last from an im2col first conv),
/// interleaved in one process (see <see cref="TrainingBenchmark"/>).
/// </summary>
public sealed class BenchTrainCommand : ICliCommand
{
    public string Name => "bench train";
    public string Summary => "time training steps module-by-module (NCHW) vs the engine's channels-last path";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("arch", $"architecture: {string.Join(", ", ModelZoo.Architectures)}", Required: true, ValueName: "NAME"),
        new("dataset", "dataset name (see 'datasets')", Required: true, ValueName: "NAME"),
        new("steps", "timed steps per path (default 20)", ValueName: "N"),
        new("batch", "images per step (default: the architecture's training batch, 128)", ValueName: "N"),
        new("threads", "intra-op threads (default: one per core)", ValueName: "N"),
        new("json", "print one JSON object as the last line", IsFlag: true),
    ];

    public int Run(ParsedOptions options, CliContext context)
    {
        var arch = options.RequiredString("arch");
        if (!ModelZoo.Architectures.Contains(arch))
            throw new UsageException("--arch", $"unknown architecture '{arch}' (known: {string.Join(", ", ModelZoo.Architectures)})");
        var steps = options.Int("steps", 1, 10_000) ?? 20;
        var batch = options.Int("batch", 2, 4096) ?? TrainingSettings.ForArchitecture(arch).BatchSize;
        var threads = options.Int("threads", 1, 1024);
        var dataset = DatasetSource.Load(context, options.RequiredString("dataset"));
        var (train, _) = DatasetSource.SplitTrain(dataset);
        if (train.Count < batch) throw new UsageException("--batch", $"{batch} is more than the {train.Count} training images of {dataset.Name}");

        TorchRuntime.Configure();
        context.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{arch}: {steps} training steps of {batch} images per path, interleaved; idle OpenMP threads {TorchRuntime.WaitPolicy}"));
        var r = TrainingBenchmark.Run(arch, train, steps, batch, threads, context.CancellationToken);

        if (options.Flag("json"))
        {
            CliJson.WriteLine(context.Out, new Dictionary<string, object>
            {
                ["architecture"] = r.Architecture,
                ["batch_size"] = r.BatchSize,
                ["steps"] = r.Steps,
                ["module_ms_per_step"] = CliJson.Round(r.ModuleMilliseconds, 3),
                ["engine_ms_per_step"] = CliJson.Round(r.EngineMilliseconds, 3),
                ["speedup"] = CliJson.Round(r.Speedup, 4),
                ["images_per_second"] = CliJson.Round(r.ImagesPerSecond, 1),
                ["epoch_seconds"] = CliJson.Round(r.EpochSeconds(train.Count), 1),
                ["train_images"] = train.Count,
                ["threads"] = r.Threads,
                ["omp_wait"] = r.WaitPolicy,
            });
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Architecture}, batch {r.BatchSize}: module-by-module {r.ModuleMilliseconds:0.0} ms/step, engine {r.EngineMilliseconds:0.0} ms/step, speed-up {r.Speedup:0.00}×; {r.ImagesPerSecond:0} images/s, about {r.EpochSeconds(train.Count):0} s per epoch of {train.Count:N0} images ({r.Threads} threads)"));
        }
        return CliApp.Success;
    }
}
