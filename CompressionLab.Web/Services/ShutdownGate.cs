namespace CompressionLab.Web.Services;

/// <summary>
/// Once the app is stopping, answers every new request with 503 and closes its connection, so a browser tab that is
/// still open cannot hold the stop up.
/// </summary>
/// <remarks>
/// On a stop, SignalR closes the circuits' connections as soon as the app starts stopping, but Kestrel keeps
/// listening until its own turn to stop comes. Blazor's client reconnects at once, and the new WebSocket, which
/// Kestrel cannot close gracefully, kept the stop waiting for the host's 30 s shutdown timeout
/// (https://github.com/dotnet/aspnetcore/issues/58947). Refusing the reconnect closes that window; the tab shows its
/// reconnect dialog as it would for a stopped app.
/// </remarks>
public sealed class ShutdownGate(RequestDelegate next, IHostApplicationLifetime lifetime)
{
    public Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return next(context);
        }
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.Connection = "close";
        return Task.CompletedTask;
    }
}
