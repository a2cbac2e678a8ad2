using System.Diagnostics;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>One network of a thinning benchmark: its MACs and its median time per forward pass.</summary>
/// <param name="MedianSeconds">Median over the repeats of one batch's forward pass (each repeat averages several passes).</param>
/// <param name="MaxDifference">Largest |logit difference| from the dense model with the same filter masks applied (0 for the dense model itself).</param>
/// <param name="MedianCpuSeconds">
/// Median over the same repeats of the process's CPU time per pass (all its threads; null where the platform gives no
/// such clock). On a shared machine a pass that the scheduler interrupts counts the wait in wall time but not here, so
/// this is the compute a pass costs; with several threads it is their sum, not the wall time they take.
/// </param>
/// <param name="MedianPageFaultsPerPass">
/// Median over the same repeats of the process's minor page faults per pass (null off Linux). A pass whose activations
/// reuse memory freed by the previous one faults almost never; one that takes fresh memory faults once per 4 KB page
/// it writes, which in a VM costs about as much as the arithmetic of stage 1 (README, "Where the time goes").
/// </param>
public sealed record ThinningBenchmarkVariant(string Name, long Macs, long Parameters, double MedianSeconds, double MaxDifference, IReadOnlyList<int> Widths,
    double? MedianCpuSeconds = null, double? MedianPageFaultsPerPass = null);

/// <summary>A thinning benchmark: the dense model and its thinned versions timed interleaved in one process.</summary>
public sealed record ThinningBenchmarkResult(
    string Architecture,
    int BatchSize,
    int Threads,
    int Repeats,
    int PassesPerRepeat,
    ThinningBenchmarkVariant Dense,
    IReadOnlyList<ThinningBenchmarkVariant> Thinned)
{
    /// <summary>Dense time over a thin variant's: how much faster it runs.</summary>
    public static double Speedup(ThinningBenchmarkVariant dense, ThinningBenchmarkVariant thin) => dense.MedianSeconds / thin.MedianSeconds;

    /// <summary>Dense MACs over a thin variant's: the speed-up its arithmetic allows.</summary>
    public static double MacRatio(ThinningBenchmarkVariant dense, ThinningBenchmarkVariant thin) => (double)dense.Macs / thin.Macs;

    /// <summary>How much of the MAC ratio the measured speed-up reaches (the target: at least 0.8).</summary>
    public static double FractionOfMacRatio(ThinningBenchmarkVariant dense, ThinningBenchmarkVariant thin) => Speedup(dense, thin) / MacRatio(dense, thin);

    /// <summary>Dense CPU time over a thin variant's (null without a CPU clock): the compute saved, free of other processes' interruptions.</summary>
    public static double? CpuSpeedup(ThinningBenchmarkVariant dense, ThinningBenchmarkVariant thin) =>
        dense.MedianCpuSeconds is { } d && thin.MedianCpuSeconds is { } t && t > 0 ? d / t : null;

    /// <summary><see cref="CpuSpeedup"/> over the MAC ratio.</summary>
    public static double? CpuFractionOfMacRatio(ThinningBenchmarkVariant dense, ThinningBenchmarkVariant thin) => CpuSpeedup(dense, thin) / MacRatio(dense, thin);
}

