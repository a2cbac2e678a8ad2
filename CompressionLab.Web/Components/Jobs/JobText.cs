using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using MudBlazor;

namespace CompressionLab.Web.Components.Jobs;

/// <summary>How the job list words and colours a job (kept apart from markup so tests can pin it).</summary>
public static class JobText
{
    public static string State(JobState state) => state switch
    {
        JobState.Queued => "Queued",
        JobState.Running => "Running",
        JobState.Succeeded => "Succeeded",
        JobState.Failed => "Failed",
        JobState.Cancelled => "Cancelled",
        JobState.Interrupted => "Interrupted",
        _ => state.ToString(),
    };

    public static Color StateColor(JobState state) => state switch
    {
        JobState.Running => Color.Info,
        JobState.Succeeded => Color.Success,
        JobState.Failed => Color.Error,
        JobState.Interrupted => Color.Warning,
        _ => Color.Default,
    };

    public static bool CanCancel(JobSnapshot job) => job.State is JobState.Queued or JobState.Running;

    /// <summary>Percent done, shown as a whole number; a succeeded job is 100 % whatever it last reported.</summary>
    public static double Percent(JobSnapshot job) =>
        job.State == JobState.Succeeded ? 100 : Math.Round(Math.Clamp(job.Fraction, 0, 1) * 100, 0);

    /// <summary>"45 s", "3 min 05 s", "1 h 12 min"; a dash when unknown or finished.</summary>
    public static string Eta(JobSnapshot job) =>
        job.IsFinished || job.Eta is not { } eta ? "—" : Duration(eta);

    public static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
        {
            span = TimeSpan.Zero;
        }
        var seconds = (long)Math.Ceiling(span.TotalSeconds);
        return seconds switch
        {
            < 60 => $"{seconds} s",
            < 3600 => string.Create(CultureInfo.InvariantCulture, $"{seconds / 60} min {seconds % 60:00} s"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600} h {seconds % 3600 / 60:00} min"),
        };
    }

    /// <summary>A short local time: "14:05" today, "Nov 28 14:05" on another day; a dash when not yet.</summary>
    public static string Time(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is not { } value)
        {
            return "—";
        }
        var local = value.ToLocalTime();
        var format = local.Date == now.ToLocalTime().Date ? "HH:mm" : "MMM d HH:mm";
        return local.ToString(format, CultureInfo.InvariantCulture);
    }

    public static string FullTime(DateTimeOffset? at) =>
        at is { } value ? value.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture) : "";

    /// <summary>The line a person reads about what happened: the error for a failure, an explanation for an interruption.</summary>
    public static string Detail(JobSnapshot job) => job.State switch
    {
        JobState.Failed => string.IsNullOrWhiteSpace(job.Error) ? "Failed without an error message." : job.Error,
        JobState.Interrupted => "The app stopped while this job was running, so it did not finish."
            + (string.IsNullOrWhiteSpace(job.Message) ? "" : $" Last step: {job.Message}"),
        _ => job.Message,
    };

    /// <summary>"2 of 7 epochs were finished and saved; Resume continues with epoch 3.", or why the saved state cannot be used.</summary>
    public static string SavedEpochs(SavedTraining saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        if (saved.Problem is { } problem)
        {
            return $"Its saved epochs cannot be used: {problem}";
        }
        return saved.EpochsDone >= saved.Epochs
            ? string.Create(CultureInfo.InvariantCulture, $"All {saved.Epochs} epochs were finished and saved; Resume evaluates and stores the model.")
            : string.Create(CultureInfo.InvariantCulture,
                $"{saved.EpochsDone} of {saved.Epochs} epoch{(saved.Epochs == 1 ? "" : "s")} {(saved.EpochsDone == 1 ? "was" : "were")} finished and saved; Resume continues with epoch {saved.EpochsDone + 1}.");
    }

    /// <summary>
    /// Whether <paramref name="job"/> offers Resume: it saved a usable state and no queued or running job of
    /// <paramref name="jobs"/> is resuming it already.
    /// </summary>
    public static bool CanResume(JobSnapshot job, IReadOnlyDictionary<Guid, SavedTraining> saved, IEnumerable<JobSnapshot> jobs)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(saved);
        ArgumentNullException.ThrowIfNull(jobs);
        return saved.GetValueOrDefault(job.Id) is { CanResume: true } && !jobs.Any(other => !other.IsFinished && other.Links.Resumes == job.Id);
    }
}
