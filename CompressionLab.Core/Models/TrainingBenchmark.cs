using System.Diagnostics;
using CompressionLab.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// Training steps (forward, cross-entropy, backward, AdamW step) of one architecture timed two ways in
/// one process, interleaved step by step so load drift weighs on both alike:
/// <list type="bullet">
/// <item><b>module</b>: every module called in turn, as PyTorch's <c>model(x)</c> does; the 1-channel first
/// conv runs libtorch's conv and the whole network stays NCHW;</item>
/// <item><b>engine</b>: <see cref="ClassifierNetwork"/>'s forward, whose 1-channel first conv is im2col + a
/// matrix product with a channels-last output (<see cref="SingleChannelConv"/>), so every later layer runs channels-last;</item>
/// <item><b>trainer</b>: the whole step <see cref="Trainer"/> takes with the architecture's settings — the batch picked
/// from a random permutation of the images (<see cref="Trainer.Batch"/>: gather, normalise, random flips), the engine's
/// forward, cross-entropy, backward, AdamW with weight decay, and the loss and correct count read back. This is what
/// benchmarks/pytorch_train_step.py does in PyTorch, so its median compares with that script's.</item>
/// </list>
/// </summary>
/// <param name="ModuleMilliseconds">Mean wall time of one module-path step.</param>
/// <param name="EngineMilliseconds">Mean wall time of one engine-path step.</param>
/// <param name="WaitPolicy">How idle OpenMP threads waited (<see cref="TorchRuntime.WaitPolicy"/>).</param>
/// <param name="TrainerMedianMilliseconds">Median wall time of one trainer-path step (the median resists steps another process interrupted).</param>
/// <param name="EngineMedianMilliseconds">Median wall time of one engine-path step.</param>
/// <param name="ModuleMedianMilliseconds">Median wall time of one module-path step.</param>
/// <param name="TrainerMedianCpuMilliseconds">
/// Median CPU time of the process over one trainer-path step (null without such a clock): on a machine whose other
/// processes keep the cores busy, the work a step costs without the time it waited for a core (with several threads,
/// their sum).
/// </param>
/// <param name="TrainerPartsMedianCpuMilliseconds">
/// Median CPU time of each part of the trainer-path step (<see cref="TrainingBenchmarkResult.TrainerParts"/>: batch
/// assembly, zero_grad, forward with the loss, backward, optimizer step, loss and correct count read back); null without
/// a CPU clock. Their sum is about <see cref="TrainerMedianCpuMilliseconds"/> (medians do not add exactly).
/// </param>
public sealed record TrainingBenchmarkResult(
    string Architecture,
    int BatchSize,
    int Steps,
    double ModuleMilliseconds,
    double EngineMilliseconds,
    int Threads,
    string WaitPolicy,
    double TrainerMedianMilliseconds = double.NaN,
    double EngineMedianMilliseconds = double.NaN,
    double ModuleMedianMilliseconds = double.NaN,
    double? TrainerMedianCpuMilliseconds = null,
    IReadOnlyDictionary<string, double>? TrainerPartsMedianCpuMilliseconds = null)
{
    /// <summary>
    /// The parts of the trainer's step whose CPU time <see cref="TrainerPartsMedianCpuMilliseconds"/> gives, in step order; the
    /// same names as benchmarks/pytorch_train_step.py --breakdown.
    /// </summary>
    public static IReadOnlyList<string> TrainerParts { get; } = ["batch", "zero_grad", "forward", "backward", "optimizer", "read_back"];

    /// <summary>Module-path time over engine-path time.</summary>
    public double Speedup => ModuleMilliseconds / EngineMilliseconds;

    public double ImagesPerSecond => BatchSize * 1000.0 / EngineMilliseconds;

    /// <summary>Training time of one epoch over <paramref name="images"/> at the engine's pace (no validation).</summary>
    public double EpochSeconds(int images) => Math.Ceiling((double)images / BatchSize) * EngineMilliseconds / 1000.0;
}

