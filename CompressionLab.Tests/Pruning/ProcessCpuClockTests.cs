using System.Diagnostics;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>
/// <c>bench thin</c>'s CPU clock against an independent one: .NET's <see cref="Process.TotalProcessorTime"/> (10 ms
/// ticks on Linux) must see the CPU the clock reports over the same interval.
/// </summary>
public sealed class ProcessCpuClockTests
{
    [Fact]
    public void ItCountsTheCpuTheProcessUsesAsDotNetDoes()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Null(ProcessCpuClock.Seconds());
            return;
        }
        using var process = Process.GetCurrentProcess();
        var start = ProcessCpuClock.Seconds()!.Value;
        process.Refresh();
        var dotnetStart = process.TotalProcessorTime.TotalSeconds;
        var wall = Stopwatch.StartNew();
        // Spin until this clock has seen 0.3 s of CPU: on a busy machine that takes longer in wall time, never less.
        var spins = 0L;
        while (ProcessCpuClock.Seconds()!.Value - start < 0.3) spins++;
        var wallSeconds = wall.Elapsed.TotalSeconds;
        process.Refresh();
        var dotnetUsed = process.TotalProcessorTime.TotalSeconds - dotnetStart;
        var used = ProcessCpuClock.Seconds()!.Value - start;

        Assert.True(spins > 0);
        // The spinning thread alone used at least 0.3 s minus a tick; other threads of the test run only add.
        Assert.InRange(dotnetUsed, 0.3 - 0.02, used + 0.02);
        // Process CPU time over an interval is at most the wall time times the cores.
        Assert.InRange(used, 0.3, (wallSeconds * Environment.ProcessorCount) + 0.02);
    }
}
