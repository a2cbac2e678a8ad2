using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// Process-wide TorchSharp settings. Call <see cref="Configure"/> first thing in a process, before any
/// other TorchSharp call: libtorch's OpenMP runtime reads its environment once, when it is loaded.
/// </summary>
public static class TorchRuntime
{
    /// <summary>
    /// Makes idle OpenMP threads sleep instead of spinning (<c>OMP_WAIT_POLICY=PASSIVE</c>, unless the user
    /// set it). Needs no TorchSharp call, so a program can do it before anything else. Measured here with
    /// 2 threads while other processes kept both cores busy: spinning threads made a LeNet-300-100 epoch
    /// about 20× slower.
    /// </summary>
    public static void PrepareEnvironment()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null) return;
        // Environment.SetEnvironmentVariable alone does not reach the native environment on Unix.
        _ = NativeMethods.setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
    }

    /// <summary><see cref="PrepareEnvironment"/>, then sets the intra-op thread count (default: one per core).</summary>
    public static void Configure(int? threads = null)
    {
        PrepareEnvironment();
        var count = threads ?? Environment.ProcessorCount;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count, nameof(threads));
        if (get_num_threads() != count) set_num_threads(count);
    }

    private static class NativeMethods
    {
        [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int setenv(string name, string value, int overwrite);
    }
}
