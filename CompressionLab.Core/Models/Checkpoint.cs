using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CompressionLab.Core.Models;

/// <summary>What a checkpoint says about its model (immutable; stored as JSON in the file's header).</summary>
/// <param name="Architecture">Zoo name; the network is always rebuilt from the zoo by this name, never from the file.</param>
/// <param name="Dataset">Dataset the model was trained on, e.g. <c>fashion-mnist</c>.</param>
/// <param name="Top1">Top-1 fraction (0..1) measured when saved (e.g. on the test split), if any.</param>
/// <param name="ContentHash">Lower-case hex SHA-256 of the weights section (TorchSharp format bytes); identifies the weights.</param>
/// <param name="WeightsLength">Length of the weights section in bytes.</param>
/// <param name="FormatVersion">Checkpoint format version (<see cref="Checkpoint.FormatVersion"/>).</param>
/// <param name="Widths">
/// Output channels per layer of a network whose widths are not the architecture's defaults (a thinned model; see
/// <see cref="ClassifierNetwork.Widths"/>); absent (null) for the zoo's own widths, so files written before it existed
/// read as they always did and a default model's header does not change.
/// </param>
/// <param name="Lineage">
/// The model this one was made from and how (e.g. a pruning plan fine-tuned); null for a model trained from scratch or
/// imported. Optional and left out of the header when null, so files without it read as before.
/// </param>
public sealed record CheckpointMetadata(
    string Architecture,
    string Dataset,
    double? Top1,
    IReadOnlyList<string> ClassNames,
    int InputHeight,
    int InputWidth,
    long ParameterCount,
    TrainingSettings? Training,
    DateTimeOffset CreatedAt,
    string ContentHash,
    long WeightsLength,
    int FormatVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, int>? Widths = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CheckpointLineage? Lineage = null);

/// <summary>Where a model made from another came from (plain data in the checkpoint's header).</summary>
/// <param name="Operation">What was done, e.g. <c>fine-tune</c>.</param>
/// <param name="ParentWeightsHash">The parent's <see cref="CheckpointMetadata.ContentHash"/>.</param>
/// <param name="ParentName">The parent's display or file name, for people.</param>
/// <param name="PlanHash">The pruning plan's content hash (equal for plans that give the same masks).</param>
/// <param name="Levels">The plan's pruned layers: level and method (<c>element</c>, <c>filter-l1</c>, <c>filter-l2</c>).</param>
/// <param name="Schedule">How the levels were reached, e.g. <c>agp</c> or <c>fixed</c>.</param>
/// <param name="RoundTo">Thinning: kept channels rounded up to a multiple of this (1: no rounding).</param>
/// <param name="Selection">Thinning: what chose the removed filters, <c>plan</c> or <c>silent filters</c> (then there is no plan hash or levels).</param>
/// <param name="Teachers">Distillation: the teachers' weights hashes (several: an ensemble); the parent is the first.</param>
/// <param name="Objective">Distillation: the objective with its T and α, e.g. <c>soft+hard T=4 alpha=0.9 t2=on</c>.</param>
public sealed record CheckpointLineage(
    string Operation,
    string ParentWeightsHash,
    string? ParentName = null,
    string? PlanHash = null,
    IReadOnlyList<LineageLevel>? Levels = null,
    string? Schedule = null,
    int? Epochs = null,
    double? LearningRate = null,
    int? RoundTo = null,
    string? Selection = null,
    IReadOnlyList<string>? Teachers = null,
    string? Objective = null);

/// <summary>One pruned layer of a <see cref="CheckpointLineage"/>.</summary>
public sealed record LineageLevel(string Layer, double Level, string Method);

/// <summary>A checkpoint file that cannot be used; the message names the file and the problem.</summary>
public sealed class CheckpointException(string filePath, string problem, Exception? inner = null)
    : Exception($"Checkpoint {filePath}: {problem}.", inner)
{
    public string FilePath { get; } = filePath;
    public string Problem { get; } = problem;
}

