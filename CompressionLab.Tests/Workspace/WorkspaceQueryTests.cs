using CompressionLab.Core.Workspace;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Tests.Workspace;

/// <summary>The statement API of <see cref="WorkspaceDatabase"/>, over a one-table schema of its own.</summary>
public sealed class WorkspaceQueryTests : IDisposable
{
    private const string Insert = "INSERT INTO notes (id, text, score) VALUES ($id, $text, $score);";

    private readonly TempWorkspace _workspace = new();
    private readonly WorkspaceDatabase _database;

    public WorkspaceQueryTests()
    {
        _database = _workspace.OpenDatabase(
            [new WorkspaceMigration(1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NULL, score REAL NULL);")]);
    }

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public void NullParametersAreStoredAsSqlNull()
    {
        string? noText = null;
        double? noScore = null;

        _database.Execute(Insert, ("$id", 1), ("$text", noText), ("$score", noScore));
        _database.Execute(Insert, ("$id", 2), ("$text", "kept"), ("$score", (double?)0.25));

        var types = _database.Query("SELECT typeof(text), typeof(score) FROM notes ORDER BY id;", row => (row.GetString(0), row.GetString(1)));
        Assert.Equal([("null", "null"), ("text", "real")], types);
        Assert.True(_database.QuerySingleOrDefault("SELECT $value IS NULL;", row => row.GetBoolean(0), ("$value", null)));
    }

    [Fact]
    public void QueryMapsEveryRowInTheOrderTheStatementReturnsThem()
    {
        _database.Execute(Insert, ("$id", 2), ("$text", "b"), ("$score", 0.5));
        _database.Execute(Insert, ("$id", 3), ("$text", "c"), ("$score", 0.9));
        _database.Execute(Insert, ("$id", 1), ("$text", "a"), ("$score", 0.1));

        var rows = _database.Query(
            "SELECT id, text, score FROM notes WHERE score > $min ORDER BY score DESC;",
            row => (row.GetInt64(0), row.GetString(1), row.GetDouble(2)),
            ("$min", 0.2));

        Assert.Equal([(3L, "c", 0.9), (2L, "b", 0.5)], rows);
        Assert.Empty(_database.Query("SELECT id FROM notes WHERE score > 1;", row => row.GetInt64(0)));
    }

    [Fact]
    public void ExecuteReturnsHowManyRowsItChanged()
    {
        for (var id = 1; id <= 4; id++)
        {
            Assert.Equal(1, _database.Execute(Insert, ("$id", id), ("$text", $"n{id}"), ("$score", id / 10.0)));
        }

        Assert.Equal(3, _database.Execute("UPDATE notes SET text = 'high' WHERE score >= $min;", ("$min", 0.2)));
        Assert.Equal(0, _database.Execute("DELETE FROM notes WHERE id = $id;", ("$id", 99)));
        Assert.Equal(4, _database.Execute("DELETE FROM notes;"));
    }

    [Fact]
    public void QuerySingleOrDefaultGivesTheRowOrNullAndRefusesSeveral()
    {
        _database.Execute(Insert, ("$id", 1), ("$text", "same"), ("$score", 0.1));
        _database.Execute(Insert, ("$id", 2), ("$text", "same"), ("$score", 0.2));

        Assert.Equal("same", _database.QuerySingleOrDefault("SELECT text FROM notes WHERE id = $id;", row => row.GetString(0), ("$id", 2)));
        Assert.Null(_database.QuerySingleOrDefault("SELECT text FROM notes WHERE id = $id;", row => row.GetString(0), ("$id", 3)));
        Assert.Throws<InvalidOperationException>(() =>
            _database.QuerySingleOrDefault("SELECT id FROM notes WHERE text = 'same';", row => row.GetString(0)));
    }

    [Fact]
    public void TransactionCommitsWhatItsWorkWroteAndReturnsItsResult()
    {
        var seen = _database.InTransaction(transaction =>
        {
            transaction.Execute(Insert, ("$id", 1), ("$text", "a"), ("$score", null));
            transaction.Execute(Insert, ("$id", 2), ("$text", "b"), ("$score", null));
            // Reads inside the transaction see its own uncommitted rows.
            return transaction.Query("SELECT text FROM notes ORDER BY id;", row => row.GetString(0));
        });

        Assert.Equal(["a", "b"], seen);
        Assert.Equal(["a", "b"], _database.Query("SELECT text FROM notes ORDER BY id;", row => row.GetString(0)));
    }

    [Fact]
    public void AFailingStatementInsideATransactionLeavesNothingWritten()
    {
        _database.Execute(Insert, ("$id", 1), ("$text", "before"), ("$score", null));

        var error = Assert.Throws<SqliteException>(() => _database.InTransaction(transaction =>
        {
            transaction.Execute("UPDATE notes SET text = 'changed';");
            transaction.Execute(Insert, ("$id", 2), ("$text", "new"), ("$score", null));
            return transaction.Execute("INSERT INTO missing_table VALUES (1);");
        }));

        Assert.Contains("missing_table", error.Message);
        Assert.Equal([(1L, "before")], _database.Query("SELECT id, text FROM notes ORDER BY id;", row => (row.GetInt64(0), row.GetString(1))));
    }

    [Fact]
    public void ATransactionHoldsTheWriteLockFromItsStart()
    {
        // BEGIN IMMEDIATE: before the work has read or written anything, another writer is already kept out.
        // A deferred transaction would take no lock until its first statement, and this insert would succeed.
        var error = _database.InTransaction(_ =>
        {
            using var other = _database.OpenConnection();
            using var command = other.CreateCommand();
            command.CommandText = "INSERT INTO notes (id, text) VALUES (9, 'other');";
            command.CommandTimeout = 1;
            return Assert.Throws<SqliteException>(() => command.ExecuteNonQuery());
        });

        Assert.Equal(5, error.SqliteErrorCode); // SQLITE_BUSY
        Assert.Empty(_database.Query("SELECT id FROM notes;", row => row.GetInt64(0)));
    }
}
