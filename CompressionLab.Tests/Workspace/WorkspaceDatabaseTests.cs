using CompressionLab.Core.Workspace;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Tests.Workspace;

public sealed class WorkspaceDatabaseTests : IDisposable
{
    private readonly TempWorkspace _workspace = new();

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public void FirstUseCreatesTheFolderTheFileAndTheWholeSchema()
    {
        Assert.False(Directory.Exists(_workspace.Folder));
        var database = _workspace.OpenDatabase();

        using var connection = database.OpenConnection();

        Assert.Equal(Path.Combine(_workspace.Folder, "workspace.db"), database.DatabasePath);
        Assert.True(File.Exists(database.DatabasePath));
        Assert.Equal(["calibration_profiles", "int8_evaluations", "jobs", "models", "plan_evaluations", "schema_version", "sweep_cells", "sweeps"], Tables(connection));
        Assert.Equal([(1L, "models"), (2L, "jobs"), (3L, "sweeps"), (4L, "sweep levels leave a unit"), (5L, "job links"), (6L, "sweep cells keyed by batch size and engine"), (7L, "plan evaluations"), (8L, "calibration profiles"), (9L, "int8 evaluations")], AppliedMigrations(connection));
        Assert.Equal(WorkspaceSchema.Migrations.Count, database.ReadSchemaVersion());
        Assert.Equal("wal", Scalar(connection, "PRAGMA journal_mode;"));
    }

    [Fact]
    public void ReopeningAppliesNothingTwiceAndKeepsTheData()
    {
        var first = _workspace.OpenDatabase();
        string appliedBefore;
        using (var connection = first.OpenConnection())
        {
            Execute(connection, "INSERT INTO jobs (id, kind, title, parameters_json, state, created_at) VALUES ('a', 'k', 't', '{}', 'Succeeded', '2026');");
            appliedBefore = string.Join(";", AppliedMigrations(connection)) + Scalar(connection, "SELECT group_concat(applied_at) FROM schema_version;");
        }

        first.Dispose();

        var second = _workspace.OpenDatabase();
        using var reopened = second.OpenConnection();
        var appliedAfter = string.Join(";", AppliedMigrations(reopened)) + Scalar(reopened, "SELECT group_concat(applied_at) FROM schema_version;");

        Assert.Equal(appliedBefore, appliedAfter);
        Assert.Equal("t", Scalar(reopened, "SELECT title FROM jobs WHERE id = 'a';"));
    }

    [Fact]
    public void AppendedMigrationRunsOnlyTheNewStep()
    {
        // Step 1 has no IF NOT EXISTS: running it a second time would fail.
        var step1 = new WorkspaceMigration(1, "cells", "CREATE TABLE cells (x INTEGER); INSERT INTO cells VALUES (7);");
        var step2 = new WorkspaceMigration(2, "notes", "CREATE TABLE notes (text TEXT);");
        using (var connection = _workspace.OpenDatabase([step1]).OpenConnection())
        {
            Assert.Equal([(1L, "cells")], AppliedMigrations(connection));
        }

        var upgraded = _workspace.OpenDatabase([step1, step2]);
        using var reopened = upgraded.OpenConnection();

        Assert.Equal([(1L, "cells"), (2L, "notes")], AppliedMigrations(reopened));
        Assert.Equal("7", Scalar(reopened, "SELECT group_concat(x) FROM cells;"));
        Assert.Contains("notes", Tables(reopened));
    }

    [Fact]
    public void FailingMigrationIsRolledBackAndNamed()
    {
        var good = new WorkspaceMigration(1, "cells", "CREATE TABLE cells (x INTEGER);");
        var broken = new WorkspaceMigration(2, "broken step", "CREATE TABLE half (x INTEGER); INSERT INTO missing_table VALUES (1);");
        var database = _workspace.OpenDatabase([good, broken]);

        var error = Assert.Throws<InvalidOperationException>(() => database.OpenConnection());

        Assert.Contains("migration 2 ('broken step')", error.Message);
        Assert.Contains("missing_table", error.Message);
        using var connection = _workspace.OpenDatabase([good]).OpenConnection();
        Assert.Equal([(1L, "cells")], AppliedMigrations(connection));
        Assert.DoesNotContain("half", Tables(connection));
    }

    [Fact]
    public void DatabaseFromANewerAppIsRefused()
    {
        var step1 = new WorkspaceMigration(1, "cells", "CREATE TABLE cells (x INTEGER);");
        var step2 = new WorkspaceMigration(2, "notes", "CREATE TABLE notes (text TEXT);");
        _workspace.OpenDatabase([step1, step2]).EnsureMigrated();

        var error = Assert.Throws<InvalidOperationException>(() => _workspace.OpenDatabase([step1]).EnsureMigrated());

        Assert.Contains("schema version 2, newer than this app knows (1)", error.Message);
    }

    [Fact]
    public void MigrationsMustBeNumberedWithoutGaps()
    {
        var error = Assert.Throws<ArgumentException>(() => _workspace.OpenDatabase(
            [new WorkspaceMigration(1, "a", "SELECT 1;"), new WorkspaceMigration(3, "c", "SELECT 1;")]));

        Assert.Contains("'c' has version 3 at position 1", error.Message);
    }

    [Fact]
    public void AFileThatIsNotADatabaseGivesAClearError()
    {
        Directory.CreateDirectory(_workspace.Folder);
        File.WriteAllText(Path.Combine(_workspace.Folder, "workspace.db"), "this is not an SQLite file, just some text that is long enough to have a header");
        var database = _workspace.OpenDatabase();

        var error = Assert.Throws<InvalidOperationException>(() => database.OpenConnection());

        Assert.Contains(database.DatabasePath, error.Message);
        Assert.Contains("not a database", error.Message);
    }

    [Fact]
    public void PathsMayNotLeaveTheWorkspace()
    {
        var database = _workspace.OpenDatabase();

        Assert.Equal(Path.Combine(_workspace.Folder, "models", "a.ckpt"), database.PathInside("models/a.ckpt"));
        Assert.Throws<ArgumentException>(() => database.PathInside("../outside.ckpt"));
        Assert.Throws<ArgumentException>(() => database.PathInside("/etc/passwd"));
    }

    internal static List<string> Tables(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name;";
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    private static List<(long, string)> AppliedMigrations(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT version, name FROM schema_version ORDER BY version;";
        using var reader = command.ExecuteReader();
        var rows = new List<(long, string)>();
        while (reader.Read())
        {
            rows.Add((reader.GetInt64(0), reader.GetString(1)));
        }

        return rows;
    }

    internal static string? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
