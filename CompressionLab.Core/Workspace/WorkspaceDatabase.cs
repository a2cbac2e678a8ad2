using System.Globalization;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>
/// The workspace's SQLite file (<c>workspace.db</c> in the workspace folder): created on first use and
/// brought up to the newest schema of <see cref="WorkspaceSchema.Migrations"/> before the first
/// connection is handed out. Stores run their statements through <see cref="Query{T}"/>, <see cref="Execute"/> and
/// <see cref="InTransaction{T}"/>, each on a short-lived connection of its own; <see cref="OpenConnection"/> is there for the rest.
/// </summary>
public sealed class WorkspaceDatabase : IDisposable
{
    public const string FileName = "workspace.db";

    private readonly IReadOnlyList<WorkspaceMigration> _migrations;
    private readonly string _connectionString;
    private readonly Lock _migrationGate = new();
    private volatile bool _migrated;

    public WorkspaceDatabase(WorkspaceOptions options)
        : this(options, WorkspaceSchema.Migrations)
    {
    }

    /// <summary>Over a chosen migration list (tests, tools); the app uses <see cref="WorkspaceSchema.Migrations"/>.</summary>
    public WorkspaceDatabase(WorkspaceOptions options, IReadOnlyList<WorkspaceMigration> migrations)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(migrations);
        CheckOrder(migrations);
        _migrations = migrations;
        Folder = options.ResolveFolder();
        DatabasePath = Path.Combine(Folder, FileName);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            // Another process (CLI beside the dashboard) may hold the write lock for a moment.
            DefaultTimeout = 30,
        }.ToString();
    }

    /// <summary>The absolute workspace folder; nothing of the workspace is written outside it.</summary>
    public string Folder { get; }

    public string DatabasePath { get; }

    /// <summary>The schema version this app brings the database to.</summary>
    public int LatestVersion => _migrations.Count == 0 ? 0 : _migrations[^1].Version;

    /// <summary>Opens a new connection (dispose it) to a database that is created and fully migrated.</summary>
    public SqliteConnection OpenConnection()
    {
        EnsureMigrated();
        return OpenUnmigrated();
    }

    /// <summary>Runs <paramref name="sql"/> and maps each row it returns, in the order returned.</summary>
    /// <param name="parameters">Bound by name (<c>$id</c>, ...); a null value is bound as SQL NULL.</param>
    public IReadOnlyList<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters)
    {
        using var connection = OpenConnection();
        return WorkspaceSql.Query(connection, transaction: null, sql, map, parameters);
    }

    /// <summary>
    /// The one row <paramref name="sql"/> returns, mapped; default (null for a class) when it returns none.
    /// Throws <see cref="InvalidOperationException"/> when it returns more than one.
    /// </summary>
    /// <param name="parameters">Bound by name (<c>$id</c>, ...); a null value is bound as SQL NULL.</param>
    public T? QuerySingleOrDefault<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters) =>
        Query(sql, map, parameters).SingleOrDefault();

    /// <summary>Runs a statement that returns no rows (INSERT, UPDATE, DELETE, ...).</summary>
    /// <param name="parameters">Bound by name (<c>$id</c>, ...); a null value is bound as SQL NULL.</param>
    /// <returns>How many rows it inserted, updated or deleted.</returns>
    public int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var connection = OpenConnection();
        return WorkspaceSql.Execute(connection, transaction: null, sql, parameters);
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction on a connection of its own and commits when it returns;
    /// when it throws, nothing it wrote is kept. The transaction is BEGIN IMMEDIATE: it takes the write lock
    /// at the start, so what <paramref name="work"/> reads cannot change under it before its writes land.
    /// </summary>
    public T InTransaction<T>(Func<WorkspaceTransaction, T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        using var connection = OpenConnection();
        using var transaction = connection.BeginTransaction(deferred: false);
        var result = work(new WorkspaceTransaction(connection, transaction));
        transaction.Commit();
        return result;
    }

    /// <summary>Creates the folder and database if needed and applies missing migrations; safe to call repeatedly.</summary>
    public void EnsureMigrated()
    {
        if (_migrated)
        {
            return;
        }

        lock (_migrationGate)
        {
            if (_migrated)
            {
                return;
            }

            Directory.CreateDirectory(Folder);
            try
            {
                using var connection = OpenUnmigrated();
                Migrate(connection);
            }
            catch (SqliteException ex)
            {
                throw new InvalidOperationException(
                    $"The workspace database '{DatabasePath}' could not be opened or migrated: {ex.Message}", ex);
            }

            _migrated = true;
        }
    }

    /// <summary>The highest migration recorded in the database (0 for a new one).</summary>
    public int ReadSchemaVersion()
    {
        using var connection = OpenConnection();
        return ReadVersion(connection, transaction: null);
    }

    /// <summary>The absolute path of <paramref name="relativePath"/> inside the workspace; refuses paths that leave it.</summary>
    public string PathInside(string relativePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(relativePath);
        var full = Path.GetFullPath(Path.Combine(Folder, relativePath));
        var root = Folder + Path.DirectorySeparatorChar;
        if (!full.StartsWith(root, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The path '{relativePath}' leaves the workspace folder '{Folder}'.", nameof(relativePath));
        }

        return full;
    }

    /// <summary>Closes the pooled connections of this database so its files can be moved or deleted.</summary>
    public void Dispose()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    private SqliteConnection OpenUnmigrated()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // With WAL, NORMAL cannot corrupt the file; a power cut may only lose the last commits.
        WorkspaceSql.Execute(connection, transaction: null, "PRAGMA synchronous = NORMAL;");
        return connection;
    }

    private void Migrate(SqliteConnection connection)
    {
        // WAL lets the dashboard read while a job writes; the mode is stored in the file.
        WorkspaceSql.Execute(connection, transaction: null, "PRAGMA journal_mode = WAL;");
        WorkspaceSql.Execute(connection, transaction: null, """
            CREATE TABLE IF NOT EXISTS schema_version (
                version    INTEGER PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL
            );
            """);

        var found = ReadVersion(connection, transaction: null);
        if (found > LatestVersion)
        {
            throw new InvalidOperationException(
                $"The workspace database '{DatabasePath}' has schema version {found}, newer than this app knows " +
                $"({LatestVersion}); update CompressionLab or point Workspace:Folder elsewhere.");
        }

        foreach (var migration in _migrations)
        {
            // BEGIN IMMEDIATE: a second process migrating the same file waits here, then sees the new version.
            using var transaction = connection.BeginTransaction(deferred: false);
            if (migration.Version <= ReadVersion(connection, transaction))
            {
                continue;
            }

            try
            {
                WorkspaceSql.Execute(connection, transaction, migration.Sql);
                WorkspaceSql.Execute(connection, transaction,
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($version, $name, $appliedAt);",
                    ("$version", migration.Version),
                    ("$name", migration.Name),
                    ("$appliedAt", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture)));
                transaction.Commit();
            }
            catch (SqliteException ex)
            {
                throw new InvalidOperationException(
                    $"Workspace migration {migration.Version} ('{migration.Name}') failed on '{DatabasePath}': {ex.Message}", ex);
            }
        }
    }

    private static int ReadVersion(SqliteConnection connection, SqliteTransaction? transaction) =>
        WorkspaceSql.Query(connection, transaction, "SELECT COALESCE(MAX(version), 0) FROM schema_version;", row => row.GetInt32(0)).Single();

    private static void CheckOrder(IReadOnlyList<WorkspaceMigration> migrations)
    {
        for (var i = 0; i < migrations.Count; i++)
        {
            var migration = migrations[i] ?? throw new ArgumentException($"Workspace migration at position {i} is null.", nameof(migrations));
            if (migration.Version != i + 1)
            {
                throw new ArgumentException(
                    $"Workspace migration '{migration.Name}' has version {migration.Version} at position {i}; versions must run 1, 2, 3, ... without gaps.",
                    nameof(migrations));
            }

            if (string.IsNullOrWhiteSpace(migration.Sql))
            {
                throw new ArgumentException($"Workspace migration {migration.Version} ('{migration.Name}') has no SQL.", nameof(migrations));
            }
        }
    }
}
