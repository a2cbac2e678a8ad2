using System.Text;

namespace CompressionLab.Core;

/// <summary>
/// Writes a whole file beside its target and renames it over the target, so a reader (or a crash halfway) never leaves
/// half a file where a good one was. For the files the exports write (recipes, calibration files, reports, ONNX).
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="text"/> as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, temporary => File.WriteAllText(temporary, text, new UTF8Encoding(false)));

    public static void WriteAllBytes(string path, byte[] bytes) =>
        Write(path, temporary => File.WriteAllBytes(temporary, bytes));

    private static void Write(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        var temporary = full + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            write(temporary);
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
