using CompressionLab.Core.Workspace;

namespace CompressionLab.Tests.Workspace;

/// <summary>A workspace folder of its own under the system temp folder, deleted with everything in it on dispose.</summary>
public sealed class TempWorkspace : IDisposable
{
    private readonly List<WorkspaceDatabase> _databases = [];

    public TempWorkspace()
    {
        Root = Path.Combine(Path.GetTempPath(), "compressionlab-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        // The workspace itself is one level down so the tests can check it is created on first use.
        Folder = Path.Combine(Root, "workspace");
    }

    /// <summary>A scratch folder outside the workspace, for source files.</summary>
    public string Root { get; }

    public string Folder { get; }

    public WorkspaceOptions Options => new() { Folder = Folder };

    /// <summary>A database over this folder, closed (pools cleared) on dispose.</summary>
    public WorkspaceDatabase OpenDatabase(IReadOnlyList<WorkspaceMigration>? migrations = null)
    {
        var database = migrations is null ? new WorkspaceDatabase(Options) : new WorkspaceDatabase(Options, migrations);
        _databases.Add(database);
        return database;
    }

    public void Dispose()
    {
        foreach (var database in _databases)
        {
            database.Dispose();
        }

        Directory.Delete(Root, recursive: true);
    }
}

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public ManualClock()
        : this(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
