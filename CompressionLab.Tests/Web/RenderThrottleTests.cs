using CompressionLab.Web.Services;
using Microsoft.Extensions.Time.Testing;

namespace CompressionLab.Tests.Web;

public class RenderThrottleTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    [Fact]
    public async Task TheFirstRequestRendersAtOnceAndABurstAfterItRendersOnceAfterTheInterval()
    {
        var time = new FakeTimeProvider();
        var renders = 0;
        var secondRender = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var throttle = new RenderThrottle(Interval, () =>
        {
            if (Interlocked.Increment(ref renders) == 2)
            {
                secondRender.SetResult();
            }
            return Task.CompletedTask;
        }, time);

        throttle.Request();
        Assert.Equal(1, Volatile.Read(ref renders));

        for (var i = 0; i < 50; i++)
        {
            throttle.Request();
        }
        time.Advance(Interval - TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, Volatile.Read(ref renders));

        time.Advance(TimeSpan.FromMilliseconds(1));
        await secondRender.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, Volatile.Read(ref renders));
    }

    [Fact]
    public void ARequestAfterAQuietIntervalRendersAtOnce()
    {
        var time = new FakeTimeProvider();
        var renders = 0;
        using var throttle = new RenderThrottle(Interval, () => { renders++; return Task.CompletedTask; }, time);

        throttle.Request();
        time.Advance(Interval * 3);
        throttle.Request();

        Assert.Equal(2, renders);
    }

    [Fact]
    public void NothingRendersAfterDispose()
    {
        var time = new FakeTimeProvider();
        var renders = 0;
        var throttle = new RenderThrottle(Interval, () => { renders++; return Task.CompletedTask; }, time);
        throttle.Request();
        throttle.Request();

        throttle.Dispose();
        time.Advance(Interval * 2);
        throttle.Request();

        Assert.Equal(1, renders);
    }
}
