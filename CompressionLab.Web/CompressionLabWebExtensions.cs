using CompressionLab.Core;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components;
using CompressionLab.Web.Components.Pages.Quantization;
using CompressionLab.Web.Components.Pages.Recipe;
using CompressionLab.Web.Services;
using Microsoft.AspNetCore.Http.Features;
using MudBlazor.Services;

namespace CompressionLab.Web;

/// <summary>Everything the dashboard registers and maps, so Program.cs stays two lines.</summary>
public static class CompressionLabWebExtensions
{
    public static WebApplicationBuilder AddCompressionLabWeb(this WebApplicationBuilder builder)
    {
        // Before anything loads libtorch: idle OpenMP threads must sleep, not spin, or jobs crawl on a busy machine.
        TorchRuntime.PrepareEnvironment();

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
        // Kestrel stops first and waits for its connections (a stop of an app with tabs open takes that long); running
        // jobs must not wait for that before they are interrupted, so every hosted service is told to stop at once.
        builder.Services.Configure<HostOptions>(host => host.ServicesStopConcurrently = true);
        builder.Services.AddSingleton<StarterPairEstimates>();
        builder.Services.AddSingleton(PlanProfiles.Cached());
        builder.Services.AddSingleton<QuantizationBackend, WorkspaceQuantizationBackend>();
        builder.Services.AddSingleton<RecipeBackend, WorkspaceRecipeBackend>();
        builder.Services.AddSingleton(sp => new SavedTrainings(sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<ModelJobs>().SavedTraining));
        return builder;
    }

    public static WebApplication MapCompressionLabWeb(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<ShutdownGate>();
        if (!app.Environment.IsDevelopment())
        {
            app.UseExceptionHandler("/Error", createScopeForErrors: true);
        }
        // A local tool on a loopback address: no HTTPS redirection or HSTS.
        app.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true);
        app.UseAntiforgery();

        // Uploads staged by an earlier run of the app that crashed mid-import; finished jobs delete their own.
        CheckpointImport.DeleteAbandonedStaging(app.Services.GetRequiredService<ModelStore>(), TimeSpan.FromMinutes(10));

        app.MapStaticAssets();
        app.MapGet("/models/{id:guid}/checkpoint", DownloadCheckpoint);
        app.MapGet("/sweeps/{id:guid}/csv", (Guid id, SweepJobs sweeps) => DownloadSweep(id, sweeps, csv: true));
        app.MapGet("/sweeps/{id:guid}/json", (Guid id, SweepJobs sweeps) => DownloadSweep(id, sweeps, csv: false));
        app.MapGet("/recipes/{job:guid}/{file}", DownloadRecipeFile);
        app.MapRazorComponents<App>()
            .AddInteractiveServerRenderMode();
        return app;
    }

    /// <summary>A stored model's checkpoint file, named after the model.</summary>
    private static IResult DownloadCheckpoint(Guid id, ModelStore store)
    {
        if (store.Get(id) is not { } model || !File.Exists(model.FilePath))
        {
            return Results.NotFound($"There is no model {id} in the workspace.");
        }
        return Results.File(model.FilePath, "application/octet-stream", CheckpointFileName(model));
    }

    /// <summary>
    /// A sweep of the workspace as Distiller's sensitivity CSV or as the JSON document (baseline, settings, every
    /// cell); a sweep that is running or was stopped gives the cells it has so far.
    /// </summary>
    private static IResult DownloadSweep(Guid id, SweepJobs sweeps, bool csv)
    {
        if (sweeps.History.Get(id) is not { } record)
        {
            return Results.NotFound($"There is no sweep {id} in the workspace.");
        }
        if (SavedSweep.Read(record, sweeps.Cells) is not { } result)
        {
            return Results.NotFound($"Sweep {id} has not measured anything yet.");
        }
        var name = $"sensitivity-{record.Architecture}-{record.Criterion}-{record.CreatedAt.UtcDateTime:yyyyMMdd-HHmmss}";
        return csv
            ? Results.File(System.Text.Encoding.UTF8.GetBytes(SensitivityExport.ToDistillerCsv(result)), "text/csv", name + ".csv")
            : Results.File(System.Text.Encoding.UTF8.GetBytes(SensitivityExport.ToJson(result)), "application/json", name + ".json");
    }

    /// <summary>A file a recipe build, ONNX export or report job wrote (the Recipe page's downloads), by the job and the file's name.</summary>
    private static IResult DownloadRecipeFile(Guid job, string file, IJobScheduler scheduler, RecipeBackend backend)
    {
        if (scheduler.Get(job) is not { } snapshot || backend.DownloadPath(snapshot, file) is not { } path)
        {
            return Results.NotFound($"Job {job} wrote no file '{file}' that is still in the workspace.");
        }
        return Results.File(path, RecipeBackend.MediaType(file), file);
    }

    /// <summary>The model's display name as a file name ("vgg-tiny · 10 epochs" becomes "vgg-tiny-10-epochs.ckpt").</summary>
    public static string CheckpointFileName(ModelRecord model)
    {
        ArgumentNullException.ThrowIfNull(model);
        // Letters, digits, '-' and '_' only: nothing a browser or file system could read as a path.
        var characters = model.DisplayName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' ? c : '-').ToArray();
        var name = string.Join('-', new string(characters).Split('-', StringSplitOptions.RemoveEmptyEntries));
        return (name.Length == 0 ? model.Architecture : name) + ".ckpt";
    }
}