/// <summary>
/// Inference time of a dense model against thinned versions of it (<c>bench thin</c>). Every network runs the product's
/// inference path (<see cref="Evaluator"/>'s: BatchNorm folded, channels-last) on the same batch of inputs. The networks
/// are timed interleaved — each repeat times every network once, the order rotating — and each network's time is the
/// median over the repeats, so load that changes during the run on a shared machine weighs on all alike.
/// </summary>
public static class ThinningBenchmark
{
    /// <param name="thinned">Named thin networks of <paramref name="dense"/> (their <see cref="ThinnedNetwork.Masks"/> are checked against the dense model's outputs).</param>
    /// <param name="threads">libtorch intra-op threads for the run (restored afterwards); null keeps the current setting.</param>
    /// <param name="targetSeconds">About how long one repeat of the dense model takes: passes per repeat are chosen from a first timing.</param>
    public static ThinningBenchmarkResult Run(
        ClassifierNetwork dense,
        IReadOnlyList<(string Name, ThinnedNetwork Network)> thinned,
        int batchSize = 64,
        int? threads = null,
        int repeats = 21,
        double targetSeconds = 0.2,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dense);
        ArgumentNullException.ThrowIfNull(thinned);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repeats);
        var previousThreads = get_num_threads();
        if (threads is { } count)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count, nameof(threads));
            set_num_threads(count);
        }
        try
        {
            return RunTimed(dense, thinned, batchSize, repeats, targetSeconds, cancellationToken);
        }
        finally
        {
            // Only when changed: setting libtorch's thread count while other threads compute is not safe.
            if (get_num_threads() != previousThreads) set_num_threads(previousThreads);
        }
    }

    private static ThinningBenchmarkResult RunTimed(ClassifierNetwork dense, IReadOnlyList<(string Name, ThinnedNetwork Network)> thinned, int batchSize, int repeats, double targetSeconds,
        CancellationToken cancellationToken)
    {
        var networks = new[] { dense }.Concat(thinned.Select(t => t.Network.Model)).ToArray();
        var modes = networks.Select(n => n.training).ToArray();
        foreach (var network in networks) network.eval();
        using var noGrad = no_grad();
        try
        {
            using var generator = new Generator(seed: 0);
            using var inputs = randn([batchSize, 1, dense.InputHeight, dense.InputWidth], generator: generator);
            var differences = thinned.Select(t => MaxDifference(dense, t.Network, inputs)).ToArray();

            var forwards = networks.Select(n => new FoldedForward(n)).ToArray();
            try
            {
                // Warm-up: kernel choice and allocator growth are charged to nobody.
                foreach (var forward in forwards) Pass(forward, inputs, 3);
                var first = Stopwatch.StartNew();
                Pass(forwards[0], inputs, 1);
                var passes = (int)Math.Clamp(Math.Ceiling(targetSeconds / Math.Max(first.Elapsed.TotalSeconds, 1e-6)), 1, 10_000);

                var seconds = networks.Select(_ => new List<double>()).ToArray();
                var cpuSeconds = networks.Select(_ => new List<double>()).ToArray();
                var faults = networks.Select(_ => new List<double>()).ToArray();
                for (var repeat = 0; repeat < repeats; repeat++)
                {
                    for (var k = 0; k < forwards.Length; k++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var i = (k + repeat) % forwards.Length; // who goes first rotates
                        var faultsBefore = ProcessCpuClock.MinorPageFaults();
                        var cpu = ProcessCpuClock.Seconds();
                        var clock = Stopwatch.StartNew();
                        Pass(forwards[i], inputs, passes);
                        seconds[i].Add(clock.Elapsed.TotalSeconds / passes);
                        if (cpu is { } start && ProcessCpuClock.Seconds() is { } end) cpuSeconds[i].Add((end - start) / passes);
                        if (faultsBefore is { } f0 && ProcessCpuClock.MinorPageFaults() is { } f1) faults[i].Add((double)(f1 - f0) / passes);
                    }
                }

                ThinningBenchmarkVariant Variant(string name, ClassifierNetwork network, int index, double difference)
                {
                    var size = NetworkSize.Dense(network.Graph);
                    return new ThinningBenchmarkVariant(name, size.MacsPerSample, size.Parameters, Median(seconds[index]), difference,
                        [.. network.Layers.Select(l => (int)l.OutputChannels)], cpuSeconds[index].Count == repeats ? Median(cpuSeconds[index]) : null,
                        faults[index].Count == repeats ? Median(faults[index]) : null);
                }
                return new ThinningBenchmarkResult(dense.Architecture, batchSize, get_num_threads(), repeats, passes,
                    Variant("dense", dense, 0, 0),
                    [.. thinned.Select((t, i) => Variant(t.Name, t.Network.Model, i + 1, differences[i]))]);
            }
            finally
            {
                foreach (var forward in forwards) forward.Dispose();
            }
        }
        finally
        {
            for (var i = 0; i < networks.Length; i++)
                if (modes[i]) networks[i].train();
        }
    }

    private static void Pass(FoldedForward forward, Tensor inputs, int passes)
    {
        for (var p = 0; p < passes; p++)
        {
            // As the evaluation does per batch: whatever a pass creates is freed when it ends, so the next pass reuses the memory.
            using var scope = NewDisposeScope();
            using var output = forward.ForwardRange(0, forward.BlockCount, inputs);
        }
    }

    /// <summary>Largest |logit difference| between the thin network and the dense one with the thin network's masks applied (modules, not folded).</summary>
    private static double MaxDifference(ClassifierNetwork dense, ThinnedNetwork thin, Tensor inputs)
    {
        using var scope = NewDisposeScope();
        var applied = new List<AppliedPruningMask>();
        Tensor masked;
        try
        {
            foreach (var mask in thin.Masks) applied.Add(mask.ApplyTo(dense));
            masked = dense.call(inputs);
        }
        finally
        {
            for (var i = applied.Count - 1; i >= 0; i--) applied[i].Dispose();
        }
        return masked.sub(thin.Model.call(inputs)).abs().max().item<float>();
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}

/// <summary>
/// The process's CPU time (all threads) with nanosecond resolution: <c>clock_gettime(CLOCK_PROCESS_CPUTIME_ID)</c> on
/// Linux. <see cref="Process.TotalProcessorTime"/> is not used: on Linux it counts in 10 ms ticks, too coarse for a repeat.
/// </summary>
internal static class ProcessCpuClock
{
    private const int ClockProcessCpuTimeId = 2;

    /// <summary>Seconds of CPU this process has used; null off Linux or when the clock fails.</summary>
    public static double? Seconds()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return NativeMethods.clock_gettime(ClockProcessCpuTimeId, out var time) == 0 ? time.Seconds + (time.Nanoseconds * 1e-9) : null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Minor page faults of the whole process so far (<c>getrusage</c>); null off Linux or when it fails.</summary>
    public static long? MinorPageFaults()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return NativeMethods.getrusage(0 /* RUSAGE_SELF */, out var usage) == 0 ? usage.MinorFaults : null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Linux x86-64/arm64 <c>struct rusage</c>: two timevals, then 14 longs (maxrss, ixrss, idrss, isrss, minflt, ...).</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct ResourceUsage
    {
        public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
        public long MaxResidentKb, SharedKb, UnsharedDataKb, UnsharedStackKb;
        public long MinorFaults, MajorFaults;
        public long Swaps, BlockInputs, BlockOutputs, MessagesSent, MessagesReceived, Signals, VoluntarySwitches, InvoluntarySwitches;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static class NativeMethods
    {
        [System.Runtime.InteropServices.DllImport("libc")]
        [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
        public static extern int clock_gettime(int clock, out TimeSpec time);

        [System.Runtime.InteropServices.DllImport("libc")]
        [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
        public static extern int getrusage(int who, out ResourceUsage usage);
    }
}
