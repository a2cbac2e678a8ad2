using CompressionLab.Core.Data;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Workspace;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CompressionLab.Core;

public static class CompressionLabCoreServices
{
    /// <summary>
    /// Registers the engine's services: options from the <c>Workspace</c> and <c>Jobs</c> sections of
    /// <paramref name="config"/> (and <c>Datasets</c>), the dataset catalog, the workspace database and
    /// model store, the job scheduler (as
    /// <see cref="IJobScheduler"/> and as the hosted service that runs the jobs), the Fashion-MNIST downloader,
    /// the training states of interrupted trainings (<see cref="TrainingStateStore"/>),
    /// <see cref="ModelJobs"/> (starts train, evaluate and download jobs, resumes interrupted trainings), and the sweep cell store, history and
    /// <see cref="SweepJobs"/> (starts sensitivity sweeps), and the evaluated plans with <see cref="PlanJobs"/> (starts plan evaluations and allocations), <see cref="FineTuneJobs"/> (starts and resumes masked fine-tunings), <see cref="ThinningJobs"/> (thinning comparisons and thin-model saves), the simulated INT8 measurements with <see cref="CalibrationJobs"/> and <see cref="QuantizationJobs"/> (calibration, INT8 comparisons and per-layer sensitivity), and the models' cached logits (<see cref="LogitsStore"/>) with <see cref="DistillationJobs"/> (soft-target comparisons, distillation trainings and their resumes).
    /// </summary>
    public static IServiceCollection AddCompressionLabCore(this IServiceCollection services, IConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(config);

        services.Configure<WorkspaceOptions>(config.GetSection(WorkspaceOptions.SectionName));
        services.Configure<JobOptions>(config.GetSection(JobOptions.SectionName));
        services.Configure<DatasetOptions>(config.GetSection(DatasetOptions.SectionName));
        services.TryAddSingleton(TimeProvider.System);

        services.TryAddSingleton(sp => new DatasetCatalog(sp.GetRequiredService<IOptions<DatasetOptions>>().Value));
        // No overall timeout: the downloader abandons a transfer that stalls, and a slow link may need minutes.
        services.TryAddSingleton(sp => new DatasetDownloader(
            sp.GetRequiredService<IOptions<DatasetOptions>>().Value, new HttpClient { Timeout = Timeout.InfiniteTimeSpan }));

        services.TryAddSingleton(sp => new WorkspaceDatabase(sp.GetRequiredService<IOptions<WorkspaceOptions>>().Value));
        services.TryAddSingleton(sp => new ModelStore(sp.GetRequiredService<WorkspaceDatabase>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new JobScheduler(
            sp.GetRequiredService<WorkspaceDatabase>(),
            sp.GetRequiredService<IOptions<JobOptions>>().Value,
            sp.GetService<ILogger<JobScheduler>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IJobScheduler>(sp => sp.GetRequiredService<JobScheduler>());
        services.AddHostedService(sp => sp.GetRequiredService<JobScheduler>());
        services.TryAddSingleton(sp => new TrainingStateStore(sp.GetRequiredService<WorkspaceDatabase>()));
        services.TryAddSingleton(sp => new ModelJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(),
            sp.GetRequiredService<ModelStore>(), sp.GetRequiredService<DatasetDownloader>(), sp.GetRequiredService<TrainingStateStore>()));
        services.TryAddSingleton(sp => new SqliteSweepCellStore(sp.GetRequiredService<WorkspaceDatabase>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new SweepHistory(sp.GetRequiredService<WorkspaceDatabase>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new SweepJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>(),
            sp.GetRequiredService<SqliteSweepCellStore>(), sp.GetRequiredService<SweepHistory>()));
        services.TryAddSingleton(sp => new PlanEvaluationStore(sp.GetRequiredService<WorkspaceDatabase>()));
        services.TryAddSingleton(sp => new CalibrationProfileStore(sp.GetRequiredService<WorkspaceDatabase>()));
        services.TryAddSingleton(sp => new PlanJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>(),
            sp.GetRequiredService<SqliteSweepCellStore>(), sp.GetRequiredService<PlanEvaluationStore>(), sp.GetRequiredService<SweepHistory>()));
        services.TryAddSingleton(sp => new FineTuneJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>(),
            sp.GetRequiredService<TrainingStateStore>()));
        services.TryAddSingleton(sp => new ThinningJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>()));
        services.TryAddSingleton(sp => new Int8EvaluationStore(sp.GetRequiredService<WorkspaceDatabase>()));
        services.TryAddSingleton(sp => new CalibrationJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>(),
            sp.GetRequiredService<CalibrationProfileStore>()));
        services.TryAddSingleton(sp => new QuantizationJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>(),
            sp.GetRequiredService<CalibrationProfileStore>(), sp.GetRequiredService<Int8EvaluationStore>()));
        services.TryAddSingleton(sp => new LogitsStore(sp.GetRequiredService<WorkspaceDatabase>()));
        services.TryAddSingleton(sp => new DistillationJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>(),
            sp.GetRequiredService<LogitsStore>(), sp.GetRequiredService<TrainingStateStore>()));
        services.TryAddSingleton(sp => new RecipeJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>()));
        services.TryAddSingleton(sp => new Export.OnnxJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<ModelStore>(),
            sp.GetRequiredService<CalibrationProfileStore>()));
        services.TryAddSingleton(sp => new Reports.ReportJobs(
            sp.GetRequiredService<IJobScheduler>(), sp.GetRequiredService<DatasetCatalog>(), sp.GetRequiredService<WorkspaceDatabase>(),
            sp.GetRequiredService<ModelStore>()));
        return services;
    }
}
