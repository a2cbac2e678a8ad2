using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Workspace;
using CompressionLab.Web.Services;
using Microsoft.Extensions.DependencyInjection;

namespace CompressionLab.Tests.Web;

/// <summary>
/// A temporary workspace for page tests: its stores over one database, and a dataset catalog that searches only
/// temporary folders (plus the shared Fashion-MNIST when asked), so a page sees exactly what the test puts there.
/// </summary>
internal sealed class PageWorkspace : IDisposable
{
    private int stateReads;

    public PageWorkspace(bool withFashionMnist = false)
    {
        var database = Workspace.OpenDatabase();
        Store = new ModelStore(database);
        States = new TrainingStateStore(database);
        Cells = new SqliteSweepCellStore(database);
        History = new SweepHistory(database);
        Evaluations = new PlanEvaluationStore(database);
        Options = new DatasetOptions
        {
            Folders = withFashionMnist ? [TestData.FashionMnistFolder] : [],
            CacheFolder = Path.Combine(Workspace.Root, "cache"),
        };
        Catalog = new DatasetCatalog(Options, new DatasetSearchRoots([Path.Combine(Workspace.Root, "elsewhere")], Path.Combine(Workspace.Root, "no-system")));
    }

    public TempWorkspace Workspace { get; } = new();

    public ModelStore Store { get; }

    public TrainingStateStore States { get; }

    public SqliteSweepCellStore Cells { get; }

    public SweepHistory History { get; }

    public PlanEvaluationStore Evaluations { get; }

    public DatasetOptions Options { get; }

    public DatasetCatalog Catalog { get; }

    /// <summary>Registers the model store and the catalog, which pages inject directly.</summary>
    public void AddStores(IServiceCollection services)
    {
        services.AddSingleton(Store);
        services.AddSingleton(Catalog);
    }

    /// <summary>How many times pages had a training's saved state read (through <see cref="SavedTrainings"/>).</summary>
    public int StateReads => Volatile.Read(ref stateReads);

    /// <summary>
    /// Registers <see cref="ModelJobs"/> over this workspace (trainings save their state in it) and the pages'
    /// <see cref="SavedTrainings"/> over it, counting its reads in <see cref="StateReads"/>.
    /// </summary>
    public void AddModelJobs(IServiceCollection services)
    {
        services.AddSingleton(sp => new ModelJobs(sp.GetRequiredService<IJobScheduler>(), Catalog, Store, new DatasetDownloader(Options, new HttpClient()), States));
        services.AddSingleton(sp =>
        {
            var modelJobs = sp.GetRequiredService<ModelJobs>();
            return new SavedTrainings(sp.GetRequiredService<IJobScheduler>(), job =>
            {
                Interlocked.Increment(ref stateReads);
                return modelJobs.SavedTraining(job);
            });
        });
    }

    /// <summary>Registers <see cref="SweepJobs"/> over this workspace.</summary>
    public void AddSweepJobs(IServiceCollection services) =>
        services.AddSingleton(sp => new SweepJobs(sp.GetRequiredService<IJobScheduler>(), Catalog, Store, Cells, History));

    /// <summary>Registers <see cref="PlanJobs"/> (plan evaluations and allocations) over this workspace.</summary>
    public void AddPlanJobs(IServiceCollection services) =>
        services.AddSingleton(sp => new PlanJobs(sp.GetRequiredService<IJobScheduler>(), Catalog, Store, Cells, Evaluations, History));

    /// <summary>Registers <see cref="FineTuneJobs"/> (masked fine-tunings, their states saved in this workspace).</summary>
    public void AddFineTuneJobs(IServiceCollection services) =>
        services.AddSingleton(sp => new FineTuneJobs(sp.GetRequiredService<IJobScheduler>(), Catalog, Store, States));

    /// <summary>Registers <see cref="ThinningJobs"/> (thinning comparisons and thin-model saves) over this workspace.</summary>
    public void AddThinningJobs(IServiceCollection services) =>
        services.AddSingleton(sp => new ThinningJobs(sp.GetRequiredService<IJobScheduler>(), Catalog, Store));

    public void Dispose() => Workspace.Dispose();
}
