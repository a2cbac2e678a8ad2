namespace CompressionLab.Web.Services;

/// <summary>
/// Coalesces frequent change notifications (a training reports every batch) into at most one
/// render per interval, so a busy job cannot flood the browser connection.
/// The first request after a quiet period renders at once; later ones wait for the interval.
/// </summary>
public sealed class RenderThrottle : IDisposable
{
    private readonly object gate = new();
    private readonly TimeSpan interval;
    private readonly Func<Task> render;
    private readonly TimeProvider time;
    private readonly CancellationTokenSource disposed = new();
    private bool scheduled;
    private long lastRenderTimestamp;
    private bool hasRendered;

    public RenderThrottle(TimeSpan interval, Func<Task> render, TimeProvider? time = null)
    {
        if (interval < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "The render interval must not be negative.");
        }
        this.interval = interval;
        this.render = render ?? throw new ArgumentNullException(nameof(render));
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>Asks for a render; safe to call from any thread.</summary>
    public void Request()
    {
        TimeSpan delay;
        lock (gate)
        {
            if (scheduled || disposed.IsCancellationRequested)
            {
                return;
            }
            scheduled = true;
            var sinceLast = hasRendered ? time.GetElapsedTime(lastRenderTimestamp) : interval;
            delay = sinceLast >= interval ? TimeSpan.Zero : interval - sinceLast;
        }
        _ = RenderAfterAsync(delay);
    }

    public void Dispose() => disposed.Cancel();

    private async Task RenderAfterAsync(TimeSpan delay)
    {
        try
        {
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, time, disposed.Token);
            }
            lock (gate)
            {
                scheduled = false;
                hasRendered = true;
                lastRenderTimestamp = time.GetTimestamp();
            }
            if (!disposed.IsCancellationRequested)
            {
                await render();
            }
        }
        catch (OperationCanceledException) when (disposed.IsCancellationRequested)
        {
            // The component went away while a render was pending.
        }
        catch (ObjectDisposedException) when (disposed.IsCancellationRequested)
        {
            // The circuit closed between the check and the render.
        }
    }
}
