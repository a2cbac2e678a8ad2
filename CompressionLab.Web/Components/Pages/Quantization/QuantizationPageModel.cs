using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Charts;
using CompressionLab.Web.Components.Jobs;

namespace CompressionLab.Web.Components.Pages.Quantization;

/// <summary>
/// Everything the Quantization page shows and does, without a renderer: the model and calibration subset chosen, the
/// collected profile (read from the workspace when it holds one, else collected by a job), the per-layer calibration
/// (<see cref="CalibrationPreview"/>), the layer selected with its three charts, and the INT8 simulation jobs. The page
/// binds its markup to this and forwards input; tests drive it directly (see README, Dashboard internals).
/// </summary>
/// <remarks>
/// Threading as <c>SensitivityPageModel</c>: job updates are queued on the worker's thread and applied by
/// <see cref="ApplyUpdates"/>; everything else runs on the page's dispatcher, one call at a time.
/// </remarks>
public sealed class QuantizationPageModel : IDisposable
{
    /// <summary>Calibration images by default (issue 8): enough for stable 99.99th percentiles, a few seconds to collect.</summary>
    public const int DefaultSubsetSize = 512;

    private readonly IJobScheduler scheduler;
    private readonly ModelStore store;
    private readonly QuantizationBackend backend;
    private readonly JobUpdateInbox inbox;
    private ThresholdFiles? exports;
    private string? statsYaml;
    private (Guid Model, int Images) shownFor;

    public QuantizationPageModel(IJobScheduler scheduler, ModelStore store, QuantizationBackend backend, Action updatesWaiting)
    {
        this.scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        this.store = store ?? throw new ArgumentNullException(nameof(store));
        this.backend = backend ?? throw new ArgumentNullException(nameof(backend));
        inbox = new JobUpdateInbox(scheduler, backend.Follows, updatesWaiting);
        Models = store.List();
        // Jobs started before the page opened (another tab, a reload) are followed as if started here.
        var unfinished = inbox.Unfinished;
        Collection = unfinished.LastOrDefault(j => j.Kind == backend.CollectKind);
        Comparison = unfinished.LastOrDefault(j => j.Kind == backend.ComparisonKind);
        Sensitivity = unfinished.LastOrDefault(j => j.Kind == backend.SensitivityKind);
        if (Models.FirstOrDefault() is { } first)
        {
            SelectModel(first.Id);
        }
    }

    /// <summary>Models of the workspace, newest first.</summary>
    public IReadOnlyList<ModelRecord> Models { get; private set; }

    public ModelRecord? Model { get; private set; }

    /// <summary>Validation images the profile is collected over (and the simulation evaluated on).</summary>
    public int SubsetSize { get; private set; } = DefaultSubsetSize;

    /// <summary>Why the last action could not be done (shown once, in words), or null.</summary>
    public string? Error { get; private set; }

    /// <summary>The profile of <see cref="Model"/> on <see cref="SubsetSize"/> images; null until collected.</summary>
    public CalibrationProfile? Profile => Preview?.Profile;

    public CalibrationPreview? Preview { get; private set; }

    /// <summary>The table's rows after the last change (a new list each time).</summary>
    public IReadOnlyList<CalibrationRow> Rows { get; private set; } = [];

    /// <summary>The layer whose charts are shown.</summary>
    public string? SelectedLayer { get; private set; }

    /// <summary>The histogram's counts on a log scale (the tails of an activation are invisible on a linear one).</summary>
    public bool LogY { get; private set; } = true;

    public HistogramFigure? Histogram { get; private set; }

    /// <summary>Null in asymmetric mode (the curve is over one amax) or for a single-valued input.</summary>
    public ErrorCurveFigure? ErrorCurve { get; private set; }

    public ChannelRangeFigure? Channels { get; private set; }

    /// <summary>The figures as the charts draw them; new instances whenever they change (the chart redraws on a new one).</summary>
    public PlotFigure? HistogramPlot { get; private set; }

    public PlotFigure? ErrorCurvePlot { get; private set; }

    public PlotFigure? ChannelPlot { get; private set; }

    /// <summary>The collection job started or found running for this page.</summary>
    public JobSnapshot? Collection { get; private set; }

    public JobSnapshot? Comparison { get; private set; }

    public JobSnapshot? Sensitivity { get; private set; }

    /// <summary>Float, each method for all layers, and the chosen mix (the last finished comparison for this profile).</summary>
    public Int8Comparison? ComparisonResult { get; private set; }

    /// <summary>Each layer quantized alone, the ones that lose most first.</summary>
    public Int8Sensitivity? SensitivityResult { get; private set; }

    /// <summary>The comparison shown measured another mix than the one chosen now.</summary>
    public bool ComparisonStale => ComparisonResult?.Mix is { } mix && Preview is not null && mix.Choice != Preview.ToChoice().Key;

