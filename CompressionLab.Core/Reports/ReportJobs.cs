using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Reports;

/// <summary>What a report job wrote: the file, the sections with data (report order) and the gaps, as <c>report --json</c> prints them.</summary>
public sealed record ReportJobResult(string Out, IReadOnlyList<string> Sections, IReadOnlyList<ReportGap> Gaps, long Bytes);

/// <summary>
/// Starts a report as a job: <see cref="CompressionReportBuilder.Build"/> then <see cref="ReportHtml.WriteFile"/>, the two
/// steps the CLI's <c>report</c> runs, so the dashboard's file is the CLI's for the same request.
/// </summary>
public sealed class ReportJobs(IJobScheduler scheduler, DatasetCatalog catalog, WorkspaceDatabase database, ModelStore store)
{
    public const string Kind = "report";

    /// <param name="out">The .html file to write (replaced).</param>
    /// <param name="resolve">
    /// Completes the request on the job's thread before the report is built (e.g. a stored plan turned into a plan, which
    /// reads the model's layers); null: the request as given.
    /// </param>
    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense (<see cref="InvalidRequestException"/>).</exception>
    public JobSnapshot StartReport(ReportRequest request, string @out, Func<ReportRequest, ReportRequest>? resolve = null, JobLinks? links = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(@out);
        request.Validate();
        var model = request.Model.Resolve(store);
        var parameters = new System.Text.Json.Nodes.JsonObject
        {
            ["model"] = System.Text.Json.JsonSerializer.SerializeToNode<ModelSource>(request.Model, ModelJobJson.Options),
            ["dataset"] = request.Dataset ?? model.Dataset,
            ["plan"] = request.PlanName,
            ["calibrationMethod"] = request.CalibrationMethod,
            ["subsetSize"] = request.SubsetSize,
            ["calibrationSize"] = request.CalibrationSize,
            ["out"] = Path.GetFullPath(@out),
        };
        return scheduler.Enqueue(Kind, $"Report · {model.DisplayName}", parameters.ToJsonString(ModelJobJson.Options), (job, cancellationToken) =>
        {
            var full = resolve is null ? request : resolve(request);
            var report = new CompressionReportBuilder(catalog, database).Build(full, job.Progress, cancellationToken);
            var path = Path.GetFullPath(@out);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            ReportHtml.WriteFile(path, report);
            return Task.FromResult<string?>(ModelJobJson.Write(new ReportJobResult(path, report.Sections, report.Gaps, new FileInfo(path).Length)));
        }, links);
    }

    /// <exception cref="System.Text.Json.JsonException">The result is not a report job's.</exception>
    public static ReportJobResult ReadResult(string resultJson) => ModelJobJson.Read<ReportJobResult>(resultJson);
}
