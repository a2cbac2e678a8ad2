using CompressionLab.Core;
using CompressionLab.Web.Components;
using CompressionLab.Web.Services;
using Microsoft.AspNetCore.Http.Features;
using MudBlazor.Services;

namespace CompressionLab.Web;

/// <summary>Everything the dashboard registers and maps, so Program.cs stays two lines.</summary>
public static class CompressionLabWebExtensions
{
    public static WebApplicationBuilder AddCompressionLabWeb(this WebApplicationBuilder builder)
    {
        // Serve the static web assets of packages (MudBlazor, Plotly.Blazor) when the app runs from its
        // build output in any environment, not only Development (the e2e tests start it that way).
        builder.WebHost.UseStaticWebAssets();

        var dashboard = builder.Configuration.GetSection(DashboardOptions.SectionName).Get<DashboardOptions>() ?? new DashboardOptions();
        builder.Services.Configure<DashboardOptions>(builder.Configuration.GetSection(DashboardOptions.SectionName));
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = dashboard.MaxUploadBytes);
        builder.Services.Configure<FormOptions>(form => form.MultipartBodyLengthLimit = dashboard.MaxUploadBytes);

        builder.Services.AddRazorComponents()
            .AddInteractiveServerComponents();
        builder.Services.AddMudServices();

        builder.Services.AddCompressionLabCore(builder.Configuration);
        return builder;
    }

    public static WebApplication MapCompressionLabWeb(this WebApplication app)
    {
        if (!app.Environment.IsDevelopment())
        {
            app.UseExceptionHandler("/Error", createScopeForErrors: true);
        }
        // A local tool on a loopback address: no HTTPS redirection or HSTS.
        app.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true);
        app.UseAntiforgery();

        app.MapStaticAssets();
        app.MapRazorComponents<App>()
            .AddInteractiveServerRenderMode();
        return app;
    }
}
