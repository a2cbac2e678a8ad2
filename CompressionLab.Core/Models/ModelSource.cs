using System.Security.Cryptography;
using System.Text.Json.Serialization;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Core.Models;

/// <summary>
/// Which model a job works on: one of the workspace (the dashboard) or a checkpoint file outside it (the CLI's
/// <c>--model FILE</c>). A file is read where it is, never imported as a side effect.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "source")]
[JsonDerivedType(typeof(StoredModel), "workspace")]
[JsonDerivedType(typeof(CheckpointFile), "file")]
public abstract record ModelSource
{
    /// <summary>
    /// The setting every job request names its model by (<c>SweepRequest.Model</c>, <c>EvaluationRequest.Model</c>): what an
    /// <see cref="InvalidRequestException"/> about the model names, and what a front end names an unusable checkpoint after.
    /// </summary>
    public const string Setting = "Model";

    public static implicit operator ModelSource(Guid modelId) => new StoredModel(modelId);

    /// <summary>Throws an <see cref="InvalidRequestException"/> for <c>Model</c> when no model is named.</summary>
    public abstract void Validate();

    /// <summary>
    /// What the model is called and where its checkpoint is. A file that the workspace also holds (the same bytes) is
    /// named as the workspace names it, so its results are filed under that model.
    /// </summary>
    /// <param name="store">The workspace's models; null when the front end has no workspace (only a file can be resolved then).</param>
    /// <exception cref="InvalidRequestException">The model is not in the workspace, or the file does not exist.</exception>
    /// <exception cref="CheckpointException">The file is not a usable checkpoint.</exception>
    public abstract ResolvedModel Resolve(ModelStore? store);
}

/// <summary>A model of the workspace's model store.</summary>
public sealed record StoredModel(Guid ModelId) : ModelSource
{
    public override void Validate()
    {
        if (ModelId == Guid.Empty) throw new InvalidRequestException(Setting, "Choose a model.");
    }

    public override ResolvedModel Resolve(ModelStore? store)
    {
        Validate();
        if (store is null) throw new InvalidOperationException("A model of the workspace needs the workspace's model store.");
        var model = store.Get(ModelId) ?? throw new InvalidRequestException(Setting, $"There is no model with id {ModelId} in the workspace (was it deleted?).");
        return ResolvedModel.Of(model);
    }
}

/// <summary>A checkpoint file, read where it is.</summary>
public sealed record CheckpointFile(string Path) : ModelSource
{
    /// <summary>Also checks that the file exists, so a mistyped path is refused with the request, before anything loads.</summary>
    public override void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path)) throw new InvalidRequestException(Setting, "Choose a checkpoint file.");
        if (!File.Exists(Path)) throw new InvalidRequestException(Setting, $"file not found: {System.IO.Path.GetFullPath(Path)}");
    }

    public override ResolvedModel Resolve(ModelStore? store)
    {
        Validate();
        var path = System.IO.Path.GetFullPath(Path);
        var metadata = Checkpoint.ReadMetadata(path);
        if (store?.FindByHash(FileHash(path)) is { } stored) return ResolvedModel.Of(stored) with { CheckpointPath = path };
        return new ResolvedModel(null, System.IO.Path.GetFileNameWithoutExtension(path), metadata.Architecture, metadata.Dataset, path);
    }

    private static string FileHash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>A model found from its <see cref="ModelSource"/>.</summary>
/// <param name="ModelId">Its id in the workspace, when the workspace holds it.</param>
/// <param name="Dataset">The dataset it was trained on (the default for what it is evaluated or swept on).</param>
public sealed record ResolvedModel(Guid? ModelId, string DisplayName, string Architecture, string Dataset, string CheckpointPath)
{
    public static ResolvedModel Of(ModelRecord model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new ResolvedModel(model.Id, model.DisplayName, model.Architecture, model.Dataset, model.FilePath);
    }

    /// <summary>
    /// The dataset a job on this model works with: the request's (<paramref name="requested"/>) or else the one the model
    /// was trained on, loaded with the job's first progress line.
    /// </summary>
    public Dataset LoadDataset(string? requested, DatasetCatalog catalog, IJobProgress? progress)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var name = requested ?? Dataset;
        progress?.Report(0, $"Loading {name}");
        return catalog.Load(name);
    }

    /// <summary>
    /// Loads the checkpoint and checks that it takes <paramref name="images"/>; a mismatch is an
    /// <see cref="InvalidRequestException"/> for <c>Dataset</c> naming the model, the dataset and what it was for
    /// (<paramref name="purpose"/>: "evaluated", "swept").
    /// </summary>
    public Checkpoint Load(LabeledImages images, string datasetName, string purpose)
    {
        ArgumentNullException.ThrowIfNull(images);
        var checkpoint = Checkpoint.Load(CheckpointPath);
        try
        {
            checkpoint.Model.CheckAccepts(images);
            return checkpoint;
        }
        catch (ArgumentException e)
        {
            checkpoint.Dispose();
            throw new InvalidRequestException("Dataset", $"{DisplayName} cannot be {purpose} on {datasetName}: {e.Message}", e);
        }
    }
}