    /// <summary>"int8-thresholds-vgg-small-512" (the downloads' name without extension).</summary>
    public string ThresholdsFileName => Profile is null ? "int8-thresholds" : ThresholdsExport.FileName(Profile);

    /// <summary>The thresholds table as CSV; null without a profile or while a layer's method cannot run.</summary>
    public string? ThresholdsCsv() => (exports ??= Export())?.Csv;

    public string? ThresholdsJson() => (exports ??= Export())?.Json;

    /// <summary>Distiller's activation statistics YAML of the profile, when the engine provides the writer.</summary>
    public string? StatsYaml() => Profile is null ? null : statsYaml ??= backend.StatsYaml(Profile);

    /// <summary>A sentence after the chosen threshold when entropy cannot clip this layer's isolated outliers; else "".</summary>
    public string EntropyNote(string layer) =>
        Preview is not null && Preview.EntropyKeepsOutliers(Preview.Profile.Layer(layer))
            ? " Note: entropy keeps the whole range here: the largest values are isolated outliers after an empty gap, which the KL search cannot cut (percentile or MSE can)."
            : "";

    public bool Collecting => Collection is { IsFinished: false };

    public bool Simulating => Comparison is { IsFinished: false } || Sensitivity is { IsFinished: false };

    /// <summary>Chooses a model: shows its cached profile for the current subset size, if the workspace has one.</summary>
    public void SelectModel(Guid modelId)
    {
        Error = null;
        if (Models.FirstOrDefault(m => m.Id == modelId) is not { } model)
        {
            Models = store.List();
            model = Models.FirstOrDefault(m => m.Id == modelId);
            if (model is null)
            {
                Error = "That model is no longer in the workspace.";
                return;
            }
        }
        Model = model;
        LoadCached();
    }

    /// <summary>Sets the calibration subset; shows the cached profile for it, if any.</summary>
    public void SetSubsetSize(int size)
    {
        if (size < 1)
        {
            Error = "The calibration subset needs at least 1 image.";
            return;
        }
        Error = null;
        SubsetSize = size;
        LoadCached();
    }

    /// <summary>
    /// Starts collecting the chosen model's profile on the subset (or shows the workspace's copy at once when it holds
    /// one, without a job). Returns the job, or null with <see cref="Error"/> set or the profile shown.
    /// </summary>
    public JobSnapshot? Collect()
    {
        Error = null;
        if (Model is null)
        {
            Error = "Choose a model first.";
            return null;
        }
        if (LoadCached())
        {
            return null;
        }
        try
        {
            Collection = backend.StartCollect(Model, SubsetSize);
            return Collection;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidRequestException)
        {
            Error = e.Message;
            return null;
        }
    }

    /// <summary>Runs the comparison (float, each method for all layers, the chosen mix) on the subset.</summary>
    public JobSnapshot? Compare()
    {
        Error = null;
        if (Model is null || Preview is null)
        {
            Error = "Collect the calibration profile first.";
            return null;
        }
        try
        {
            Comparison = backend.StartComparison(Model, SubsetSize, Preview.ToChoice());
            ComparisonResult = null;
            return Comparison;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidRequestException)
        {
            Error = e.Message;
            return null;
        }
    }

    /// <summary>Quantizes one layer at a time with its chosen method (the rest float) and ranks the layers by the loss.</summary>
    public JobSnapshot? RankSensitivity()
    {
        Error = null;
        if (Model is null || Preview is null)
        {
            Error = "Collect the calibration profile first.";
            return null;
        }
        try
        {
            Sensitivity = backend.StartSensitivity(Model, SubsetSize, Preview.ToChoice());
            SensitivityResult = null;
            return Sensitivity;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidRequestException)
        {
            Error = e.Message;
            return null;
        }
    }

    public bool Cancel(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return scheduler.Cancel(job.Id);
    }

    /// <summary>Applies what the scheduler published; returns a finished job's error, to be shown once, or null.</summary>
    public string? ApplyUpdates()
    {
        string? failure = null;
        while (inbox.TryTake(out var update))
        {
            var job = update.Job;
            if (job.Kind == backend.CollectKind && (job.Id == Collection?.Id || (Collection is null or { IsFinished: true } && !job.IsFinished)))
            {
                Collection = job;
                if (job.State == JobState.Succeeded && Model is not null)
                {
                    LoadCached();
                }
            }
            else if (job.Kind == backend.ComparisonKind && (job.Id == Comparison?.Id || (Comparison is null or { IsFinished: true } && !job.IsFinished)))
            {
                Comparison = job;
                if (job.State == JobState.Succeeded && job.ResultJson is { } json)
                {
                    ComparisonResult = backend.ReadComparison(json);
                }
            }
            else if (job.Kind == backend.SensitivityKind && (job.Id == Sensitivity?.Id || (Sensitivity is null or { IsFinished: true } && !job.IsFinished)))
            {
                Sensitivity = job;
                if (job.State == JobState.Succeeded && job.ResultJson is { } json)
                {
                    SensitivityResult = backend.ReadSensitivity(json);
                }
            }
            else
            {
                continue;
            }
            if (job is { State: JobState.Failed, Error: { } error })
            {
                failure = error;
            }
        }
        return failure;
    }

