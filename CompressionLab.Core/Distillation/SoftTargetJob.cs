using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Distillation;

/// <summary>A teacher (one model, or several whose soft targets are averaged) against a student, on one validation subset.</summary>
/// <param name="Temperatures">The T grid the summary is computed at (any T can be asked of the comparison afterwards).</param>
public sealed record SoftTargetRequest(
    IReadOnlyList<ModelSource> Teachers,
    ModelSource Student,
    string? Dataset = null,
    IReadOnlyList<double>? Temperatures = null,
    int SubsetSize = AnalysisSubset.DefaultSize)
{
    public IReadOnlyList<double> Grid => Temperatures ?? SoftTargetComparison.DefaultTemperatures;

    /// <summary>A model source's own check, its complaint reported against this request's <paramref name="setting"/> (a teacher, the student).</summary>
    private static void Renamed(string setting, Action validate)
    {
        try
        {
            validate();
        }
        catch (InvalidRequestException e) when (e.Setting == ModelSource.Setting)
        {
            throw new InvalidRequestException(setting, e.Message, e);
        }
    }

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Teachers is null || Teachers.Count == 0) throw new InvalidRequestException(nameof(Teachers), "Choose at least one teacher.");
        foreach (var teacher in Teachers)
        {
            if (teacher is null) throw new InvalidRequestException(nameof(Teachers), "A teacher is missing.");
            Renamed(nameof(Teachers), teacher.Validate);
        }
        if (Student is null) throw new InvalidRequestException(nameof(Student), "Choose a student.");
        Renamed(nameof(Student), Student.Validate);
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset.");
        if (Grid.Count == 0) throw new InvalidRequestException(nameof(Temperatures), "Give at least one temperature.");
        foreach (var t in Grid)
            if (!(t > 0) || double.IsInfinity(t))
                throw new InvalidRequestException(nameof(Temperatures), string.Create(CultureInfo.InvariantCulture, $"A temperature must be a finite number above 0 (got {t})."));
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The subset needs at least one image (got {SubsetSize}).");
    }

    /// <summary>Parses <c>1,2,4,8</c>; a bad entry is named.</summary>
    /// <exception cref="InvalidRequestException">For <c>Temperatures</c>: an entry that is not a number above 0.</exception>
    public static IReadOnlyList<double> ParseTemperatures(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new InvalidRequestException(nameof(Temperatures), "Give at least one temperature, e.g. 1,2,4,8.");
        var values = new List<double>();
        foreach (var part in parts)
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) || !(t > 0) || double.IsInfinity(t))
                throw new InvalidRequestException(nameof(Temperatures), $"'{part}' is not a temperature: each T must be a number above 0, e.g. 1,2,4,8.");
            values.Add(t);
        }
        return values;
    }
}

/// <summary>What the comparison found: each model's logits (cached in the workspace), the comparison, and its T grid.</summary>
public sealed record SoftTargetReport(
    IReadOnlyList<ModelLogits> Teachers,
    ModelLogits Student,
    string Dataset,
    IReadOnlyList<string> ClassNames,
    SoftTargetComparison Comparison,
    IReadOnlyList<TemperaturePoint> Points,
    double Seconds);

/// <summary>
/// The soft-target comparison as one job body (dashboard and <c>kd compare</c>): each model's logits on the subset, read
/// from the workspace when it has them, then every T of the grid from those logits.
/// </summary>
public static class SoftTargetJob
{
    public const string Kind = "soft-targets";

    public static SoftTargetReport Run(
        SoftTargetRequest request,
        DatasetCatalog catalog,
        ModelStore? store,
        LogitsStore? cache,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var student = request.Student.Resolve(store);
        var datasetName = request.Dataset ?? student.Dataset;
        var models = request.Teachers.Append(request.Student).ToArray();
        var logits = new ModelLogits[models.Length];
        for (var i = 0; i < models.Length; i++)
        {
            var share = new ScaledProgress(progress, (double)i / models.Length, 0.95 / models.Length);
            logits[i] = LogitsJob.Run(new LogitsRequest(models[i], datasetName, request.SubsetSize), catalog, store, cache, share, cancellationToken).Logits;
        }
        var comparison = new SoftTargetComparison(logits[..^1], logits[^1]);
        var points = comparison.Sweep(request.Grid);
        progress.Report(1, string.Create(CultureInfo.InvariantCulture, $"Compared at {points.Count} temperatures on {comparison.Rows:N0} images"));
        return new SoftTargetReport(logits[..^1], logits[^1], datasetName, catalog.Load(datasetName).Test.ClassNames, comparison, points, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Maps a sub-task's 0..1 progress into [offset, offset + width] of the whole.</summary>
    private sealed class ScaledProgress(IJobProgress inner, double offset, double width) : IJobProgress
    {
        public void Report(double fraction, string message) => inner.Report(offset + (width * Math.Clamp(fraction, 0, 1)), message);

        public void Publish(JobPartial partial) => inner.Publish(partial);
    }
}
