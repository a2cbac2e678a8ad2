using System.Globalization;
using System.Reflection;
using CompressionLab.Core.Data;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Reports;

/// <summary>What a report is about and what it may compute.</summary>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="Plan">A plan for the model (a plan file read by the front end); null: the workspace's newest evaluated plan of these weights, if any.</param>
/// <param name="PlanName">How the report names the plan's origin (the file name).</param>
/// <param name="CalibrationMethod">A method text (<see cref="ClippingMethod.Parse"/>): calibrate with it and simulate INT8; null: show a stored profile only.</param>
/// <param name="Teachers">Teachers to compare the model's soft targets with (the model is the student); null or empty: no comparison.</param>
/// <param name="SubsetSize">Validation images for the plan's measurement and the soft targets (the sweeps' default subset).</param>
/// <param name="CalibrationSize">Validation images for calibration.</param>
public sealed record ReportRequest(
    ModelSource Model,
    string? Dataset = null,
    PruningPlan? Plan = null,
    string? PlanName = null,
    string? CalibrationMethod = null,
    IReadOnlyList<ModelSource>? Teachers = null,
    QuantizationMode Mode = QuantizationMode.Symmetric,
    int SubsetSize = AnalysisSubset.DefaultSize,
    int CalibrationSize = CalibrationRequest.DefaultSubsetSize)
{
    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose the model to report on.");
        Model.Validate();
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset.");
        if (Plan is not null && Plan.Stages.Count == 0) throw new InvalidRequestException(nameof(Plan), "The plan has no stages.");
        if (CalibrationMethod is not null)
        {
            // The calibration request owns the method's rules (the entropy method needs symmetric mode, say).
            new CalibrationRequest(Model, Dataset, CalibrationMethod, Mode, CalibrationSize).Validate();
        }
        if (Mode is not (QuantizationMode.Symmetric or QuantizationMode.Asymmetric))
            throw new InvalidRequestException(nameof(Mode), $"The mode must be symmetric or asymmetric (got {Mode}).");
        foreach (var teacher in Teachers ?? [])
        {
            if (teacher is null) throw new InvalidRequestException(nameof(Teachers), "A teacher is missing.");
            try
            {
                teacher.Validate();
            }
            catch (InvalidRequestException e) when (e.Setting == ModelSource.Setting)
            {
                throw new InvalidRequestException(nameof(Teachers), e.Message, e);
            }
        }
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The subset needs at least one image (got {SubsetSize}).");
        if (CalibrationSize < 1) throw new InvalidRequestException(nameof(CalibrationSize), $"The calibration subset needs at least one image (got {CalibrationSize}).");
    }
}

/// <summary>
/// Collects a <see cref="CompressionReport"/> for one model from the workspace, computing only the cheap parts: what
/// the CLI's <c>report</c> and the dashboard both call.
/// </summary>
/// <remarks>
/// <para>Read from the workspace, never computed (each costs minutes): the sensitivity curves (the newest sweep of these
/// weights on the dataset, with every criterion swept on the same images) and stored simulated INT8 results.</para>
/// <para>Computed when asked, each one evaluation pass or two over a few thousand images, through the same job bodies as
/// everywhere else (so results are kept in the workspace and read back next time): the plan's measurement
/// (<see cref="PlanEvaluationJob"/>), the soft targets (<see cref="SoftTargetJob"/>, logits cached), and calibration with
/// its INT8 simulation (<see cref="CalibrationJob"/>).</para>
/// <para>Without a plan, the workspace's newest evaluated plan of these weights is shown; without a method, the stored
/// calibration profile (if any) with thresholds for the entropy method and no new simulation.</para>
/// </remarks>
public sealed class CompressionReportBuilder(DatasetCatalog catalog, WorkspaceDatabase database, TimeProvider? time = null)
{
    /// <summary>The method whose thresholds a stored profile is shown with when none is asked for (the calibration default).</summary>
    public const string DefaultMethod = "entropy";

