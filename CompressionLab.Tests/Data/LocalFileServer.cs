using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CompressionLab.Tests.Data;

/// <summary>
/// A Kestrel server on 127.0.0.1 (a free port chosen by the OS) serving files from memory under /files/.
/// A file listed in <c>stalling</c> sends its first megabyte and then nothing until the client goes away.
/// </summary>
internal sealed class LocalFileServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LocalFileServer(WebApplication app, Uri baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    /// <summary>Requests received per file name.</summary>
    public ConcurrentDictionary<string, int> Requests { get; } = new();

    public static async Task<LocalFileServer> StartAsync(IReadOnlyDictionary<string, byte[]> files, string? stalling = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        LocalFileServer? server = null;
        app.MapGet("/files/{name}", async (string name, HttpContext context) =>
        {
            server!.Requests.AddOrUpdate(name, 1, (_, n) => n + 1);
            if (!files.TryGetValue(name, out var bytes))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            context.Response.ContentLength = bytes.Length;
            if (name != stalling)
            {
                await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
                return;
            }
            await context.Response.Body.WriteAsync(bytes.AsMemory(0, 1 << 20), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The client cancelled: that is what the stalling file waits for.
            }
        });
        await app.StartAsync();
        var address = app.Urls.Single(); // after start: the address Kestrel bound, with the port it chose
        server = new LocalFileServer(app, new Uri(address.TrimEnd('/') + "/files/"));
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
