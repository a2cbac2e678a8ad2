using Plotly.Blazor;

namespace CompressionLab.Web.Components.Charts;

/// <summary>
/// Plotly.Blazor's chart, except that removing it never waits for the browser.
/// </summary>
/// <remarks>
/// <see cref="PlotlyChart"/>'s disposal first waits for the interop call in flight (one lock per chart), then purges
/// the plot. A call in flight when the tab went away (the first plot while plotly.js still loads, say) is never
/// answered: it ends only with the circuit's JS interop timeout, one minute. Blazor awaits every component's disposal
/// when it tears a circuit down, and the browser's <c>/_blazor/disconnect</c> request waits for that teardown, so
/// one chart closed at the wrong moment kept that request open, and a stop of the app (SIGTERM, Ctrl+C) then waited
/// for it until the host's 30 s shutdown timeout. Here the same clean-up starts and is not awaited: it purges the
/// plot as soon as the lock frees, or gives up quietly once the circuit is gone (Plotly.Blazor swallows those errors).
/// The interfaces are declared again so that the renderer calls these implementations, not the base class's.
/// </remarks>
public sealed class DetachedPlotlyChart : PlotlyChart, IAsyncDisposable, IDisposable
{
    ValueTask IAsyncDisposable.DisposeAsync()
    {
        Release();
        return ValueTask.CompletedTask;
    }

    void IDisposable.Dispose() => Release();

    private void Release()
    {
        var cleanUp = DisposeAsync().AsTask();
        // Observed, so an unexpected failure of the clean-up is not an unobserved task exception later.
        _ = cleanUp.ContinueWith(static task => _ = task.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
