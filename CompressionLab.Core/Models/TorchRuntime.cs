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
    /// <param name="channelsLastConvolutionsOnly">
    /// The process runs its convolutions only through <see cref="ClassifierNetwork"/>'s forward, which then feeds every conv
    /// channels-last (<see cref="ChannelsLastConvolutionsOnly"/>): on a processor whose oneDNN AVX-512 convs are wrong for
    /// NCHW inputs, oneDNN may then use AVX-512 (see <see cref="CapConvolutionInstructionSet"/>). For the CLI's training
    /// commands; a process that runs anything else (the dashboard, the tests) leaves it off.
    /// </param>
    public static void PrepareEnvironment(bool spinIfMachineIdle = false, bool channelsLastConvolutionsOnly = false)
    {
        _prepared = true;
        ChannelsLastConvolutionsOnly = channelsLastConvolutionsOnly;
        CapConvolutionInstructionSet();
        KeepFreedMemory();
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

    /// <summary>What <see cref="PrepareEnvironment"/> did to the C allocator's settings in this process.</summary>
    public static string AllocatorSettings { get; private set; } = "not decided yet";

    /// <summary>Environment variable that turns the allocator settings of <see cref="KeepFreedMemory"/> off (<c>0</c>, <c>off</c> or <c>false</c>).</summary>
    public const string AllocatorTuningVariable = "COMPRESSIONLAB_MALLOC_TUNING";

    /// <summary>Blocks up to this size come from the heap, whose freed memory is reused (glibc's largest allowed value on 64-bit).</summary>
    public const long MmapThresholdBytes = 32L << 20;

    /// <summary>Free memory at the top of the heap that glibc keeps instead of handing back to the kernel.</summary>
    public const long TrimThresholdBytes = 256L << 20;

    /// <summary>
    /// Extra room glibc asks for whenever a heap grows, and keeps when it shrinks: a whole secondary heap (64 MB, used by
    /// threads other than the first) is unmapped as soon as it is entirely free unless this pad is as large as a heap.
    /// The room is address space, not memory, until it is written.
    /// </summary>
    public const long TopPadBytes = 64L << 20;

    /// <summary>
    /// On Linux with glibc, makes freed tensor memory be reused rather than returned to the kernel and faulted in again:
    /// <list type="bullet">
    /// <item>glibc serves a block above its mmap threshold (128 KB at first, raised by each freed mmapped block up to
    /// 32 MB) with its own <c>mmap</c> and gives it back with <c>munmap</c> when freed; and it shrinks the heap
    /// whenever more than its trim threshold (twice the mmap threshold once that moved) is free at the top. Either
    /// way the next pass's activations (4.8 MB for vgg-small's stage 1 at batch 64, 19 MB at 256) land on fresh pages,
    /// and every 4 KB page costs a fault: about 15 µs in this VM, half of a dense inference pass when memory was not
    /// reused (README, "Where the time goes").</item>
    /// <item>Threads other than the first allocate from 64 MB secondary heaps, which glibc unmaps whole as soon as one
    /// is entirely free, whatever the trim threshold, unless its top pad is as large as a heap (<see cref="TopPadBytes"/>):
    /// without it a 31 MB block freed on a thread-pool thread was handed back in about one test run in two.</item>
    /// <item>Fixed thresholds (<see cref="MmapThresholdBytes"/>, <see cref="TrimThresholdBytes"/>) also switch off
    /// glibc's dynamic adjustment, so the behaviour does not depend on which blocks happened to be freed first. The
    /// cost is that up to <see cref="TrimThresholdBytes"/> of freed memory per arena stays mapped (resident) after a
    /// job's peak.</item>
    /// </list>
    /// Skipped when the user set glibc's own variables (<c>MALLOC_MMAP_THRESHOLD_</c>, <c>MALLOC_TRIM_THRESHOLD_</c>, <c>MALLOC_TOP_PAD_</c>,
    /// <c>GLIBC_TUNABLES</c>), or <see cref="AllocatorTuningVariable"/> to <c>0</c>/<c>off</c>/<c>false</c>, off Linux,
    /// and with another C library (no <c>mallopt</c>) or an allocator preloaded in glibc's place (its <c>mallopt</c>
    /// is then glibc's, harmless, and unused).
    /// </summary>
    private static void KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux())
        {
            AllocatorSettings = "the C library's default (not Linux)";
            return;
        }
        if (AllocatorTuningSkipped(Environment.GetEnvironmentVariable) is { } reason)
        {
            AllocatorSettings = reason;
            return;
        }
        try
        {
            _ = Marshal.PtrToStringAnsi(NativeMethods.gnu_get_libc_version()); // throws EntryPointNotFoundException unless glibc
            var mmap = NativeMethods.mallopt(NativeMethods.MmapThreshold, (int)MmapThresholdBytes);
            var trim = NativeMethods.mallopt(NativeMethods.TrimThreshold, (int)TrimThresholdBytes);
            var pad = NativeMethods.mallopt(NativeMethods.TopPad, (int)TopPadBytes);
            AllocatorSettings = mmap == 1 && trim == 1 && pad == 1
                ? string.Create(CultureInfo.InvariantCulture,
                    $"glibc keeps freed memory (mmap threshold {MmapThresholdBytes >> 20} MB, trim threshold {TrimThresholdBytes >> 20} MB, top pad {TopPadBytes >> 20} MB)")
                : $"glibc's default (mallopt refused: mmap {mmap}, trim {trim}, pad {pad})";
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            AllocatorSettings = "the C library's default (not glibc)";
        }
    }

    /// <summary>Why <see cref="KeepFreedMemory"/> leaves glibc's settings alone given these environment variables; null when it applies them.</summary>
    internal static string? AllocatorTuningSkipped(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (environment(AllocatorTuningVariable) is { } optOut
            && (optOut.Trim() == "0" || optOut.Trim().Equals("off", StringComparison.OrdinalIgnoreCase) || optOut.Trim().Equals("false", StringComparison.OrdinalIgnoreCase)))
            return $"glibc's default ({AllocatorTuningVariable}={optOut})";
        foreach (var name in new[] { "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES" })
            if (environment(name) is not null) return $"left to the user ({name} is set)";
        return null;
    }

    /// <summary>The instruction set oneDNN's convolutions may use in this process, as decided by <see cref="PrepareEnvironment"/>.</summary>
    public static string ConvolutionInstructionSet { get; private set; } = "not decided yet";

    /// <summary>What <see cref="CapConvolutionInstructionSet"/> limits oneDNN to on an affected processor.</summary>
    public const string SafeOneDnnIsa = "AVX2_VNNI_2";

    /// <summary>
    /// What <see cref="CapConvolutionInstructionSet"/> limits oneDNN to on an affected processor in a process whose convs are
    /// all channels-last (<see cref="ChannelsLastConvolutionsOnly"/>): AVX-512 without the VNNI/BF16/AMX extensions, which
    /// fp32 convs do not use.
    /// </summary>
    public const string ChannelsLastOneDnnIsa = "AVX512_CORE";

    /// <summary>
    /// Whether this process promised (<see cref="PrepareEnvironment"/>) to run convs only channels-last: then
    /// <see cref="ModelBlock.Forward"/> turns an NCHW input of a conv with several input channels channels-last first.
    /// </summary>
    public static bool ChannelsLastConvolutionsOnly { get; private set; }

    /// <summary>Whether oneDNN was left AVX-512 on a processor whose AVX-512 NCHW convs are wrong (so the start-up check must run).</summary>
    private static bool _avx512OnAffectedProcessor;

    /// <summary>
    /// On AMD processors with AVX-512 (seen on an AMD EPYC with avx512f/bw/vl/vnni/bf16/vp2intersect), libtorch 2.10's
    /// oneDNN AVX-512 convolution kernels give wrong results: vgg-small's forward pass differed from the same layers
    /// run one by one by 2e-3 and first-layer gradients came out NaN, while with any AVX2 cap
    /// (<c>DNNL_MAX_CPU_ISA</c>) both agree to 1e-5 (tests SingleChannelConvTests, TrainingBenchmarkTests). So on such a
    /// processor oneDNN is capped at <see cref="SafeOneDnnIsa"/> unless the user set <c>DNNL_MAX_CPU_ISA</c>; other
    /// processors keep oneDNN's own choice. oneDNN reads the variable once, at its first primitive, hence here.
    /// <para>
    /// What is wrong, measured on 2026-12-08 against float64 (docs/models.md, "Training step against PyTorch"): the
    /// NCHW path, whose activations oneDNN reorders to 16-channel blocks padded when the channel count is not a multiple
    /// of 16 (24→24 forward off by 37 %, 1→24 and 8→8 input gradients off by 39–71 %), while channels-last convs (no
    /// activation reorder) agreed to 1.3e-6 in forward, input and weight gradient for all 96 shapes tried (2–96 input
    /// channels, 1–96 outputs, 3×3 and 5×5, batch 1–128). So a process that runs only channels-last convs
    /// (<see cref="ChannelsLastConvolutionsOnly"/>) gets <see cref="ChannelsLastOneDnnIsa"/>, checked once at
    /// <see cref="Configure"/> (<see cref="CheckChannelsLastConvolutions"/>); AVX-512 makes a vgg-small training step
    /// about a third cheaper here, as PyTorch 1.13's own oneDNN does by default on this processor.
    /// </para>
    /// </summary>
    private static void CapConvolutionInstructionSet()
    {
        if (Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA") is { } chosen)
        {
            ConvolutionInstructionSet = $"DNNL_MAX_CPU_ISA={chosen} (set by the user)";
            return;
        }
        if (!OperatingSystem.IsLinux() || !HasUnsafeAvx512Convolutions(ReadCpuInfo()))
        {
            ConvolutionInstructionSet = "oneDNN's default";
            return;
        }
        var isa = ChannelsLastConvolutionsOnly ? ChannelsLastOneDnnIsa : SafeOneDnnIsa;
        _ = NativeMethods.setenv("DNNL_MAX_CPU_ISA", isa, 0);
        Environment.SetEnvironmentVariable("DNNL_MAX_CPU_ISA", isa);
        _avx512OnAffectedProcessor = ChannelsLastConvolutionsOnly;
        ConvolutionInstructionSet = ChannelsLastConvolutionsOnly
            ? $"DNNL_MAX_CPU_ISA={isa} (AMD processor with AVX-512, whose oneDNN AVX-512 NCHW convolutions are wrong; this process runs channels-last convolutions only)"
            : $"DNNL_MAX_CPU_ISA={isa} (AMD processor with AVX-512, whose oneDNN AVX-512 convolutions are wrong)";
    }

    /// <summary>Whether <c>/proc/cpuinfo</c> text describes an AMD processor with AVX-512 (the first processor's entry decides).</summary>
    internal static bool HasUnsafeAvx512Convolutions(string cpuInfo)
    {
        ArgumentNullException.ThrowIfNull(cpuInfo);
        string? vendor = null, flags = null;
        foreach (var line in cpuInfo.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0) continue;
            var key = line[..colon].Trim();
            if (key == "vendor_id") vendor ??= line[(colon + 1)..].Trim();
            else if (key == "flags") flags ??= line[(colon + 1)..];
            if (vendor is not null && flags is not null) break;
        }
        return vendor == "AuthenticAMD" && flags is not null && flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("avx512f");
    }

    private static string ReadCpuInfo()
    {
        try
        {
            return File.ReadAllText("/proc/cpuinfo");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary><see cref="PrepareEnvironment"/> (if not done yet), then sets the intra-op thread count (default: one per core).</summary>
    /// <exception cref="InvalidOperationException">
    /// oneDNN was left AVX-512 for channels-last convs on an affected processor and <see cref="CheckChannelsLastConvolutions"/>
    /// found them wrong after all (then run with <c>DNNL_MAX_CPU_ISA=AVX2_VNNI_2</c>).
    /// </exception>
    public static void Configure(int? threads = null)
    {
        if (!_prepared) PrepareEnvironment();
        if (_avx512OnAffectedProcessor && ChannelsLastCheck is null)
        {
            var error = CheckChannelsLastConvolutions();
            ChannelsLastCheck = error;
            if (!(error < ChannelsLastTolerance))
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                    $"oneDNN's AVX-512 channels-last convolutions are wrong on this processor (largest relative error {error:E1} against float64); run with DNNL_MAX_CPU_ISA={SafeOneDnnIsa}."));
        }
        var count = threads ?? Environment.ProcessorCount;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count, nameof(threads));
        if (get_num_threads() != count) set_num_threads(count);
    }

    /// <summary>Largest relative error <see cref="CheckChannelsLastConvolutions"/> accepts (float32 sums of up to 864 terms give about 1e-6).</summary>
    public const double ChannelsLastTolerance = 1e-4;

    /// <summary>The start-up check's result in this process (null when it did not run: oneDNN was capped, or not on an affected processor).</summary>
    public static double? ChannelsLastCheck { get; private set; }

    /// <summary>
    /// Channels-last convs (forward, input and weight gradient) of a few shapes whose channel counts are not multiples of 16
    /// (the ones oneDNN pads), against the same convs in float64, which oneDNN does not run: the largest relative error.
    /// A few milliseconds.
    /// </summary>
    public static double CheckChannelsLastConvolutions()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(11);
        var worst = 0.0;
        foreach (var (inputs, outputs, size, batch) in new[] { (24, 24, 14, 5), (8, 8, 10, 3), (6, 16, 9, 2), (13, 7, 8, 4), (48, 96, 7, 2) })
        {
            var x = randn([batch, inputs, size, size], generator: generator);
            var w = randn([outputs, inputs, 3, 3], generator: generator).mul_(0.2);
            var upstream = randn([batch, outputs, size, size], generator: generator);
            var x64 = x.to_type(ScalarType.Float64).requires_grad_();
            var w64 = w.to_type(ScalarType.Float64).requires_grad_();
            var y64 = nn.functional.conv2d(x64, w64, padding: [1, 1]);
            y64.mul(upstream.to_type(ScalarType.Float64)).sum().backward();
            var x32 = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2).requires_grad_();
            var w32 = w.detach().requires_grad_();
            var y32 = nn.functional.conv2d(x32, w32, padding: [1, 1]);
            y32.mul(upstream).sum().backward();
            foreach (var (value, reference) in new[] { (y32, y64), (x32.grad!, x64.grad!), (w32.grad!, w64.grad!) })
            {
                var error = value.to_type(ScalarType.Float64).sub(reference).abs().max().item<double>() / reference.abs().max().item<double>();
                worst = double.IsNaN(error) ? double.NaN : Math.Max(worst, error);
                if (double.IsNaN(worst)) return worst;
            }
        }
        return worst;
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

        public const int TrimThreshold = -1; // M_TRIM_THRESHOLD in glibc's malloc.h
        public const int TopPad = -2; // M_TOP_PAD
        public const int MmapThreshold = -3; // M_MMAP_THRESHOLD

        [DllImport("libc")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int mallopt(int param, int value);

        [DllImport("libc")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern IntPtr gnu_get_libc_version();
    }
}
