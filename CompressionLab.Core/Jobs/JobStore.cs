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
        "id, kind, title, parameters_json, state, fraction, eta_seconds, message, error, result_json, created_at, started_at, finished_at, " +
        "subject_id, resumes_job_id";

    /// <summary>Inserts or overwrites the row of <paramref name="job"/>, recording which scheduler runs it.</summary>
    public void Save(JobSnapshot job, string owner) =>
        database.Execute(
            $"""
            INSERT INTO jobs ({Columns}, owner)
            VALUES ($id, $kind, $title, $parameters, $state, $fraction, $eta, $message, $error, $result, $created, $started, $finished,
                    $subject, $resumes, $owner)
            ON CONFLICT (id) DO UPDATE SET
                state = excluded.state, fraction = excluded.fraction, eta_seconds = excluded.eta_seconds,
                message = excluded.message, error = excluded.error, result_json = excluded.result_json,
                started_at = excluded.started_at, finished_at = excluded.finished_at, owner = excluded.owner;
            """,
            ("$id", job.Id.ToString()),
            ("$kind", job.Kind),
            ("$title", job.Title),
            ("$parameters", job.ParametersJson),
            ("$state", job.State.ToString()),
            ("$fraction", job.Fraction),
            ("$eta", job.Eta?.TotalSeconds),
            ("$message", job.Message),
            ("$error", job.Error),
            ("$result", job.ResultJson),
            ("$created", WorkspaceTime.Format(job.CreatedAt)),
            ("$started", WorkspaceTime.Format(job.StartedAt)),
            ("$finished", WorkspaceTime.Format(job.FinishedAt)),
            ("$subject", job.Links.Subject?.ToString()),
            ("$resumes", job.Links.Resumes?.ToString()),
            ("$owner", owner));

    public JobSnapshot? Load(Guid id) =>
        database.QuerySingleOrDefault($"SELECT {Columns} FROM jobs WHERE id = $id;", ReadJob, ("$id", id.ToString()));

    /// <summary>The newest <paramref name="limit"/> jobs, newest first.</summary>
    public IReadOnlyList<JobSnapshot> LoadRecent(int limit) =>
        database.Query($"SELECT {Columns} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT $limit;", ReadJob, ("$limit", limit));

    /// <summary>
    /// Marks Queued and Running jobs whose scheduler is gone (<paramref name="ownerIsAlive"/> says no) as
    /// <see cref="JobState.Interrupted"/>, so no job shows as running forever after a crash or restart.
    /// </summary>
    /// <returns>How many jobs were marked.</returns>
    public int InterruptAbandoned(Func<string?, bool> ownerIsAlive, DateTimeOffset now) => database.InTransaction(transaction =>
    {
        var unfinished = transaction.Query(
            "SELECT id, state, owner FROM jobs WHERE state IN ('Queued', 'Running');",
            row => (Id: row.GetString(0), State: row.GetString(1), Owner: row.IsDBNull(2) ? null : row.GetString(2)));
        var abandoned = unfinished.Where(job => !ownerIsAlive(job.Owner)).ToList();
        foreach (var (id, state, _) in abandoned)
        {
            transaction.Execute(
                """
                UPDATE jobs SET state = 'Interrupted', eta_seconds = NULL, error = $error, finished_at = $now
                WHERE id = $id AND state IN ('Queued', 'Running');
                """,
                ("$error", state == nameof(JobState.Running) ? StoppedWhileRunning : StoppedBeforeStart),
                ("$now", WorkspaceTime.Format(now)),
                ("$id", id));
        }

        return abandoned.Count;
    });

    private static JobSnapshot ReadJob(SqliteDataReader row) => new(
        Guid.Parse(row.GetString(0)),
        row.GetString(1),
        row.GetString(2),
        row.GetString(3),
        // A state this version does not know (written by a newer one) is shown as interrupted, not as a crash.
        Enum.TryParse<JobState>(row.GetString(4), out var state) ? state : JobState.Interrupted,
        row.GetDouble(5),
        row.IsDBNull(6) ? null : TimeSpan.FromSeconds(row.GetDouble(6)),
        row.GetString(7),
        row.IsDBNull(8) ? null : row.GetString(8),
        row.IsDBNull(9) ? null : row.GetString(9),
        WorkspaceTime.Parse(row.GetString(10)),
        row.IsDBNull(11) ? null : WorkspaceTime.Parse(row.GetString(11)),
        row.IsDBNull(12) ? null : WorkspaceTime.Parse(row.GetString(12)))
    {
        Links = new JobLinks(ReadId(row, 13), ReadId(row, 14)),
    };

    // Copied from old parameters by a migration, so a value that is no id reads as none rather than failing the job list.
    private static Guid? ReadId(SqliteDataReader row, int column) =>
        !row.IsDBNull(column) && Guid.TryParse(row.GetString(column), out var id) ? id : null;
}
