using System.Runtime.InteropServices;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;

namespace CompressionLab.Tests.Platform;

/// <summary>
/// TorchRuntime's glibc settings (<see cref="TorchRuntime.AllocatorSettings"/>): freed blocks of activation size are
/// reused from the heap instead of being unmapped and faulted in again. Serial: it reads process-wide allocator counters.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class AllocatorSettingsTests
{
    [Fact]
    public void ABlockJustBelowTheThresholdComesFromTheHeapAndStaysThereWhenFreed()
    {
        if (!OperatingSystem.IsLinux() || !IsGlibc()) return; // the settings exist only there
        // The test process ran PrepareEnvironment when it loaded (TestProcessSetup).
        Assert.StartsWith("glibc keeps freed memory", TorchRuntime.AllocatorSettings, StringComparison.Ordinal);

        // 31 MB: above any mmap threshold glibc reaches by itself unless a 31-32 MB block was already freed, so with
        // glibc's defaults this block is its own mmap (hblks + 1) and freeing it unmaps it.
        var size = (int)(TorchRuntime.MmapThresholdBytes - (1L << 20));
        var before = mallinfo2();
        var block = Marshal.AllocHGlobal(size); // malloc on Unix
        try
        {
            var during = mallinfo2();
            Assert.Equal(before.hblks, during.hblks);
            // Touch every page, so that a trim would have something to hand back.
            for (var offset = 0; offset < size; offset += 4096) Marshal.WriteByte(block, offset, 1);
            Marshal.FreeHGlobal(block);
            block = IntPtr.Zero;
            var after = mallinfo2();
            // Kept by the heap: its bytes are still the heap's (a trim would take about 31 MB away).
            Assert.True(after.arena + (4u << 20) >= during.arena, $"heap shrank from {during.arena} to {after.arena} bytes");
        }
        finally
        {
            if (block != IntPtr.Zero) Marshal.FreeHGlobal(block);
        }
    }

    [Theory]
    [InlineData(null, null, true)]
    [InlineData("off", null, false)]
    [InlineData("0", null, false)]
    [InlineData("FALSE", null, false)]
    [InlineData("on", null, true)]
    [InlineData(null, "MALLOC_TRIM_THRESHOLD_", false)]
    [InlineData(null, "MALLOC_MMAP_THRESHOLD_", false)]
    [InlineData(null, "MALLOC_TOP_PAD_", false)]
    [InlineData(null, "GLIBC_TUNABLES", false)]
    public void TheUserCanTurnTheSettingsOffOrChooseGlibcsOwn(string? optOut, string? glibcVariable, bool applied)
    {
        var environment = new Dictionary<string, string?> { [TorchRuntime.AllocatorTuningVariable] = optOut };
        if (glibcVariable is not null) environment[glibcVariable] = "1000000";

        var skipped = TorchRuntime.AllocatorTuningSkipped(name => environment.GetValueOrDefault(name));

        Assert.Equal(applied, skipped is null);
        if (glibcVariable is not null) Assert.Contains(glibcVariable, skipped, StringComparison.Ordinal);
    }

    private static bool IsGlibc()
    {
        try
        {
            return gnu_get_libc_version() != IntPtr.Zero;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [DllImport("libc")]
    private static extern MallInfo2 mallinfo2();

    [DllImport("libc")]
    private static extern IntPtr gnu_get_libc_version();
}
