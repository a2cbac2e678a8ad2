using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Web.Components.Jobs;

namespace CompressionLab.Web.Components.Pages.ModelsData;

/// <summary>How the Models &amp; data page words numbers (kept apart from markup so tests can pin it).</summary>
public static class ModelsDataText
{
    /// <summary>A 0..1 fraction as "91.23 %"; a dash when unknown.</summary>
    public static string Accuracy(double? fraction) =>
        fraction is double value ? string.Create(CultureInfo.InvariantCulture, $"{value * 100:0.00}\u00a0%") : "—";

    public static string Count(long count) => count.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>"about 12 min", "about 40 s": an estimate is not precise, so it is not shown to the second.</summary>
    public static string About(TimeSpan span)
    {
        var seconds = span.TotalSeconds;
        return seconds switch
        {
            < 60 => string.Create(CultureInfo.InvariantCulture, $"about {Math.Max(1, Math.Round(seconds / 5) * 5):0} s"),
            < 3600 => string.Create(CultureInfo.InvariantCulture, $"about {Math.Max(1, Math.Round(seconds / 60)):0} min"),
            _ => string.Create(CultureInfo.InvariantCulture, $"about {Math.Floor(seconds / 3600):0} h {Math.Round(seconds % 3600 / 60):00} min"),
        };
    }

    public static string Split(SplitPart split) => split switch
    {
        SplitPart.Test => "test",
        SplitPart.Validation => "validation",
        _ => split.ToString().ToLowerInvariant(),
    };

    /// <summary>"synthetic (generated in code)" for the synthetic dataset, else where it was loaded from.</summary>
    public static string Where(DatasetInfo dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        return dataset.IsSynthetic ? "synthetic (generated in code)" : dataset.Path ?? dataset.Source;
    }

    public static string Location(DatasetLocationKind kind) => kind switch
    {
        DatasetLocationKind.Configured => "Configured folder",
        DatasetLocationKind.Development => "Shared folder beside the checkout",
        DatasetLocationKind.System => "System package (dataset-fashion-mnist)",
        DatasetLocationKind.Cache => "Download cache",
        _ => kind.ToString(),
    };

    /// <summary>What a finished training job stored, for the line under its progress bar.</summary>
    public static string? TrainingOutcome(string? resultJson)
    {
        if (string.IsNullOrWhiteSpace(resultJson))
        {
            return null;
        }
        try
        {
            var result = ModelJobJson.Read<TrainingJobResult>(resultJson);
            return string.Create(CultureInfo.InvariantCulture,
                $"Stored \"{result.DisplayName}\": test top-1 {Accuracy(result.Top1)} in {JobText.Duration(TimeSpan.FromSeconds(result.Seconds))}.");
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>Why the estimate has not started: the jobs ahead of it in the queue (see <see cref="Services.JobBoard.Ahead"/>).</summary>
    public static string EstimateQueued(IReadOnlyList<JobSnapshot> ahead)
    {
        ArgumentNullException.ThrowIfNull(ahead);
        return ahead.Count switch
        {
            0 => "Queued: measuring this machine's training speed for an estimate starts in a moment.",
            1 => $"Queued behind \"{ahead[0].Title}\": the training speed is measured when it finishes, so the two do not compete for the processor.",
            _ => string.Create(CultureInfo.InvariantCulture,
                $"Queued behind {ahead.Count} jobs (\"{ahead[0].Title}\" first): the training speed is measured when they finish, so they do not compete for the processor."),
        };
    }

    /// <summary>An uploaded checkpoint waiting for its check: the jobs ahead of it in the queue.</summary>
    public static string ImportQueued(string fileName, IReadOnlyList<JobSnapshot> ahead)
    {
        ArgumentNullException.ThrowIfNull(ahead);
        return ahead.Count switch
        {
            0 => $"{fileName} is uploaded and queued: it is checked in a moment.",
            1 => $"{fileName} is uploaded and queued behind \"{ahead[0].Title}\": it is checked when that finishes.",
            _ => string.Create(CultureInfo.InvariantCulture,
                $"{fileName} is uploaded and queued behind {ahead.Count} jobs (\"{ahead[0].Title}\" first): it is checked when they finish."),
        };
    }

    /// <summary>What a finished import job did, as the upload shows it.</summary>
    public static string ImportOutcome(CheckpointImportReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return report.AlreadyPresent
            ? $"{report.FileName} is already in the workspace as \"{report.DisplayName}\"; nothing was added."
            : $"Imported \"{report.DisplayName}\": {report.Architecture} trained on {report.Dataset}, test top-1 {Accuracy(report.Top1)}.";
    }
}