    private readonly DatasetCatalog _catalog = catalog ?? throw new ArgumentNullException(nameof(catalog));
    private readonly WorkspaceDatabase _database = database ?? throw new ArgumentNullException(nameof(database));
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The CompressionLab version written into reports.</summary>
    public static string ToolVersion =>
        typeof(CompressionReport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(CompressionReport).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset.</exception>
    public CompressionReport Build(ReportRequest request, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var store = new ModelStore(_database);
        var model = request.Model.Resolve(store);
        var metadata = Checkpoint.ReadMetadata(model.CheckpointPath);
        var dataset = request.Dataset ?? model.Dataset;
        var hash = metadata.ContentHash;
        var lineage = metadata.Lineage is { } l ? $"{l.Operation} of {l.ParentName ?? l.ParentWeightsHash[..12]}" : null;
        var reportModel = new ReportModel(model.DisplayName, metadata.Architecture, hash, dataset, metadata.Dataset, metadata.Top1, metadata.ParameterCount, lineage);
        var gaps = new Dictionary<string, string>();

        progress.Report(0, "Reading the workspace's sweeps");
        var sensitivity = Sensitivity(hash, dataset);
        if (sensitivity is null)
            gaps[ReportSections.Sensitivity] = $"No sensitivity sweep of these weights on {dataset} in the workspace: run one on the Sensitivity page or with `compressionlab sweep --model FILE --dataset {dataset}` (same workspace).";
        cancellationToken.ThrowIfCancellationRequested();

        var plan = request.Plan is { } given
            ? MeasuredPlan(request, given, dataset, store, new ScaledProgress(progress, 0.05, 0.3), cancellationToken)
            : StoredPlan(metadata, dataset);
        if (plan is null)
            gaps[ReportSections.Plan] = "No pruning plan: give one (--plan FILE), or evaluate one on the Pruning page or with `compressionlab plan evaluate` (same workspace).";
        cancellationToken.ThrowIfCancellationRequested();

        SoftTargetSection? soft = null;
        if (request.Teachers is { Count: > 0 } teachers)
        {
            var compared = SoftTargetJob.Run(new SoftTargetRequest(teachers, request.Model, dataset, null, request.SubsetSize), _catalog, store,
                new LogitsStore(_database), new ScaledProgress(progress, 0.35, 0.3), cancellationToken);
            soft = new SoftTargetSection([.. compared.Teachers.Select(t => t.Model)], compared.Student.Model, compared.ClassNames, compared.Comparison.Rows,
                compared.Student.SubsetKey, compared.Points, SoftTargetSection.DefaultHeatmapTemperature(compared.Points));
        }
        else
        {
            gaps[ReportSections.SoftTargets] = "No soft-target comparison: give a teacher (--teacher FILE) to compare this model's soft targets with, or use the Distillation page.";
        }
        cancellationToken.ThrowIfCancellationRequested();

        var calibration = Calibration(request, dataset, hash, store, new ScaledProgress(progress, 0.65, 0.35), cancellationToken);
        if (calibration is null)
            gaps[ReportSections.Calibration] = $"No calibration yet: no calibration profile of these weights on {dataset} in the workspace. Give --calibration-method (e.g. entropy) to calibrate now, or run it on the Quantization page.";

        progress.Report(1, "Report assembled");
        return new CompressionReport(reportModel, _time.GetUtcNow(), ToolVersion)
        {
            Sensitivity = sensitivity,
            Plan = plan,
            SoftTargets = soft,
            Calibration = calibration,
            GapReasons = gaps,
        };
    }

    /// <summary>The newest sweep's identity of these weights on the dataset, with every criterion swept there.</summary>
    private SensitivitySection? Sensitivity(string hash, string dataset)
    {
        var history = new SweepHistory(_database, _time);
        var cells = new SqliteSweepCellStore(_database, _time);
        var sweeps = history.List().Where(r => r.ModelHash == hash && r.Dataset == dataset).ToList();
        foreach (var identity in sweeps.Select(r => r.Identity).Distinct())
        {
            var same = sweeps.Where(r => r.Identity == identity).ToList();
            var methods = same.Select(r => PruningMethod.Parse(r.Criterion)).Distinct();
            if (StoredSweepCurves.Read(cells, identity, methods) is { Curves.Count: > 0 } curves)
            {
                // The store gives cells by name; a chart's legend reads best in the network's order.
                var order = same.SelectMany(r => r.Layers).Select(l => l.Name).Distinct().ToList();
                var ordered = curves.Curves.OrderBy(c => order.IndexOf(c.Layer) is var i && i >= 0 ? i : int.MaxValue).ToArray();
                return new SensitivitySection(curves with { Curves = ordered }, same[0].SubsetSize);
            }
        }
        return null;
    }

    private PlanSection MeasuredPlan(ReportRequest request, PruningPlan plan, string dataset, ModelStore store, IJobProgress progress, CancellationToken cancellationToken)
    {
        var outcome = PlanEvaluationJob.Run(new PlanEvaluationRequest(request.Model, plan, dataset, request.SubsetSize), _catalog, store,
            new SqliteSweepCellStore(_database, _time), new PlanEvaluationStore(_database), new JobContext(Guid.CreateVersion7(), progress), cancellationToken);
        return new PlanSection(request.PlanName ?? "the request", outcome.Plan, outcome.Dense, outcome.Pruned, outcome.Prediction, outcome.Measured, outcome.Key.Subset);
    }

    /// <summary>The newest evaluated plan of these weights on the dataset, as the workspace keeps it; no weight is read.</summary>
    private PlanSection? StoredPlan(CheckpointMetadata metadata, string dataset)
    {
        var stored = new PlanEvaluationStore(_database).List(metadata.ContentHash).FirstOrDefault(e => e.Key.Dataset == dataset);
        if (stored is null) return null;
        using var network = ModelZoo.Create(metadata.Architecture, metadata.ClassNames.Count, metadata.InputHeight, metadata.InputWidth, metadata.Widths);
        var plan = PlanContent.ToPlan(network.Layers, stored.Levels).Resolve(network.Layers);
        var identity = new SweepIdentity(metadata.ContentHash, dataset, stored.Key.Subset);
        var prediction = PlanEvaluationJob.Predict(new SqliteSweepCellStore(_database, _time), identity, network.Graph, plan);
        var when = stored.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        return new PlanSection($"the workspace's newest evaluated plan of these weights (measured {when} UTC)", plan, PlanSize.Dense(network.Graph),
            PlanSize.Of(network.Graph, plan.Layers), prediction, stored.Measured, stored.Key.Subset);
    }

    private CalibrationSection? Calibration(ReportRequest request, string dataset, string hash, ModelStore store, IJobProgress progress, CancellationToken cancellationToken)
    {
        var profiles = new CalibrationProfileStore(_database);
        var stored = StoredInt8Results(hash, dataset);
        if (request.CalibrationMethod is { } method)
        {
            var outcome = CalibrationJob.Run(new CalibrationRequest(request.Model, dataset, method, request.Mode, request.CalibrationSize), _catalog, store, profiles,
                null, progress, cancellationToken);
            var choice = QuantizationChoice.AllLayers(ClippingMethod.Parse(method), request.Mode);
            var run = new Int8Result(outcome.Method, outcome.SubsetKey, outcome.Images, outcome.Top1Int8, outcome.Top1Float);
            return CalibrationSection.From(outcome.Profile, QuantizationThresholds.For(outcome.Profile, choice), methodWasRun: true, [run, .. stored]);
        }
        // The profile of the default calibration size first (what calibrate and the page collect), else any of the dataset.
        var keys = profiles.List(hash).Where(k => k.Dataset == dataset)
            .OrderByDescending(k => k.Subset.StartsWith($"validation/stratified-{request.CalibrationSize}/", StringComparison.Ordinal))
            .ToList();
        foreach (var key in keys)
        {
            if (profiles.Find(key) is not { } profile) continue;
            var choice = QuantizationChoice.AllLayers(ClippingMethod.Parse(DefaultMethod), QuantizationMode.Symmetric);
            return CalibrationSection.From(profile, QuantizationThresholds.For(profile, choice), methodWasRun: false, stored);
        }
        return null;
    }

    /// <summary>The workspace's simulated INT8 measurements of these weights on the dataset (quant compare, the page), each beside the float network on the same images.</summary>
    private IReadOnlyList<Int8Result> StoredInt8Results(string hash, string dataset)
    {
        var all = new Int8EvaluationStore(_database).List(hash).Where(e => e.Key.Dataset == dataset).ToList();
        var floats = all.Where(e => e.Key.Configuration == Int8EvaluationKey.FloatConfiguration)
            .GroupBy(e => e.Key.EvaluationSubset).ToDictionary(g => g.Key, g => g.First().Measured.Top1);
        return [.. all.Where(e => e.Key.Configuration != Int8EvaluationKey.FloatConfiguration)
            .Take(12)
            .Select(e => new Int8Result(e.Key.Configuration, e.Key.EvaluationSubset, e.Measured.Samples, e.Measured.Top1,
                floats.TryGetValue(e.Key.EvaluationSubset, out var f) ? f : null))];
    }

    /// <summary>Maps a part's 0..1 progress into [offset, offset + width] of the whole.</summary>
    private sealed class ScaledProgress(IJobProgress inner, double offset, double width) : IJobProgress
    {
        public void Report(double fraction, string message) => inner.Report(offset + (width * Math.Clamp(fraction, 0, 1)), message);

        public void Publish(JobPartial partial) => inner.Publish(partial);
    }
}
