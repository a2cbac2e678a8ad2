using System.Diagnostics;
using System.Globalization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Quantization;

/// <summary>Calibrate a model (of the workspace, or a checkpoint file) with one clipping method on a validation subset.</summary>
/// <param name="Dataset">Null: the dataset the model was trained on.</param>
/// <param name="Method">A method text (<see cref="ClippingMethod.Parse"/>): max, avg, percentile:P, nstd:N, aciq-laplace, aciq-gauss, mse, entropy.</param>
/// <param name="Mode">Symmetric or asymmetric (a tensor with no negative value gets the unsigned grid either way).</param>
/// <param name="SubsetSize">Validation images (<see cref="AnalysisSubset"/>) the statistics are collected on and the float and INT8 top-1 measured on.</param>
/// <param name="StatsYamlFile">Where to write Distiller's activation statistics YAML; null: not written.</param>
public sealed record CalibrationRequest(
    ModelSource Model,
    string? Dataset = null,
    string Method = "entropy",
    QuantizationMode Mode = QuantizationMode.Symmetric,
    int SubsetSize = CalibrationRequest.DefaultSubsetSize,
    string? StatsYamlFile = null)
{
    /// <summary>The issue's default calibration subset.</summary>
    public const int DefaultSubsetSize = Int8Images.DefaultCalibrationSize;

    public ClippingMethod ParsedMethod => ClippingMethod.Parse(Method);

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (Model is null) throw new InvalidRequestException(nameof(Model), "Choose a model to calibrate.");
        Model.Validate();
        if (Dataset is not null && string.IsNullOrWhiteSpace(Dataset)) throw new InvalidRequestException(nameof(Dataset), "Choose a dataset to calibrate on.");
        ClippingMethod method;
        try
        {
            method = ParsedMethod;
        }
        catch (FormatException e)
        {
            throw InvalidRequestException.For(nameof(Method), e);
        }
        catch (ArgumentNullException)
        {
            throw new InvalidRequestException(nameof(Method), "Choose a calibration method.");
        }
        if (Mode is not (QuantizationMode.Symmetric or QuantizationMode.Asymmetric))
            throw new InvalidRequestException(nameof(Mode), $"The mode must be symmetric or asymmetric (got {Mode}); the unsigned grid is chosen per tensor.");
        if (method.Kind == ClippingKind.Entropy && Mode == QuantizationMode.Asymmetric)
            throw new InvalidRequestException(nameof(Method),
                "The entropy method (TensorRT's KL search) works on histograms of |x|, which asymmetric mode does not quantize; use symmetric mode or another method.");
        if (SubsetSize < 1) throw new InvalidRequestException(nameof(SubsetSize), $"The calibration subset needs at least one image (got {SubsetSize}).");
        if (StatsYamlFile is not null && string.IsNullOrWhiteSpace(StatsYamlFile)) throw new InvalidRequestException(nameof(StatsYamlFile), "Choose a file for the statistics.");
    }
}

/// <summary>One tensor's clip under the request's method.</summary>
public sealed record CalibratedTensor(string Layer, TensorRole Role, ClippingResult Clip);

/// <summary>Published once the profile is there (collected, or read from the workspace), before the INT8 simulation.</summary>
public sealed record CalibrationProfileReady(string SubsetKey, int Images, int Layers, bool FromStore, double CollectSeconds) : JobPartial;

/// <summary>What a calibration found.</summary>
/// <param name="Top1Float">The folded network in float on the calibration subset.</param>
/// <param name="Top1Int8">Simulated INT8 (<see cref="Int8Simulation"/>: weights per channel, inputs per tensor with the method, logits float) on the same images.</param>
/// <param name="ProfileFromStore">The profile was read from the workspace instead of collected.</param>
public sealed record CalibrationOutcome(
    Guid? ModelId,
    string ModelName,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string SubsetKey,
    int Images,
    string Method,
    QuantizationMode Mode,
    IReadOnlyList<CalibratedTensor> Tensors,
    double Top1Float,
    double Top1Int8,
    bool ProfileFromStore,
    string? StatsYamlFile,
    double Seconds,
    CalibrationProfile Profile)
{
    public CalibrationJobResult Summary() => new(ModelId, ModelName, Architecture, WeightsHash, Dataset, SubsetKey, Images, Method,
        Mode.ToString().ToLowerInvariant(), Top1Float, Top1Int8, ProfileFromStore, StatsYamlFile, Seconds);
}