/// <summary>
/// A zoo model with its metadata, saved as one file so that copying or content-addressing it can never
/// separate weights from metadata:
/// <code>
/// "CLABCKPT"                   8 bytes, ASCII magic
/// header length                int32, little-endian
/// header                       UTF-8 JSON: <see cref="CheckpointMetadata"/> (plain data, nothing is executed or instantiated by type name)
/// weights                      TorchSharp's Module.save format, exactly WeightsLength bytes, SHA-256 = ContentHash
/// </code>
/// Loading checks the hash before reading a single tensor (so corruption and truncation are caught),
/// builds the architecture from <see cref="ModelZoo"/> by name, checks every tensor's name and shape
/// against it, and only then copies the weights in.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    public const int FormatVersion = 1;
    private static readonly SignedFileFormat Format = new(
        "CLABCKPT"u8.ToArray(),
        MaxHeaderLength: 1 << 20,
        FileKind: "checkpoint file",
        NotThisKind: "not a CompressionLab checkpoint (it does not start with the CLABCKPT signature; a plain TorchSharp weights file must be imported with its architecture)",
        HeaderName: "metadata header",
        Problem: (path, problem, inner) => new CheckpointException(path, problem, inner));

    private Checkpoint(string path, ClassifierNetwork model, CheckpointMetadata metadata)
    {
        FilePath = path;
        Model = model;
        Metadata = metadata;
    }

    public string FilePath { get; }

    /// <summary>The loaded network, in eval mode. Disposing the checkpoint disposes it.</summary>
    public ClassifierNetwork Model { get; }

    public CheckpointMetadata Metadata { get; }

    public void Dispose() => Model.Dispose();

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> (replacing it atomically) and returns the metadata written.
    /// </summary>
    /// <param name="classNames">Class names in label order; defaults to the dataset's when known to the caller.</param>
    public static CheckpointMetadata Save(
        ClassifierNetwork model,
        string path,
        string dataset,
        IReadOnlyList<string> classNames,
        double? top1 = null,
        TrainingSettings? training = null,
        DateTimeOffset? createdAt = null,
        CheckpointLineage? lineage = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(dataset);
        if (classNames.Count != model.ClassCount)
            throw new ArgumentException($"Model {model.Architecture} has {model.ClassCount} classes but {classNames.Count} class names were given.", nameof(classNames));
        if (top1 is < 0 or > 1 || (top1 is double t && double.IsNaN(t)))
            throw new ArgumentOutOfRangeException(nameof(top1), top1, "Top-1 is a fraction between 0 and 1.");

        byte[] weights;
        using (var buffer = new MemoryStream())
        {
            using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) model.save(writer);
            weights = buffer.ToArray();
        }
        var metadata = new CheckpointMetadata(
            model.Architecture, dataset, top1, classNames.ToArray(), model.InputHeight, model.InputWidth,
            model.ParameterCount, training, createdAt ?? DateTimeOffset.UtcNow,
            Convert.ToHexStringLower(SHA256.HashData(weights)), weights.LongLength, FormatVersion, model.Widths, lineage);
        // Written beside the target and renamed, so a reader never sees half a checkpoint.
        Format.Write(Path.GetFullPath(path), JsonSerializer.SerializeToUtf8Bytes(metadata, SignedFileFormat.Json), [weights], flushToDisk: false);
        return metadata;
    }

    /// <summary>Loads a checkpoint: metadata, the zoo architecture it names, and its verified weights. The model is in eval mode.</summary>
    public static Checkpoint Load(string path)
    {
        var (metadata, weights) = ReadVerified(path);
        var model = CreateArchitecture(path, metadata);
        try
        {
            LoadWeights(path, model, weights, $"the header says {metadata.Architecture}; is the file damaged or built by hand?");
            return new Checkpoint(path, model, metadata);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Reads and verifies only the metadata and the weights' hash (no TorchSharp objects are created).</summary>
    public static CheckpointMetadata ReadMetadata(string path) => ReadVerified(path).Metadata;

    /// <summary>
    /// Loads a plain TorchSharp weights file (what <c>Module.save</c> writes, no header) into a fresh
    /// <paramref name="architecture"/> from the zoo: the way in for a model trained elsewhere with a zoo architecture.
    /// </summary>
    public static ClassifierNetwork LoadTorchSharpWeights(string path, string architecture, int classCount = 10, int inputHeight = 28, int inputWidth = 28)
    {
        if (!File.Exists(path)) throw new CheckpointException(path, "file not found");
        if (!ModelZoo.Architectures.Contains(architecture))
            throw new CheckpointException(path, $"unknown architecture '{architecture}' (known: {string.Join(", ", ModelZoo.Architectures)})");
        var weights = File.ReadAllBytes(path);
        var model = ModelZoo.Create(architecture, classCount, inputHeight, inputWidth);
        try
        {
            LoadWeights(path, model, weights, $"are these weights of a {architecture}?");
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static (CheckpointMetadata Metadata, byte[] Weights) ReadVerified(string path)
    {
        var bytes = Format.ReadAll(path);
        var (metadata, weightsStart) = Format.ParseHeader<CheckpointMetadata>(path, bytes);
        if (metadata.FormatVersion != FormatVersion)
            throw new CheckpointException(path, $"format version {metadata.FormatVersion} is not supported (this build reads version {FormatVersion})");
        if (metadata.ClassNames.Count == 0 || metadata.InputHeight <= 0 || metadata.InputWidth <= 0)
            throw new CheckpointException(path, "the metadata header has no classes or no input size");

        var actual = bytes.LongLength - weightsStart;
        if (actual < metadata.WeightsLength)
            throw new CheckpointException(path, $"truncated: the weights should be {metadata.WeightsLength} bytes but only {actual} are present");
        if (actual > metadata.WeightsLength)
            throw new CheckpointException(path, $"{actual - metadata.WeightsLength} unexpected bytes follow the weights; the file is corrupt");
        var weights = bytes.AsSpan((int)weightsStart).ToArray();
        var hash = Convert.ToHexStringLower(SHA256.HashData(weights));
        if (!string.Equals(hash, metadata.ContentHash, StringComparison.OrdinalIgnoreCase))
            throw new CheckpointException(path, $"the weights are corrupt (SHA-256 {hash[..12]}… does not match the recorded {Abbreviate(metadata.ContentHash)})");
        return (metadata, weights);
    }

    private static ClassifierNetwork CreateArchitecture(string path, CheckpointMetadata metadata)
    {
        if (!ModelZoo.Architectures.Contains(metadata.Architecture))
            throw new CheckpointException(path, $"unknown architecture '{metadata.Architecture}' (known: {string.Join(", ", ModelZoo.Architectures)})");
        try
        {
            return ModelZoo.Create(metadata.Architecture, metadata.ClassNames.Count, metadata.InputHeight, metadata.InputWidth, metadata.Widths);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ExternalException)
        {
            throw new CheckpointException(path,
                $"{metadata.Architecture} cannot be built for {metadata.ClassNames.Count} classes of {metadata.InputHeight}×{metadata.InputWidth} images{WidthsText(metadata)} ({e.Message})", e);
        }
    }

    private static void LoadWeights(string path, ClassifierNetwork model, byte[] weights, string hint)
    {
        IReadOnlyList<TorchSharpWeights.Entry> layout;
        try
        {
            layout = TorchSharpWeights.ReadLayout(weights);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointException(path, $"the weights are not valid TorchSharp data: {e.Message}", e);
        }
        var mismatch = TorchSharpWeights.Mismatch(layout, model);
        if (mismatch is not null)
            throw new CheckpointException(path, $"the weights do not fit {model.Architecture}: {mismatch} ({hint})");

        using var stream = new MemoryStream(weights, writable: false);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        model.load(reader, strict: true);
        model.eval();
    }

    private static string WidthsText(CheckpointMetadata metadata) =>
        metadata.Widths is { } widths ? $" with widths {string.Join(", ", widths.Select(w => $"{w.Key}={w.Value}"))}" : "";

    private static string Abbreviate(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;
}
