using CompressionLab.Core.Workspace;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Jobs;

/// <summary>The <c>jobs</c> table: one row per job, rewritten as the job changes.</summary>
internal sealed class JobStore(WorkspaceDatabase database)
{
    internal const string StoppedWhileRunning =
        "The app stopped while this job was running. Whatever it had saved as it went is kept; start it again to finish.";

    internal const string StoppedBeforeStart = "The app stopped before this job started.";

    private const string Columns =
        "id, kind, title, parameters_json, state, fraction, eta_seconds, message, error, result_json, created_at, started_at, finished_at";

    /// <summary>Inserts or overwrites the row of <paramref name="job"/>, recording which scheduler runs it.</summary>
    public void Save(JobSnapshot job, string owner)
    {
        using var connection = database.OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            INSERT INTO jobs ({Columns}, owner)
            VALUES ($id, $kind, $title, $parameters, $state, $fraction, $eta, $message, $error, $result, $created, $started, $finished, $owner)
            ON CONFLICT (id) DO UPDATE SET
                state = excluded.state, fraction = excluded.fraction, eta_seconds = excluded.eta_seconds,
                message = excluded.message, error = excluded.error, result_json = excluded.result_json,
                started_at = excluded.started_at, finished_at = excluded.finished_at, owner = excluded.owner;
            """;
        command.Parameters.AddWithValue("$id", job.Id.ToString());
        command.Parameters.AddWithValue("$kind", job.Kind);
        command.Parameters.AddWithValue("$title", job.Title);
        command.Parameters.AddWithValue("$parameters", job.ParametersJson);
        command.Parameters.AddWithValue("$state", job.State.ToString());
        command.Parameters.AddWithValue("$fraction", job.Fraction);
        command.Parameters.AddWithValue("$eta", job.Eta is { } eta ? eta.TotalSeconds : DBNull.Value);
        command.Parameters.AddWithValue("$message", job.Message);
        command.Parameters.AddWithValue("$error", (object?)job.Error ?? DBNull.Value);
        command.Parameters.AddWithValue("$result", (object?)job.ResultJson ?? DBNull.Value);
        command.Parameters.AddWithValue("$created", WorkspaceTime.Format(job.CreatedAt));
        command.Parameters.AddWithValue("$started", (object?)WorkspaceTime.Format(job.StartedAt) ?? DBNull.Value);
        command.Parameters.AddWithValue("$finished", (object?)WorkspaceTime.Format(job.FinishedAt) ?? DBNull.Value);
        command.Parameters.AddWithValue("$owner", owner);
        command.ExecuteNonQuery();
    }

    public JobSnapshot? Load(Guid id)
    {
        using var connection = database.OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM jobs WHERE id = $id;";
        command.Parameters.AddWithValue("$id", id.ToString());
        return ReadAll(command).SingleOrDefault();
    }

    /// <summary>The newest <paramref name="limit"/> jobs, newest first.</summary>
    public IReadOnlyList<JobSnapshot> LoadRecent(int limit)
    {
        using var connection = database.OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT $limit;";
        command.Parameters.AddWithValue("$limit", limit);
        return ReadAll(command);
    }

    /// <summary>
    /// Marks Queued and Running jobs whose scheduler is gone (<paramref name="ownerIsAlive"/> says no) as
    /// <see cref="JobState.Interrupted"/>, so no job shows as running forever after a crash or restart.
    /// </summary>
    /// <returns>How many jobs were marked.</returns>
    public int InterruptAbandoned(Func<string?, bool> ownerIsAlive, DateTimeOffset now)
    {
        using var connection = database.OpenConnection();
        using var transaction = connection.BeginTransaction();
        var abandoned = new List<(string Id, string State)>();
        using (var find = connection.CreateCommand())
        {
            find.Transaction = transaction;
            find.CommandText = "SELECT id, state, owner FROM jobs WHERE state IN ('Queued', 'Running');";
            using var reader = find.ExecuteReader();
            while (reader.Read())
            {
                var owner = reader.IsDBNull(2) ? null : reader.GetString(2);
                if (!ownerIsAlive(owner))
                {
                    abandoned.Add((reader.GetString(0), reader.GetString(1)));
                }
            }
        }

        foreach (var (id, state) in abandoned)
        {
            using var mark = connection.CreateCommand();
            mark.Transaction = transaction;
            mark.CommandText = """
                UPDATE jobs SET state = 'Interrupted', eta_seconds = NULL, error = $error, finished_at = $now
                WHERE id = $id AND state IN ('Queued', 'Running');
                """;
            mark.Parameters.AddWithValue("$error", state == nameof(JobState.Running) ? StoppedWhileRunning : StoppedBeforeStart);
            mark.Parameters.AddWithValue("$now", WorkspaceTime.Format(now));
            mark.Parameters.AddWithValue("$id", id);
            mark.ExecuteNonQuery();
        }

        transaction.Commit();
        return abandoned.Count;
    }

    private static List<JobSnapshot> ReadAll(SqliteCommand command)
    {
        var jobs = new List<JobSnapshot>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            jobs.Add(new JobSnapshot(
                Guid.Parse(reader.GetString(0)),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetString(3),
                // A state this version does not know (written by a newer one) is shown as interrupted, not as a crash.
                Enum.TryParse<JobState>(reader.GetString(4), out var state) ? state : JobState.Interrupted,
                reader.GetDouble(5),
                reader.IsDBNull(6) ? null : TimeSpan.FromSeconds(reader.GetDouble(6)),
                reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8),
                reader.IsDBNull(9) ? null : reader.GetString(9),
                WorkspaceTime.Parse(reader.GetString(10)),
                reader.IsDBNull(11) ? null : WorkspaceTime.Parse(reader.GetString(11)),
                reader.IsDBNull(12) ? null : WorkspaceTime.Parse(reader.GetString(12))));
        }

        return jobs;
    }
}
