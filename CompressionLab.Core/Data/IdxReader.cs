using System.Buffers.Binary;
using System.IO.Compression;

namespace CompressionLab.Core.Data;

/// <summary>A file that is not a valid IDX file of the expected kind; the message names the file and the problem.</summary>
public sealed class IdxFormatException(string filePath, string problem)
    : Exception($"{Path.GetFileName(filePath)}: {problem} ({filePath})")
{
    public string FilePath { get; } = filePath;
    public string Problem { get; } = problem;
}

/// <summary>An IDX array: unsigned bytes with their dimensions.</summary>
public sealed record IdxArray(IReadOnlyList<int> Dimensions, byte[] Data);

/// <summary>The header of an IDX file: its dimensions (the first is the item count) and its length in bytes.</summary>
public sealed record IdxHeader(IReadOnlyList<int> Dimensions, int Length)
{
    public int Count => Dimensions[0];
}

/// <summary>
/// Reads the IDX format of the MNIST family (LeCun et al.), raw or gzip-compressed: a big-endian header
/// of two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each dimension
/// as a big-endian int32, then the data. Only unsigned-byte arrays are used by image datasets.
/// </summary>
public static class IdxReader
{
    public const int ImagesMagic = 0x00000803; // ubyte, 3 dimensions
    public const int LabelsMagic = 0x00000801; // ubyte, 1 dimension

    /// <summary>Reads images (N × rows × cols).</summary>
    public static IdxArray ReadImages(string path) => Read(path, expectedDimensions: 3);

    /// <summary>Reads labels (N).</summary>
    public static IdxArray ReadLabels(string path) => Read(path, expectedDimensions: 1);

    public static IdxArray Read(string path, int expectedDimensions)
    {
        if (!File.Exists(path)) throw new IdxFormatException(path, "file not found");
        byte[] bytes;
        try
        {
            bytes = LoadBytes(path);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(path, $"gzip data is corrupt or truncated ({e.Message})");
        }
        catch (EndOfStreamException)
        {
            throw new IdxFormatException(path, "gzip data is truncated");
        }
        return Parse(path, bytes, expectedDimensions);
    }

    /// <summary>
    /// Reads only the header (magic and dimensions) without reading the data: for a gzip file only the
    /// first bytes are decompressed. It does not check that the data is complete; <see cref="Read"/> does.
    /// </summary>
    /// <param name="expectedDimensions">3 for images, 1 for labels, or null to accept any unsigned-byte array.</param>
    public static IdxHeader ReadHeader(string path, int? expectedDimensions = null)
    {
        if (!File.Exists(path)) throw new IdxFormatException(path, "file not found");
        try
        {
            using var file = File.OpenRead(path);
            using var stream = IsGzip(file) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
            var prefix = new byte[4];
            var read = stream.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
            CheckPrefix(path, prefix.AsSpan(0, read), expectedDimensions);
            var header = new byte[4 + (4 * prefix[3])];
            prefix.CopyTo(header, 0);
            read = 4 + stream.ReadAtLeast(header.AsSpan(4), header.Length - 4, throwOnEndOfStream: false);
            return new IdxHeader(ParseDimensions(path, header.AsSpan(0, read)), header.Length);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(path, $"gzip data is corrupt or truncated ({e.Message})");
        }
    }

    internal static IdxArray Parse(string path, byte[] bytes, int expectedDimensions)
    {
        CheckPrefix(path, bytes, expectedDimensions);
        var sizes = ParseDimensions(path, bytes);
        var headerLength = 4 + (4 * sizes.Length);
        long expected = 1;
        foreach (var size in sizes) expected *= size;
        long actual = bytes.Length - headerLength;
        if (actual < expected)
            throw new IdxFormatException(path, $"data is truncated: dimensions {string.Join("×", sizes)} need {expected} bytes, found {actual}");
        if (actual > expected)
            throw new IdxFormatException(path, $"has {actual - expected} bytes after the {expected} the dimensions {string.Join("×", sizes)} describe");
        return new IdxArray(sizes, bytes.AsSpan(headerLength).ToArray());
    }

    /// <summary>Checks the four magic bytes: two zeros, the unsigned-byte type code and the dimension count.</summary>
    private static void CheckPrefix(string path, ReadOnlySpan<byte> bytes, int? expectedDimensions)
    {
        if (bytes.Length < 4) throw new IdxFormatException(path, $"only {bytes.Length} bytes; an IDX header needs at least 4");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new IdxFormatException(path, $"not an IDX file (magic number starts 0x{bytes[0]:x2}{bytes[1]:x2}, expected 0x0000)");
        if (bytes[2] != 0x08)
            throw new IdxFormatException(path, $"element type 0x{bytes[2]:x2} is not supported (expected 0x08, unsigned byte)");
        int dimensions = bytes[3];
        if (expectedDimensions is { } expectedCount && dimensions != expectedCount)
        {
            var what = expectedCount == 3 ? "images (3 dimensions, magic 2051)" : expectedCount == 1 ? "labels (1 dimension, magic 2049)" : $"{expectedCount} dimensions";
            throw new IdxFormatException(path, $"has {dimensions} dimensions (magic {BinaryPrimitives.ReadInt32BigEndian(bytes)}); expected {what}");
        }
        if (dimensions == 0) throw new IdxFormatException(path, "has 0 dimensions");
    }

    /// <summary>The dimension sizes after a checked prefix; <paramref name="bytes"/> may end right after the header.</summary>
    private static int[] ParseDimensions(string path, ReadOnlySpan<byte> bytes)
    {
        int dimensions = bytes[3];
        var headerLength = 4 + (4 * dimensions);
        if (bytes.Length < headerLength)
            throw new IdxFormatException(path, $"header is truncated: {bytes.Length} bytes, {headerLength} needed for {dimensions} dimensions");
        var sizes = new int[dimensions];
        long total = 1;
        for (var d = 0; d < dimensions; d++)
        {
            sizes[d] = BinaryPrimitives.ReadInt32BigEndian(bytes[(4 + (4 * d))..]);
            if (sizes[d] <= 0) throw new IdxFormatException(path, $"dimension {d} has size {sizes[d]}");
            total *= sizes[d];
            if (total > Array.MaxLength) throw new IdxFormatException(path, "dimensions describe more data than can be held in memory");
        }
        return sizes;
    }

    private static bool IsGzip(FileStream file)
    {
        var isGzip = file.Length >= 2 && file.ReadByte() == 0x1f && file.ReadByte() == 0x8b;
        file.Position = 0;
        return isGzip;
    }

    private static byte[] LoadBytes(string path)
    {
        using var file = File.OpenRead(path);
        if (!IsGzip(file))
        {
            var raw = new byte[file.Length];
            file.ReadExactly(raw);
            return raw;
        }
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        return memory.ToArray();
    }
}
