using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CompressionLab.Core.Data;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>Which images a training run learns from: its name, size and a SHA-256 over labels and pixels.</summary>
/// <param name="Fingerprint">Lower-case hex SHA-256 of the image size, class count, labels and pixels.</param>
public sealed record TrainingDataIdentity(string Name, int Count, string Fingerprint)
{
    public static TrainingDataIdentity Of(LabeledImages images)
    {
        ArgumentNullException.ThrowIfNull(images);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> shape = stackalloc byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(shape, images.Height);
        BinaryPrimitives.WriteInt32LittleEndian(shape[4..], images.Width);
        BinaryPrimitives.WriteInt32LittleEndian(shape[8..], images.ClassCount);
        sha.AppendData(shape);
        sha.AppendData(images.Labels);
        sha.AppendData(images.Pixels);
        return new TrainingDataIdentity(images.Name, images.Count, Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    /// <summary>"1,000 images of 'fashion-mnist train' (data 1a2b3c4d5e6f)".</summary>
    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{Count:N0} images of '{Name}' (data {Fingerprint[..Math.Min(12, Fingerprint.Length)]})");
}

/// <summary>What a training-state file says about the run it holds (its JSON header; plain data).</summary>
/// <param name="EpochsDone">Finished epochs: resuming continues with epoch <c>EpochsDone + 1</c>.</param>
/// <param name="History">The finished epochs' summaries, in order.</param>
/// <param name="TrainingSeconds">Time spent training the finished epochs, across every run that contributed.</param>
/// <param name="SectionLengths">Bytes of the model, optimizer, shuffle-generator and global-generator sections, in file order.</param>
/// <param name="PayloadHash">Lower-case hex SHA-256 of all sections together.</param>
/// <param name="Constraint">The <see cref="ITrainingConstraint.Identity"/> of the rule the run trained under; null for plain training (and in files saved before constraints existed).</param>
/// <param name="ConstraintState">What that rule saved to continue (<see cref="ITrainingConstraint.SaveState"/>), e.g. the masks in force.</param>
public sealed record TrainingStateHeader(
    int FormatVersion,
    string Architecture,
    int ClassCount,
    int InputHeight,
    int InputWidth,
    TrainingSettings Settings,
    TrainingDataIdentity Data,
    int EpochsDone,
    IReadOnlyList<EpochSummary> History,
    double TrainingSeconds,
    DateTimeOffset SavedAt,
    IReadOnlyList<long> SectionLengths,
    string PayloadHash,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Constraint = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? ConstraintState = null);

/// <summary>A training-state file that cannot be used; the message names the file and the problem.</summary>
public sealed class TrainingStateException(string filePath, string problem, Exception? inner = null)
    : Exception($"Training state {filePath}: {problem}.", inner)
{
    /// <summary>The file the state came from ("(in memory)" for one never saved).</summary>
    public string FilePath { get; } = filePath;

    public string Problem { get; } = problem;
}

/// <summary>
/// A training run paused after a finished epoch: everything <see cref="Trainer"/> needs to continue it as if it had never
/// stopped. Resuming from the state after epoch k gives bit for bit the weights of an uninterrupted run (same process
/// settings: thread count, TorchSharp version).
/// <code>
/// "CLABTRST"         8 bytes, ASCII magic
/// header length      int32, little-endian
/// header             UTF-8 JSON: <see cref="TrainingStateHeader"/>
/// model              TorchSharp Module.save format: weights and BatchNorm buffers
/// optimizer          TorchSharp's AdamW save_state_dict: per-group options, per-parameter step count and moments
/// shuffle generator  the state of the generator that draws the epoch order and the flips
/// global generator   torch.get_rng_state(): the generator dropout draws from
/// </code>
/// Loading checks the signature, the lengths and the SHA-256 of the sections before anything is used, so a truncated or
/// damaged file is reported, never half-loaded. <see cref="Save"/> writes a temporary file and renames it, so a crash
/// while saving leaves the previous state whole.
/// </summary>
public sealed class TrainingState
{
    public const int FormatVersion = 1;
    private const int SectionCount = 4;

    private static readonly SignedFileFormat Format = new(
        "CLABTRST"u8.ToArray(),
        MaxHeaderLength: 1 << 24,
        FileKind: "training-state file",
        NotThisKind: "not a CompressionLab training state (it does not start with the CLABTRST signature)",
        HeaderName: "header",
        Problem: (path, problem, inner) => new TrainingStateException(path, problem, inner));

    private readonly byte[] _model;
    private readonly byte[] _optimizer;
    private readonly byte[] _shuffleGenerator;
    private readonly byte[] _globalGenerator;

    private TrainingState(TrainingStateHeader header, byte[] model, byte[] optimizer, byte[] shuffleGenerator, byte[] globalGenerator, string source)
    {
        Header = header;
        _model = model;
        _optimizer = optimizer;
        _shuffleGenerator = shuffleGenerator;
        _globalGenerator = globalGenerator;
        FilePath = source;
    }

    public TrainingStateHeader Header { get; }

    /// <summary>The file it was loaded from or last saved to; "(in memory)" before that.</summary>
    public string FilePath { get; private set; }

    public int EpochsDone => Header.EpochsDone;

    public int Epochs => Header.Settings.Epochs;

    /// <summary>Writes the state to <paramref name="path"/>, replacing any earlier one atomically (temporary file, then rename).</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        // On disk before the rename makes it the state: a crash must find the old file or the whole new one.
        Format.Write(full, JsonSerializer.SerializeToUtf8Bytes(Header, SignedFileFormat.Json), Sections(), flushToDisk: true);
        FilePath = full;
    }

    /// <summary>Reads and verifies a state file (signature, header, lengths, SHA-256); throws <see cref="TrainingStateException"/> naming the problem.</summary>
    public static TrainingState Load(string path)
    {
        var bytes = Format.ReadAll(path);
        var (header, payloadStart) = ParseHeader(path, bytes);
        var total = header.SectionLengths.Sum();
        var actual = bytes.LongLength - payloadStart;
        if (actual < total)
            throw new TrainingStateException(path, $"truncated: the sections should be {total} bytes but only {actual} are present");
        if (actual > total)
            throw new TrainingStateException(path, $"{actual - total} unexpected bytes follow the last section; the file is corrupt");
        var payload = bytes.AsSpan((int)payloadStart);
        var hash = Convert.ToHexStringLower(SHA256.HashData(payload));
        if (!string.Equals(hash, header.PayloadHash, StringComparison.OrdinalIgnoreCase))
            throw new TrainingStateException(path, $"the saved tensors are corrupt (SHA-256 {hash[..12]}… does not match the recorded {Abbreviate(header.PayloadHash)})");

        var sections = new byte[SectionCount][];
        var offset = 0;
        for (var i = 0; i < SectionCount; i++)
        {
            var length = (int)header.SectionLengths[i];
            sections[i] = payload.Slice(offset, length).ToArray();
            offset += length;
        }
        return new TrainingState(header, sections[0], sections[1], sections[2], sections[3], Path.GetFullPath(path));
    }

    /// <summary>Reads and checks only the header (not the megabytes of tensors): cheap enough for a page listing interrupted jobs.</summary>
    public static TrainingStateHeader ReadHeader(string path)
    {
        Format.CheckIsFile(path);
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var prefix = new byte[Format.PrefixLength];
            var read = file.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
            // An implausible length is reported by ParseHeader; only a plausible one is read.
            var available = (int)Math.Min(Format.PlausibleHeaderLength(prefix.AsSpan(0, read)), file.Length - read);
            var bytes = new byte[read + available];
            prefix.AsSpan(0, read).CopyTo(bytes);
            file.ReadExactly(bytes, read, available);
            return ParseHeader(path, bytes).Header;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingStateException(path, $"cannot be read ({e.Message})", e);
        }
    }