public static class TrainingBenchmark
{
    /// <param name="steps">Timed steps per path, after two untimed warm-up steps each.</param>
    /// <param name="threads">libtorch intra-op threads for the run (restored afterwards); null keeps the current setting.</param>
    public static TrainingBenchmarkResult Run(string architecture, LabeledImages images, int steps = 20, int batchSize = 128, int? threads = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 2);
        if (images.Count < batchSize) throw new ArgumentException($"{images.Name} has {images.Count} images; a batch of {batchSize} needs at least that many.");
        var previousThreads = get_num_threads();
        if (threads is { } count)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count, nameof(threads));
            set_num_threads(count);
        }
        try
        {
            return RunTimed(architecture, images, steps, batchSize, cancellationToken);
        }
        finally
        {
            // Only when changed: setting libtorch's thread count while other threads compute (parallel tests, a job)
            // is not safe, so a run that keeps the setting leaves it alone.
            if (get_num_threads() != previousThreads) set_num_threads(previousThreads);
        }
    }

    private static TrainingBenchmarkResult RunTimed(string architecture, LabeledImages images, int steps, int batchSize, CancellationToken cancellationToken)
    {
        // Two copies of the same initial weights, so both paths do the same arithmetic on the same numbers
        // (copied, not re-seeded: another thread may draw from the global generator in between).
        manual_seed(1);
        using var engine = ModelZoo.Create(architecture, images.ClassCount, images.Height, images.Width);
        using var module = ModelZoo.Create(architecture, images.ClassCount, images.Height, images.Width);
        using var trainer = ModelZoo.Create(architecture, images.ClassCount, images.Height, images.Width);
        module.load_state_dict(engine.state_dict());
        trainer.load_state_dict(engine.state_dict());
        engine.CheckAccepts(images);
        engine.train();
        module.train();
        trainer.train();
        var settings = TrainingSettings.ForArchitecture(architecture);
        using var engineOptimizer = optim.AdamW(engine.parameters(), lr: 1e-3);
        using var moduleOptimizer = optim.AdamW(module.parameters(), lr: 1e-3);
        using var trainerOptimizer = optim.AdamW(trainer.parameters(), lr: settings.MaxLearningRate, weight_decay: settings.WeightDecay);
        using var pixels = ImageTensors.Pixels(images);
        using var labels = ImageTensors.Labels(images);
        using var generator = new Generator(1);
        using var order = randperm(images.Count, generator: generator);
        var batches = (int)(images.Count / batchSize);

        var times = new[] { new List<double>(), new List<double>(), new List<double>() }; // engine, module, trainer
        var trainerCpu = new List<double>();
        var parts = TrainingBenchmarkResult.TrainerParts.Select(_ => new List<double>()).ToArray();
        var marks = new double[parts.Length + 1];
        for (var step = -2; step < steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var start = ((step + 2) % batches) * batchSize;
            using var scope = NewDisposeScope();
            var inputs = ImageTensors.Normalize(pixels.narrow(0, start, batchSize));
            var targets = labels.narrow(0, start, batchSize);
            // Rotate which path goes first, so none always meets a warm (or cold) cache.
            for (var k = 0; k < 3; k++)
            {
                var path = (k + step + 3) % 3;
                var cpuBefore = path == 2 ? Pruning.ProcessCpuClock.Seconds() : null;
                var milliseconds = path switch
                {
                    0 => Step(engine.call, engineOptimizer, inputs, targets),
                    1 => Step(x => ModuleByModule(module, x), moduleOptimizer, inputs, targets),
                    _ => TrainerStep(trainer, trainerOptimizer, pixels, labels, order.narrow(0, start, batchSize), settings.HorizontalFlip, generator, marks),
                };
                if (step < 0) continue;
                times[path].Add(milliseconds);
                if (cpuBefore is { } c0 && Pruning.ProcessCpuClock.Seconds() is { } c1)
                {
                    trainerCpu.Add((c1 - c0) * 1000);
                    for (var p = 0; p < parts.Length; p++) parts[p].Add((marks[p + 1] - marks[p]) * 1000);
                }
            }
        }
        return new TrainingBenchmarkResult(architecture, batchSize, steps, times[1].Average(), times[0].Average(), get_num_threads(), TorchRuntime.WaitPolicy,
            Median(times[2]), Median(times[0]), Median(times[1]), trainerCpu.Count == steps ? Median(trainerCpu) : null,
            trainerCpu.Count == steps && marks.All(double.IsFinite)
                ? TrainingBenchmarkResult.TrainerParts.Select((name, p) => (name, Median(parts[p]))).ToDictionary(x => x.name, x => x.Item2)
                : null);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>One step as <see cref="Trainer"/> takes it (batch assembly and flips included; no schedule or constraint, which cost nothing here).</summary>
    /// <param name="marks">Filled with the process's CPU clock (seconds) before each part and after the last (NaN without the clock).</param>
    private static double TrainerStep(ClassifierNetwork model, optim.Optimizer optimizer, Tensor pixels, Tensor labels, Tensor indices, bool flip, Generator generator, double[] marks)
    {
        // libtorch's CPU ops are synchronous, so the clock read between two calls splits the step's work exactly.
        static double Cpu() => Pruning.ProcessCpuClock.Seconds() ?? double.NaN;
        var clock = Stopwatch.StartNew();
        marks[0] = Cpu();
        using var scope = NewDisposeScope();
        var (inputs, targets, _) = Trainer.Batch(pixels, labels, indices, flip, generator);
        marks[1] = Cpu();
        optimizer.zero_grad();
        marks[2] = Cpu();
        var logits = model.call(inputs);
        var loss = nn.functional.cross_entropy(logits, targets);
        marks[3] = Cpu();
        loss.backward();
        marks[4] = Cpu();
        optimizer.step();
        marks[5] = Cpu();
        _ = loss.item<float>();
        _ = logits.argmax(1).eq(targets).sum().item<long>();
        marks[6] = Cpu();
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>PyTorch's <c>model(x)</c>: each module's own forward, in order.</summary>
    internal static Tensor ModuleByModule(ClassifierNetwork network, Tensor input)
    {
        var x = input;
        foreach (var block in network.Blocks)
            foreach (var (_, layer) in block.Modules)
                x = layer.call(x);
        return x;
    }

    private static double Step(Func<Tensor, Tensor> forward, optim.Optimizer optimizer, Tensor inputs, Tensor targets)
    {
        var clock = Stopwatch.StartNew();
        optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(forward(inputs), targets);
        loss.backward();
        optimizer.step();
        _ = loss.item<float>(); // as the trainer does after every step
        return clock.Elapsed.TotalMilliseconds;
    }
}
