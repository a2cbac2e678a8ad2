using System.Text;
using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// Reads the layout of TorchSharp's own state-dict format (what <c>Module.save</c> writes) without
/// creating tensors, so a file can be checked against a model before any byte is copied into it and
/// a mismatch can be reported by tensor name. The format: LEB128 entry count, then per entry a
/// .NET length-prefixed UTF-8 name, LEB128 element type, LEB128 rank, LEB128 dimensions, raw data.
/// </summary>
internal static class TorchSharpWeights
{
    internal sealed record Entry(string Name, ScalarType Type, long[] Shape)
    {
        public string ShapeText => Shape.Length == 0 ? "a scalar" : string.Join("×", Shape);
    }

    /// <summary>Lists the entries; throws <see cref="InvalidDataException"/> describing where the data stops making sense.</summary>
    public static IReadOnlyList<Entry> ReadLayout(byte[] weights)
    {
        using var stream = new MemoryStream(weights, writable: false);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        try
        {
            var count = ReadLeb128(reader);
            if (count > 1_000_000) throw new InvalidDataException($"declares {count} tensors, which is not plausible");
            var entries = new List<Entry>((int)count);
            for (var i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                var type = (ScalarType)ReadLeb128(reader);
                var rank = ReadLeb128(reader);
                if (rank > 16) throw new InvalidDataException($"tensor '{name}' declares rank {rank}, which is not plausible");
                var shape = new long[rank];
                long elements = 1;
                for (var d = 0; d < rank; d++)
                {
                    shape[d] = ReadLeb128(reader);
                    elements = checked(elements * shape[d]);
                }
                var bytes = checked(elements * ElementSize(type, name));
                if (bytes > stream.Length - stream.Position)
                    throw new InvalidDataException($"tensor '{name}' needs {bytes} bytes but only {stream.Length - stream.Position} remain");
                stream.Seek(bytes, SeekOrigin.Current);
                entries.Add(new Entry(name, type, shape));
            }
            if (stream.Position != stream.Length)
                throw new InvalidDataException($"{stream.Length - stream.Position} bytes follow the last tensor");
            return entries;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("the weights end in the middle of a tensor entry");
        }
        catch (OverflowException)
        {
            throw new InvalidDataException("a tensor declares more elements than can exist");
        }
    }

    /// <summary>Describes how <paramref name="entries"/> fail to fit <paramref name="model"/>, or returns null when they fit exactly.</summary>
    public static string? Mismatch(IReadOnlyList<Entry> entries, ClassifierNetwork model)
    {
        var expected = model.state_dict();
        foreach (var entry in entries)
        {
            if (!expected.TryGetValue(entry.Name, out var target))
                return $"it holds a tensor '{entry.Name}' that {model.Architecture} does not have";
            if (entry.Type != target.dtype)
                return $"tensor '{entry.Name}' is {entry.Type} in the file but {target.dtype} in {model.Architecture}";
            if (!entry.Shape.SequenceEqual(target.shape))
                return $"tensor '{entry.Name}' is {entry.ShapeText} in the file but {model.Architecture} needs {string.Join("×", target.shape)}";
        }
        var missing = expected.Keys.Except(entries.Select(e => e.Name)).ToArray();
        if (missing.Length > 0)
            return $"it lacks {missing.Length} tensor(s) {model.Architecture} needs: {string.Join(", ", missing.Take(5))}{(missing.Length > 5 ? ", ..." : "")}";
        if (entries.Count != expected.Count)
            return "it holds some tensors more than once";
        return null;
    }

    private static long ReadLeb128(BinaryReader reader)
    {
        long result = 0;
        for (var shift = 0; ; shift += 7)
        {
            if (shift > 63) throw new InvalidDataException("a length field is malformed");
            var b = reader.ReadByte();
            result |= (long)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
    }

    private static long ElementSize(ScalarType type, string name) => type switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool or ScalarType.QInt8 or ScalarType.QUInt8 => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 or ScalarType.QInt32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => throw new InvalidDataException($"tensor '{name}' has an unknown element type code {(int)type}"),
    };
}