    /// <summary>
    /// Throws <see cref="TrainingStateException"/> naming what differs when this state cannot continue a run of
    /// <paramref name="model"/> on <paramref name="data"/> with <paramref name="settings"/>: another architecture, class
    /// count or image size, other settings (epochs, batch size, rates, flips, seed), or other training images.
    /// </summary>
    /// <param name="constraint">The rule this run trains under (pruning masks, say): the state must have been saved under the same one, or both under none.</param>
    public void CheckFits(ClassifierNetwork model, TrainingDataIdentity data, TrainingSettings settings, ITrainingConstraint? constraint = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(settings);
        var saved = Header;
        if (saved.Architecture != model.Architecture)
            throw Problem($"it was saved by a {saved.Architecture} training but this run trains {model.Architecture}");
        if ((saved.ClassCount, saved.InputHeight, saved.InputWidth) != (model.ClassCount, model.InputHeight, model.InputWidth))
            throw Problem($"it was saved for {saved.ClassCount} classes of {saved.InputHeight}×{saved.InputWidth} images but this {model.Architecture} " +
                          $"has {model.ClassCount} classes of {model.InputHeight}×{model.InputWidth}");
        var differences = SettingDifferences(saved.Settings, settings);
        if (differences.Count > 0)
            throw Problem($"it was saved with other training settings ({string.Join("; ", differences)})");
        if (saved.Data != data)
            throw Problem($"it was saved training on {saved.Data.Describe()} but this run trains on {data.Describe()}");
        if (saved.Constraint != constraint?.Identity)
            throw Problem($"it was saved by a run {Under(saved.Constraint)} but this run trains {Under(constraint?.Identity)}");
    }