/// <summary>A finished calibration job's JSON result (fractions); the profile is kept in the workspace.</summary>
public sealed record CalibrationJobResult(
    Guid? ModelId,
    string ModelName,
    string Architecture,
    string WeightsHash,
    string Dataset,
    string Subset,
    int Images,
    string Method,
    string Mode,
    double Top1Float,
    double Top1Int8,
    bool ProfileFromStore,
    string? StatsYamlFile,
    double Seconds)
{
    public static CalibrationJobResult FromJson(string json) => ModelJobJson.Read<CalibrationJobResult>(json);
}

/// <summary>
/// Calibration as a job, one body for the CLI's <c>calibrate</c> and the dashboard: loads the model and the validation
/// subset, reads the calibration profile from the workspace or collects it (<see cref="CalibrationCollector"/>, progress per
/// batch) and keeps it there, writes Distiller's statistics YAML when asked, clips every layer's input, output and weight
/// with the method, and measures float and simulated INT8 top-1 on the same images.
/// </summary>
/// <remarks>
/// Rows: a layer's input gets the unsigned grid when no negative value was seen (after ReLU or pooling), its output when
/// it too has none; otherwise the request's mode. The weight row is the method on the whole folded weight (per tensor),
/// for comparison with the activations; the simulation quantizes weights per output channel on their own range
/// (calib-contract.md), which the per-channel ranges of the profile show.
/// </remarks>
public static class CalibrationJob
{
    public const string Kind = "calibrate";

    public static string Title(ResolvedModel model, CalibrationRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return $"Calibrate {model.DisplayName} ({request.ParsedMethod.Name}, {request.Mode.ToString().ToLowerInvariant()})";
    }

