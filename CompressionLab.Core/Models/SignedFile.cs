using System.Buffers.Binary;
using System.Text.Json;

namespace CompressionLab.Core.Models;

/// <summary>
/// The layout CompressionLab's own binary files share (checkpoints, training states): an 8-byte signature, the JSON
/// header's length (int32, little-endian), the UTF-8 JSON header, then the payload. Reading checks the signature and
/// every length before trusting it and never instantiates anything the file names; writing goes to a temporary file
/// beside the target that is then renamed, so a reader never sees half a file.
/// </summary>
/// <param name="Signature">The first bytes of every file of this kind, e.g. <c>CLABCKPT</c>.</param>
/// <param name="FileKind">What messages call such a file, e.g. "checkpoint file".</param>
/// <param name="NotThisKind">What to say of a file without the signature.</param>
/// <param name="HeaderName">What messages call the JSON header, e.g. "metadata header".</param>
/// <param name="Problem">The exception for a problem with a file: its path, the problem, the cause if any.</param>
internal sealed record SignedFileFormat(
    byte[] Signature,
    int MaxHeaderLength,
    string FileKind,
    string NotThisKind,
    string HeaderName,
    Func<string, string, Exception?, Exception> Problem)
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = false,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>Signature and header length: the bytes before the header.</summary>
    public int PrefixLength => Signature.Length + 4;

    /// <summary>Writes signature, header and payload to <paramref name="fullPath"/> through a temporary file and a rename.</summary>
    /// <param name="flushToDisk">Force the bytes onto the disk before the rename, so a crash finds the old file or the whole new one.</param>
    public void Write(string fullPath, byte[] header, IEnumerable<byte[]> payload, bool flushToDisk)
    {
        var folder = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                Span<byte> length = stackalloc byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(length, header.Length);
                file.Write(Signature);
                file.Write(length);
                file.Write(header);
                foreach (var part in payload) file.Write(part);
                if (flushToDisk) file.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>
    /// Deletes <paramref name="fullPath"/> and any temporary file a crash left beside it while <see cref="Write"/> wrote it
    /// (<c>.NAME.*.tmp</c>); false when the file itself was not there.
    /// </summary>
    public static bool Delete(string fullPath)
    {
        var folder = Path.GetDirectoryName(fullPath)!;
        if (!Directory.Exists(folder)) return false;
        foreach (var leftover in Directory.EnumerateFiles(folder, $".{Path.GetFileName(fullPath)}.*.tmp")) File.Delete(leftover);
        if (!File.Exists(fullPath)) return false;
        File.Delete(fullPath);
        return true;
    }

    /// <summary>Throws <see cref="Problem"/> unless <paramref name="path"/> names an existing file (not a folder).</summary>
    public void CheckIsFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path)) throw Problem(path, $"is a folder, not a {FileKind}", null);
        if (!File.Exists(path)) throw Problem(path, "file not found", null);
    }

    /// <summary>The whole file, or <see cref="Problem"/> saying why it cannot be read.</summary>
    public byte[] ReadAll(string path)
    {
        CheckIsFile(path);
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Problem(path, $"cannot be read ({e.Message})", e);
        }
    }

    /// <summary>
    /// The header length the prefix claims when it is plausible, else 0 (<see cref="ParseHeader{T}"/> then reports why):
    /// for reading only the header of a large file.
    /// </summary>
    public int PlausibleHeaderLength(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length < PrefixLength) return 0;
        var length = BinaryPrimitives.ReadInt32LittleEndian(prefix[Signature.Length..]);
        return length is > 0 && length <= MaxHeaderLength ? length : 0;
    }

    /// <summary>The JSON header and where the payload starts; <see cref="Problem"/> for a foreign, truncated or corrupt file.</summary>
    public (T Header, long PayloadStart) ParseHeader<T>(string path, byte[] bytes) where T : class
    {
        if (bytes.Length < PrefixLength || !bytes.AsSpan(0, Signature.Length).SequenceEqual(Signature))
            throw Problem(path, bytes.Length == 0 ? "the file is empty" : NotThisKind, null);
        var headerLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(Signature.Length));
        if (headerLength <= 0 || headerLength > MaxHeaderLength)
            throw Problem(path, $"the header length {headerLength} is not plausible; the file is corrupt", null);
        if (bytes.Length < PrefixLength + headerLength)
            throw Problem(path, $"truncated inside the header ({bytes.Length} bytes, the header alone ends at byte {PrefixLength + headerLength})", null);

        T? header;
        try
        {
            header = JsonSerializer.Deserialize<T>(bytes.AsSpan(PrefixLength, headerLength), Json);
        }
        catch (JsonException e)
        {
            throw Problem(path, $"the {HeaderName} is corrupt ({e.Message})", e);
        }
        return header is null
            ? throw Problem(path, $"the {HeaderName} is empty", null)
            : (header, PrefixLength + (long)headerLength);
    }
}
