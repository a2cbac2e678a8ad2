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
/// matrix product with a channels-last output (<see cref="SingleChannelConv"/>), so every later layer runs channels-last.</item>
/// </list>
/// </summary>
/// <param name="ModuleMilliseconds">Mean wall time of one module-path step.</param>
/// <param name="EngineMilliseconds">Mean wall time of one engine-path step.</param>
/// <param name="WaitPolicy">How idle OpenMP threads waited (<see cref="TorchRuntime.WaitPolicy"/>).</param>
public sealed record TrainingBenchmarkResult(
    string Architecture,
    int BatchSize,
    int Steps,
    double ModuleMilliseconds,
    double EngineMilliseconds,
    int Threads,
    string WaitPolicy)
{
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
        module.load_state_dict(engine.state_dict());
        engine.CheckAccepts(images);
        engine.train();
        module.train();
        using var engineOptimizer = optim.AdamW(engine.parameters(), lr: 1e-3);
        using var moduleOptimizer = optim.AdamW(module.parameters(), lr: 1e-3);
        using var pixels = ImageTensors.Pixels(images);
        using var labels = ImageTensors.Labels(images);
        var batches = (int)(images.Count / batchSize);

        double engineTotal = 0, moduleTotal = 0;
        for (var step = -2; step < steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var start = ((step + 2) % batches) * batchSize;
            using var scope = NewDisposeScope();
            var inputs = ImageTensors.Normalize(pixels.narrow(0, start, batchSize));
            var targets = labels.narrow(0, start, batchSize);
            // Alternate which path goes first, so neither always meets a warm (or cold) cache.
            var engineFirst = step % 2 == 0;
            var first = engineFirst ? Step(engine.call, engineOptimizer, inputs, targets) : Step(x => ModuleByModule(module, x), moduleOptimizer, inputs, targets);
            var second = engineFirst ? Step(x => ModuleByModule(module, x), moduleOptimizer, inputs, targets) : Step(engine.call, engineOptimizer, inputs, targets);
            if (step < 0) continue;
            engineTotal += engineFirst ? first : second;
            moduleTotal += engineFirst ? second : first;
        }
        return new TrainingBenchmarkResult(architecture, batchSize, steps, moduleTotal / steps, engineTotal / steps, get_num_threads(), TorchRuntime.WaitPolicy);
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