    private static string Under(string? constraint) => constraint is null ? "without pruning masks or other constraints" : $"under {constraint}";

    /// <summary>Takes the state of a run whose <paramref name="history"/> lists its finished epochs (called by the trainer between epochs).</summary>
    internal static TrainingState Capture(
        ClassifierNetwork model,
        optim.Optimizer optimizer,
        Generator shuffle,
        TrainingSettings settings,
        TrainingDataIdentity data,
        IReadOnlyList<EpochSummary> history,
        double trainingSeconds,
        ITrainingConstraint? constraint = null)
    {
        var modelBytes = Serialize(writer => model.save(writer));
        var optimizerBytes = Serialize(writer => OptimizerOf(optimizer).save_state_dict(writer));
        var shuffleBytes = GeneratorBytes(shuffle.get_state());
        var globalBytes = GeneratorBytes(get_rng_state());
        byte[][] sections = [modelBytes, optimizerBytes, shuffleBytes, globalBytes];
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var section in sections) sha.AppendData(section);
        var complete = new TrainingStateHeader(
            FormatVersion, model.Architecture, model.ClassCount, model.InputHeight, model.InputWidth, settings, data,
            history.Count, history.ToArray(), trainingSeconds, DateTimeOffset.UtcNow,
            sections.Select(s => s.LongLength).ToArray(), Convert.ToHexStringLower(sha.GetHashAndReset()),
            constraint?.Identity, constraint?.SaveState());
        return new TrainingState(complete, modelBytes, optimizerBytes, shuffleBytes, globalBytes, "(in memory)");
    }

    /// <summary>Puts the saved weights, optimizer state and generator states into a run about to continue.</summary>
    internal void Restore(ClassifierNetwork model, optim.Optimizer optimizer, Generator shuffle, ITrainingConstraint? constraint = null)
    {
        IReadOnlyList<TorchSharpWeights.Entry> layout;
        try
        {
            layout = TorchSharpWeights.ReadLayout(_model);
        }
        catch (InvalidDataException e)
        {
            throw Problem($"the saved model is not valid TorchSharp data: {e.Message}", e);
        }
        var mismatch = TorchSharpWeights.Mismatch(layout, model);
        if (mismatch is not null) throw Problem($"the saved model does not fit {model.Architecture}: {mismatch}");
        using (var reader = new BinaryReader(new MemoryStream(_model, writable: false), Encoding.UTF8))
        {
            model.load(reader, strict: true);
        }

        try
        {
            using var reader = new BinaryReader(new MemoryStream(_optimizer, writable: false), Encoding.UTF8);
            OptimizerOf(optimizer).load_state_dict(reader);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or EndOfStreamException or IOException)
        {
            throw Problem($"the saved optimizer state does not fit this {model.Architecture} run ({e.Message})", e);
        }

        try
        {
            using (var state = tensor(_shuffleGenerator, dtype: ScalarType.Byte)) shuffle.set_state(state);
            using (var state = tensor(_globalGenerator, dtype: ScalarType.Byte)) set_rng_state(state);
        }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            throw Problem($"the saved random-generator states cannot be restored ({e.Message})", e);
        }

        if (constraint is null) return;
        if (Header.ConstraintState is not { } saved) throw Problem($"it holds nothing for {constraint.Identity}");
        try
        {
            constraint.RestoreState(saved, optimizer);
        }
        catch (InvalidDataException e)
        {
            throw Problem($"what it saved for {constraint.Identity} cannot be used ({e.Message})", e);
        }
    }

    private IEnumerable<byte[]> Sections() => [_model, _optimizer, _shuffleGenerator, _globalGenerator];

    private TrainingStateException Problem(string problem, Exception? inner = null) => new(FilePath, problem, inner);

    private static TorchSharp.Modules.OptimizerHelper OptimizerOf(optim.Optimizer optimizer) =>
        optimizer as TorchSharp.Modules.OptimizerHelper
        ?? throw new ArgumentException($"{optimizer.GetType().Name} cannot save its state (only TorchSharp's managed optimizers can).", nameof(optimizer));

    private static byte[] Serialize(Action<BinaryWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) write(writer);
        return buffer.ToArray();
    }

    private static byte[] GeneratorBytes(Tensor state)
    {
        using (state) return state.data<byte>().ToArray();
    }

    private static List<string> SettingDifferences(TrainingSettings saved, TrainingSettings now)
    {
        var differences = new List<string>();
        void Compare<T>(string name, T before, T after)
        {
            if (!EqualityComparer<T>.Default.Equals(before, after))
                differences.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {before} then, {after} now"));
        }
        Compare("epochs", saved.Epochs, now.Epochs);
        Compare("batch size", saved.BatchSize, now.BatchSize);
        Compare("max learning rate", saved.MaxLearningRate, now.MaxLearningRate);
        Compare("weight decay", saved.WeightDecay, now.WeightDecay);
        Compare("horizontal flip", saved.HorizontalFlip, now.HorizontalFlip);
        Compare("seed", saved.Seed, now.Seed);
        if (differences.Count == 0 && saved != now) differences.Add("a setting this version does not name differs");
        return differences;
    }

    private static (TrainingStateHeader Header, long PayloadStart) ParseHeader(string path, byte[] bytes)
    {
        var (header, payloadStart) = Format.ParseHeader<TrainingStateHeader>(path, bytes);
        if (header.FormatVersion != FormatVersion)
            throw new TrainingStateException(path, $"format version {header.FormatVersion} is not supported (this build reads version {FormatVersion})");
        if (header.SectionLengths.Count != SectionCount || header.SectionLengths.Any(length => length < 0 || length > int.MaxValue))
            throw new TrainingStateException(path, "the header's section table is corrupt");
        if (header.EpochsDone < 1 || header.EpochsDone > header.Settings.Epochs || header.History.Count != header.EpochsDone)
            throw new TrainingStateException(path,
                $"the header says {header.EpochsDone} of {header.Settings.Epochs} epochs are done with {header.History.Count} epoch summaries; the file is corrupt");
        return (header, payloadStart);
    }

    private static string Abbreviate(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;
}
