using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Workspace;

namespace CompressionLab.Tests.Models;

/// <summary>
/// A temporary workspace with its model store and a dataset catalog that finds only what a test asks for:
/// a small synthetic dataset (600 train images, so 120 validation and 480 train; 200 test), and the shared
/// Fashion-MNIST when <paramref name="withFashionMnist"/>.
/// </summary>
internal sealed class ModelJobTestBench : IDisposable
{
    public const int SyntheticTrain = 600;
    public const int SyntheticTest = 200;

    public ModelJobTestBench(bool withFashionMnist = false)
    {
        Workspace = new TempWorkspace();
        Store = new ModelStore(Workspace.OpenDatabase());
        Options = new DatasetOptions
        {
            Folders = withFashionMnist ? [TestData.FashionMnistFolder] : [],
            CacheFolder = Path.Combine(Workspace.Root, "cache"),
            SyntheticTrainCount = SyntheticTrain,
            SyntheticTestCount = SyntheticTest,
        };
        Catalog = new DatasetCatalog(Options, new DatasetSearchRoots([Path.Combine(Workspace.Root, "elsewhere")], Path.Combine(Workspace.Root, "no-system")));
    }

    public TempWorkspace Workspace { get; }

    public ModelStore Store { get; }

    public DatasetOptions Options { get; }

    public DatasetCatalog Catalog { get; }

    /// <summary>Every file under the models folder (hidden temporaries too), relative to it.</summary>
    public string[] ModelFiles() =>
        Directory.Exists(Store.ModelsFolder)
            ? Directory.GetFileSystemEntries(Store.ModelsFolder, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(Store.ModelsFolder, p)).ToArray()
            : [];

    public void Dispose() => Workspace.Dispose();
}

/// <summary>Records what a job reports, on the job's thread; <see cref="OnReport"/> lets a test react (e.g. cancel).</summary>
internal sealed class RecordingProgress : IJobProgress
{
    private readonly Lock _gate = new();
    private readonly List<(double Fraction, string Message)> _reports = [];
    private readonly List<JobPartial> _partials = [];

    public Action<double, string>? OnReport { get; init; }

    public IReadOnlyList<(double Fraction, string Message)> Reports
    {
        get { lock (_gate) return [.. _reports]; }
    }

    public IReadOnlyList<JobPartial> Partials
    {
        get { lock (_gate) return [.. _partials]; }
    }

    public void Report(double fraction, string message)
    {
        lock (_gate) _reports.Add((fraction, message));
        OnReport?.Invoke(fraction, message);
    }

    public void Publish(JobPartial partial)
    {
        lock (_gate) _partials.Add(partial);
    }
}