    public void SelectLayer(string layer)
    {
        if (Preview is null) return;
        _ = Preview.MethodOf(layer); // unknown names throw, naming the layers
        SelectedLayer = layer;
        RebuildCharts();
    }

    public void SetLogY(bool logY)
    {
        LogY = logY;
        if (Preview is not null && SelectedLayer is { } layer)
        {
            Histogram = CalibrationFigures.Histogram(Preview, Preview.Profile.Layer(layer), LogY);
            HistogramPlot = CalibrationPlots.Histogram(Histogram);
        }
    }

    public void SetMethod(string layer, ClippingMethod method)
    {
        Preview?.SetMethod(layer, method);
        Changed();
    }

    public void SetAllMethods(ClippingMethod method)
    {
        Preview?.SetAllMethods(method);
        Changed();
    }

    public void SetKeepFloat(string layer, bool keep)
    {
        Preview?.SetKeepFloat(layer, keep);
        Changed();
    }

    public void SetMode(QuantizationMode mode)
    {
        Preview?.SetMode(mode);
        Changed();
    }

    public void SetQuantizeLogits(bool quantize)
    {
        if (Preview is null) return;
        Preview.QuantizeLogits = quantize;
        exports = null;
    }

    public void Dispose() => inbox.Dispose();

    /// <summary>Shows the workspace's profile for the model and subset, if it has one; true when it did.</summary>
    private bool LoadCached()
    {
        if (Model is null) return false;
        CalibrationProfile? profile;
        try
        {
            profile = backend.FindProfile(Model, SubsetSize);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or CheckpointException)
        {
            Error = $"The stored calibration profile of {Model.DisplayName} could not be read: {e.Message}";
            profile = null;
        }
        if (profile is null)
        {
            // Nothing of the previous model or subset may stay on screen under this one's name.
            if (Preview is not null && shownFor != (Model.Id, SubsetSize))
            {
                Clear();
            }
            return false;
        }
        if (Preview?.Profile == profile && shownFor == (Model.Id, SubsetSize)) return true;
        shownFor = (Model.Id, SubsetSize);
        var previous = Preview;
        Preview = new CalibrationPreview(profile, previous?.Mode ?? QuantizationMode.Symmetric);
        statsYaml = null;
        Channels = null;
        ComparisonResult = null;
        SensitivityResult = null;
        SelectedLayer = profile.Layers.Any(l => l.Layer == SelectedLayer) ? SelectedLayer : profile.Layers.FirstOrDefault()?.Layer;
        Changed();
        return true;
    }

    private void Clear()
    {
        exports = null;
        statsYaml = null;
        Preview = null;
        Rows = [];
        SelectedLayer = null;
        Histogram = null;
        ErrorCurve = null;
        Channels = null;
        HistogramPlot = ErrorCurvePlot = ChannelPlot = null;
        ComparisonResult = null;
        SensitivityResult = null;
    }

    private ThresholdFiles? Export()
    {
        if (Preview?.Thresholds() is not { } thresholds) return null;
        return new ThresholdFiles(ThresholdsExport.Csv(thresholds), ThresholdsExport.Json(thresholds, Preview.Profile));
    }

    private sealed record ThresholdFiles(string Csv, string Json);

    private void Changed()
    {
        exports = null;
        if (Preview is null) return;
        Rows = Preview.Rows();
        RebuildCharts();
    }

    private void RebuildCharts()
    {
        if (Preview is null || SelectedLayer is null) return;
        var layer = Preview.Profile.Layer(SelectedLayer);
        Histogram = CalibrationFigures.Histogram(Preview, layer, LogY);
        HistogramPlot = CalibrationPlots.Histogram(Histogram);
        ErrorCurve = CalibrationFigures.ErrorCurve(Preview, layer);
        ErrorCurvePlot = ErrorCurve is null ? null : CalibrationPlots.ErrorCurve(ErrorCurve);
        var channels = CalibrationFigures.ChannelRanges(layer);
        if (Channels?.Layer != channels.Layer)
        {
            Channels = channels;
            ChannelPlot = CalibrationPlots.ChannelRanges(channels);
        }
    }
}