    public static JobWork Create(CalibrationRequest request, DatasetCatalog catalog, ModelStore store, CalibrationProfileStore profiles)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return (job, cancellationToken) =>
            Task.FromResult<string?>(ModelJobJson.Write(Run(request, catalog, store, profiles, job.Id, job.Progress, cancellationToken).Summary()));
    }

    /// <param name="store">The workspace's models; null when the model is a checkpoint file and there is no workspace.</param>
    /// <param name="profiles">The workspace's calibration profiles (read back, and kept when collected); null: always collected, never kept.</param>
    /// <exception cref="InvalidRequestException">A setting does not fit the model or the dataset (the subset size, the image size).</exception>
    /// <exception cref="NonFiniteTensorException">NaN or ±Inf in a weight or an activation, naming layer and tensor.</exception>
    public static CalibrationOutcome Run(
        CalibrationRequest request,
        DatasetCatalog catalog,
        ModelStore? store,
        CalibrationProfileStore? profiles,
        Guid? jobId,
        IJobProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(progress);
        request.Validate();
        var clock = Stopwatch.StartNew();
        var method = request.ParsedMethod;

        var model = request.Model.Resolve(store);
        var dataset = model.LoadDataset(request.Dataset, catalog, progress);
        var subset = AnalysisSubset.ForRequest(dataset, SplitPart.Validation, request.SubsetSize, nameof(CalibrationRequest.SubsetSize));
        cancellationToken.ThrowIfCancellationRequested();

        progress.Report(0.02, $"Loading the checkpoint of {model.DisplayName}");
        using var checkpoint = model.Load(subset.Images, dataset.Name, "calibrated");
        var network = checkpoint.Model;
        var key = new CalibrationProfileKey(checkpoint.Metadata.ContentHash, dataset.Name, subset.Key);

        // Collection and its tally take most of the time; the simulation the rest.
        const double collectShare = 0.6;
        var profile = profiles?.Find(key);
        var fromStore = profile is not null;
        double? top1Float = null;
        if (profile is null)
        {
            progress.Report(0.05, string.Create(CultureInfo.InvariantCulture, $"Collecting statistics on {subset.Count:N0} validation images"));
            var tally = new ClassificationTally(network.ClassCount);
            profile = CalibrationCollector.Collect(network, key.ModelHash, dataset.Name, subset, floatTally: tally,
                batchDone: (done, all) => progress.Report(0.05 + (collectShare - 0.05) * done / all,
                    string.Create(CultureInfo.InvariantCulture, $"Collecting statistics: {done:N0} of {all:N0} images")),
                cancellationToken: cancellationToken);
            top1Float = tally.ToResult(0).Top1;
            profiles?.Save(profile, jobId);
        }
        progress.Publish(new CalibrationProfileReady(profile.SubsetKey, profile.Images, profile.Layers.Count, fromStore, profile.CollectSeconds));

        if (request.StatsYamlFile is { } yamlFile)
        {
            progress.Report(collectShare, $"Writing Distiller's activation statistics to {yamlFile}");
            AtomicFile.WriteAllText(yamlFile, DistillerStatsYaml.Write(profile));
        }

        var tensors = Clip(profile, method, request.Mode);
        cancellationToken.ThrowIfCancellationRequested();

        using var folded = FoldedNetwork.Fold(network);
        if (top1Float is null)
        {
            progress.Report(collectShare, string.Create(CultureInfo.InvariantCulture, $"Evaluating the float model on {subset.Count:N0} images"));
            top1Float = Int8Simulation.EvaluateFloat(folded, subset.Images, cancellationToken).Top1;
        }
        progress.Report(fromStore ? 0.8 : collectShare + 0.05, string.Create(CultureInfo.InvariantCulture, $"Simulating INT8 ({method.Name}) on {subset.Count:N0} images"));
        var top1Int8 = Int8Simulation.Top1(folded, profile, QuantizationChoice.AllLayers(method, request.Mode), subset, cancellationToken);

        progress.Report(1, string.Create(CultureInfo.InvariantCulture,
            $"Top-1 {top1Float * 100:0.00}% float, {top1Int8 * 100:0.00}% INT8 with {method.Name}{(fromStore ? " (statistics read from the workspace)" : "")}"));
        return new CalibrationOutcome(model.ModelId, model.DisplayName, network.Architecture, key.ModelHash, dataset.Name, subset.Key, subset.Count,
            method.Name, request.Mode, tensors, top1Float.Value, top1Int8, fromStore, request.StatsYamlFile, clock.Elapsed.TotalSeconds, profile);
    }

    /// <summary>Every layer's input, output and weight clipped with <paramref name="method"/> (see the class remarks for the grids).</summary>
    public static IReadOnlyList<CalibratedTensor> Clip(CalibrationProfile profile, ClippingMethod method, QuantizationMode mode)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(method);
        var rows = new List<CalibratedTensor>(profile.Layers.Count * 3);
        foreach (var layer in profile.Layers)
            foreach (var tensor in new[] { layer.Input, layer.Output, layer.Weight })
            {
                var tensorMode = tensor.Statistics.Min >= 0 ? QuantizationMode.Unsigned : mode;
                var histogram = tensorMode == QuantizationMode.Asymmetric ? tensor.Signed : tensor.Magnitude;
                rows.Add(new CalibratedTensor(layer.Layer, tensor.Role, ClippingMethods.Calibrate(method, histogram, tensor.Statistics, tensorMode)));
            }
        return rows;
    }
}

/// <summary>Starts calibration jobs with their parameters recorded, so the dashboard and any other front end start them the same way.</summary>
public sealed class CalibrationJobs(IJobScheduler scheduler, DatasetCatalog catalog, ModelStore store, CalibrationProfileStore profiles)
{
    /// <summary>The workspace's calibration profiles (what a page reads back to show a model's statistics at once).</summary>
    public CalibrationProfileStore Profiles => profiles;

    /// <exception cref="ArgumentException">The model is not in the workspace, or the request makes no sense (<see cref="InvalidRequestException"/>).</exception>
    public JobSnapshot StartCalibration(CalibrationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var model = request.Model.Resolve(store);
        return scheduler.Enqueue(CalibrationJob.Kind, CalibrationJob.Title(model, request), ModelJobJson.Write(request),
            CalibrationJob.Create(request, catalog, store, profiles));
    }
}
