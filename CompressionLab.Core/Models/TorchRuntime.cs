using System.Globalization;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// Process-wide TorchSharp settings. Call <see cref="PrepareEnvironment"/> (or <see cref="Configure"/>) first
/// thing in a process, before any other TorchSharp call: libtorch's OpenMP runtime (libgomp) reads its
/// environment once, when it is loaded.
/// </summary>
public static class TorchRuntime
{
    /// <summary>Other processes' CPU use (in cores, measured over a moment) below which idle OpenMP threads may spin.</summary>
    public const double IdleMachineBusyCores = 0.3;

    /// <summary>How idle OpenMP threads wait in this process, as decided by <see cref="PrepareEnvironment"/>.</summary>
    public static string WaitPolicy { get; private set; } = "not decided yet";

    private static bool _prepared;

    /// <summary>
    /// Decides how libtorch's idle OpenMP threads wait, unless the user set <c>OMP_WAIT_POLICY</c>:
    /// <list type="bullet">
    /// <item>By default they sleep at once (<c>OMP_WAIT_POLICY=PASSIVE</c>). Measured here with 2 threads while
    /// other processes kept both cores busy: spinning threads made a LeNet-300-100 epoch about 20× slower,
    /// because every barrier waits for a thread the OS has descheduled.</item>
    /// <item>With <paramref name="spinIfMachineIdle"/> (the CLI's compute commands) and a machine whose other
    /// processes use less than <see cref="IdleMachineBusyCores"/> of a core over a quarter second, libgomp's
    /// default applies instead: spin briefly, then sleep. On an idle machine that trains vgg-small about 15 %
    /// faster (docs/models.md), since a training step is hundreds of short parallel regions.</item>
    /// </list>
    /// Needs no TorchSharp call, so a program can do it before anything else.
    /// </summary>
    public static void PrepareEnvironment(bool spinIfMachineIdle = false)
    {
        _prepared = true;
        if (!OperatingSystem.IsLinux())
        {
            WaitPolicy = "the OpenMP runtime's default";
            return;
        }
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is { } chosen)
        {
            WaitPolicy = $"OMP_WAIT_POLICY={chosen} (set by the user)";
            return;
        }
        if (spinIfMachineIdle && BusyCores(TimeSpan.FromMilliseconds(250)) is { } busy && busy < IdleMachineBusyCores)
        {
            WaitPolicy = string.Create(CultureInfo.InvariantCulture, $"spin, then sleep (machine idle: {busy:0.00} cores busy)");
            return;
        }
        // Environment.SetEnvironmentVariable alone does not reach the native environment on Unix.
        _ = NativeMethods.setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
        WaitPolicy = "sleep at once (OMP_WAIT_POLICY=PASSIVE)";
    }

    /// <summary><see cref="PrepareEnvironment"/> (if not done yet), then sets the intra-op thread count (default: one per core).</summary>
    public static void Configure(int? threads = null)
    {
        if (!_prepared) PrepareEnvironment();
        var count = threads ?? Environment.ProcessorCount;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count, nameof(threads));
        if (get_num_threads() != count) set_num_threads(count);
    }

    /// <summary>
    /// Cores' worth of CPU time the whole machine used over <paramref name="window"/> (from <c>/proc/stat</c>);
    /// null when it cannot be read. Called before this process starts computing, so it measures the others.
    /// </summary>
    public static double? BusyCores(TimeSpan window)
    {
        if (ReadCpuTicks() is not { } before) return null;
        Thread.Sleep(window);
        if (ReadCpuTicks() is not { } after) return null;
        var total = after.Total - before.Total;
        if (total <= 0) return null;
        return (double)(total - (after.Idle - before.Idle)) / total * Environment.ProcessorCount;
    }

    /// <summary>The aggregate "cpu" line of /proc/stat: all ticks, and the idle + iowait ones.</summary>
    internal static (long Total, long Idle)? ReadCpuTicks(string path = "/proc/stat")
    {
        try
        {
            var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
            if (line is null) return null;
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            if (fields.Length < 5) return null;
            // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user/nice]
            var total = fields.Take(Math.Min(fields.Length, 8)).Sum();
            return (total, fields[3] + fields[4]);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return null;
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int setenv(string name, string value, int overwrite);
    }
}
