using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>
/// The statements of one <see cref="WorkspaceDatabase.InTransaction{T}"/> call: they share its connection and
/// its BEGIN IMMEDIATE transaction. Valid only while that call runs.
/// </summary>
public sealed class WorkspaceTransaction
{
    private readonly SqliteConnection _connection;
    private readonly SqliteTransaction _transaction;

    internal WorkspaceTransaction(SqliteConnection connection, SqliteTransaction transaction)
    {
        _connection = connection;
        _transaction = transaction;
    }

    /// <inheritdoc cref="WorkspaceDatabase.Query{T}"/>
    public IReadOnlyList<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters) =>
        WorkspaceSql.Query(_connection, _transaction, sql, map, parameters);

    /// <inheritdoc cref="WorkspaceDatabase.QuerySingleOrDefault{T}"/>
    public T? QuerySingleOrDefault<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters) =>
        WorkspaceSql.Query(_connection, _transaction, sql, map, parameters).SingleOrDefault();

    /// <inheritdoc cref="WorkspaceDatabase.Execute"/>
    public int Execute(string sql, params (string Name, object? Value)[] parameters) =>
        WorkspaceSql.Execute(_connection, _transaction, sql, parameters);
}
