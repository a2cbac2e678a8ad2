using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace CompressionLab.Core.Export.Dialects;

/// <summary>One tensor of a safetensors file's header.</summary>
/// <param name="DataType">safetensors' dtype code: <c>F32</c>, <c>I64</c>, ...</param>
/// <param name="Begin">Offset of the first byte in the data section (after the header).</param>
/// <param name="End">Offset one past the last byte.</param>
public sealed record SafetensorsEntry(string Name, string DataType, IReadOnlyList<long> Shape, long Begin, long End);

/// <summary>A safetensors file's header: the tensors in data order, the free-text metadata, where the data starts.</summary>
public sealed record SafetensorsHeader(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

/// <summary>
/// The safetensors format (Hugging Face), written directly because it is tiny: an unsigned 64-bit little-endian header
/// length, a UTF-8 JSON header <c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {string: string}}</c>, then every tensor's raw little-endian bytes, row-major, back to back. The header is
/// padded with spaces to a multiple of 8 bytes, as the reference writer does, so the data is aligned. Nothing in it is
/// executable, unlike a pickled <c>.pt</c> file; <c>safetensors.torch.load_file</c> or a few lines of numpy read it.
/// </summary>
public static class Safetensors
{
    /// <summary>Writes the tensors in the order given (each copied to the CPU, contiguous) with <paramref name="metadata"/>.</summary>
    /// <exception cref="NotSupportedException">A tensor of a type safetensors has no code for here.</exception>
    public static void Write(Stream stream, IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)JsonValue.Create(m.Value))));
        var data = new List<byte[]>(tensors.Count);
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            if (header.ContainsKey(name)) throw new ArgumentException($"Tensor '{name}' is given twice.", nameof(tensors));
            var bytes = Bytes(name, tensor);
            header[name] = new JsonObject
            {
                ["dtype"] = Code(name, tensor.dtype),
                ["shape"] = new JsonArray([.. tensor.shape.Select(d => (JsonNode?)JsonValue.Create(d))]),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + bytes.LongLength)),
            };
            offset += bytes.LongLength;
            data.Add(bytes);
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8;
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(json);
        for (var i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var bytes in data) stream.Write(bytes);
    }

    /// <summary>Writes the file (replacing it): written beside the target and renamed, so a reader never sees half of one.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var temporary = full + ".partial";
        using (var file = File.Create(temporary)) Write(file, tensors, metadata);
        File.Move(temporary, full, overwrite: true);
    }

    /// <summary>Reads the header and checks that the entries tile the data section exactly.</summary>
    /// <exception cref="InvalidDataException">Not a safetensors file, or one whose header and data disagree; the message says where.</exception>
    public static SafetensorsHeader ReadHeader(byte[] file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.Length < 8) throw new InvalidDataException("shorter than the 8-byte header length");
        var length = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (length > (ulong)(file.Length - 8)) throw new InvalidDataException($"the header declares {length} bytes but the file has {file.Length - 8} after the length");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(file.AsSpan(8, (int)length)) as JsonObject ?? throw new InvalidDataException("the header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"the header is not JSON: {e.Message}", e);
        }
        var dataStart = 8 + (long)length;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<SafetensorsEntry>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (key, value) in node!.AsObject()) metadata[key] = value!.GetValue<string>();
                continue;
            }
            var entry = node!.AsObject();
            var offsets = entry["data_offsets"]!.AsArray().Select(o => o!.GetValue<long>()).ToArray();
            var shape = entry["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
            var type = entry["dtype"]!.GetValue<string>();
            if (offsets.Length != 2 || offsets[0] > offsets[1]) throw new InvalidDataException($"tensor '{name}' has bad data_offsets");
            if (offsets[1] - offsets[0] != shape.Aggregate(1L, (a, b) => a * b) * ElementSize(type))
                throw new InvalidDataException($"tensor '{name}': {offsets[1] - offsets[0]} bytes do not hold a {type} tensor of shape [{string.Join(", ", shape)}]");
            entries.Add(new SafetensorsEntry(name, type, shape, offsets[0], offsets[1]));
        }
        entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        long expected = 0;
        foreach (var entry in entries)
        {
            if (entry.Begin != expected) throw new InvalidDataException($"tensor '{entry.Name}' starts at {entry.Begin}, not at {expected} where the previous one ended");
            expected = entry.End;
        }
        if (dataStart + expected != file.Length) throw new InvalidDataException($"the tensors take {expected} bytes but {file.Length - dataStart} follow the header");
        return new SafetensorsHeader(entries, metadata, dataStart);
    }

    /// <summary>safetensors' code of a TorchSharp element type.</summary>
    public static string Code(string name, ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float64 => "F64",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"Tensor '{name}' is {type}, which is not written to safetensors here."),
    };

    private static long ElementSize(string code) => code switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => throw new InvalidDataException($"unknown dtype '{code}'"),
    };

    private static byte[] Bytes(string name, Tensor tensor)
    {
        Code(name, tensor.dtype);
        using var cpu = tensor.detach().cpu().contiguous();
        // TorchSharp's bytes view is the tensor's memory; this machine (like every .NET target) is little-endian.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian.");
        return cpu.bytes.ToArray();
    }

    /// <summary>The data of <paramref name="entry"/> as float32 values (only for an <c>F32</c> entry).</summary>
    public static float[] Floats(byte[] file, SafetensorsHeader header, SafetensorsEntry entry)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.DataType != "F32") throw new ArgumentException($"Tensor '{entry.Name}' is {entry.DataType}, not F32.", nameof(entry));
        return MemoryMarshal.Cast<byte, float>(file.AsSpan((int)(header.DataStart + entry.Begin), (int)(entry.End - entry.Begin))).ToArray();
    }
}
