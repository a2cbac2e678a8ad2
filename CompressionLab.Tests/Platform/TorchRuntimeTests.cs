using CompressionLab.Cli;
using CompressionLab.Core.Models;

namespace CompressionLab.Tests.Platform;

public sealed class TorchRuntimeTests : IDisposable
{
    private readonly string _file = Path.GetTempFileName();

    public void Dispose() => File.Delete(_file);

    [Fact]
    public void CpuTicksAreAllFieldsUpToStealWithIdleAndIowaitAsIdle()
    {
        // user nice system idle iowait irq softirq steal guest guest_nice
        File.WriteAllLines(_file, ["cpu  100 5 50 1000 20 3 2 7 40 0", "cpu0 50 2 25 500 10 1 1 3 20 0", "intr 12345"]);

        var ticks = TorchRuntime.ReadCpuTicks(_file);

        // guest time is already inside user, so it is not added again: 100+5+50+1000+20+3+2+7.
        Assert.Equal((1187L, 1020L), ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("intr 1 2 3")]
    [InlineData("cpu  1 2 x 4 5")]
    public void UnreadableStatisticsGiveNull(string content)
    {
        File.WriteAllText(_file, content);

        Assert.Null(TorchRuntime.ReadCpuTicks(_file));
    }

    [Fact]
    public void BusyCoresOfTheMachineIsBetweenZeroAndTheCoreCount()
    {
        var busy = TorchRuntime.BusyCores(TimeSpan.FromMilliseconds(100));

        if (OperatingSystem.IsLinux()) Assert.InRange(busy!.Value, 0, Environment.ProcessorCount);
        else Assert.Null(busy);
    }

    [Theory]
    [InlineData("train --arch vgg-small", true)]
    [InlineData("eval --model m.ckpt", true)]
    [InlineData("sweep --model m.ckpt", true)]
    [InlineData("bench sweep --model m.ckpt", true)]
    [InlineData("bench train --arch lenet-5", true)]
    [InlineData("bench", false)]
    [InlineData("datasets --json", false)]
    [InlineData("--help", false)]
    [InlineData("train --help", false)]
    [InlineData("help", false)]
    [InlineData("", false)]
    public void OnlyComputeCommandsMayLetOpenMpThreadsSpin(string commandLine, bool compute)
    {
        Assert.Equal(compute, CliApp.ComputesWithTorch(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
    }
}
