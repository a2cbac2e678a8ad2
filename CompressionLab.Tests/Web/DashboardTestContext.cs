using CompressionLab.Core.Jobs;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;

namespace CompressionLab.Tests.Web;

/// <summary>
/// bUnit context for dashboard components: MudBlazor services with transitions off, loose JS interop
/// (MudBlazor and Plotly call into JS that bUnit does not run), and a fake job scheduler.
/// </summary>
public abstract class DashboardTestContext : BunitContext, IAsyncLifetime
{
    /// <summary>Long enough for a loaded 2-core CI machine; WaitForAssertion returns as soon as it passes.</summary>
    protected static readonly TimeSpan UiTimeout = TimeSpan.FromSeconds(10);

    /// <param name="addServices">Registers what a page under test needs besides these (services cannot be added once rendering began).</param>
    protected DashboardTestContext(Action<IServiceCollection>? addServices = null)
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices(options =>
        {
            options.SnackbarConfiguration.ShowTransitionDuration = 0;
            options.SnackbarConfiguration.HideTransitionDuration = 0;
            options.PopoverOptions.CheckForPopoverProvider = false;
        });
        Services.AddOptions();
        Services.AddSingleton<IJobScheduler>(Scheduler);
        addServices?.Invoke(Services);
        // Pages render as in the live app (interactive server); this must follow the service registrations.
        SetRendererInfo(new RendererInfo("Server", isInteractive: true));
    }

    internal FakeJobScheduler Scheduler { get; } = new();

    Task IAsyncLifetime.InitializeAsync() => Task.CompletedTask;

    // MudBlazor registers services that only implement IAsyncDisposable; xunit 2 calls this before Dispose().
    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}
