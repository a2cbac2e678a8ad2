namespace CompressionLab.Cli;

/// <summary>
/// Output locations proven writable before any data is loaded or anything is computed, so a long run cannot end
/// in a path it cannot write (a lost training run). The proof is a real one: a file is created in the folder and
/// deleted again, which catches read-only mounts, missing permissions and pseudo file systems such as /proc alike.
/// </summary>
public static class WritableOutput
{
    /// <summary>
    /// The absolute path of the file the option <paramref name="argument"/> names, once its folder exists (it is
    /// created if missing) and takes a new file. Otherwise a <see cref="UsageException"/> naming the argument and the reason.
    /// </summary>
    public static string File(string argument, string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new UsageException(argument, $"{full} is a folder; give a file name");
        Folder(argument, Path.GetDirectoryName(full)!);
        return full;
    }

    /// <summary>
    /// As <see cref="File(string, string)"/>, and refused when the output is the file <paramref name="inputOption"/>
    /// reads (<paramref name="inputPath"/>): writing there would replace the source, and bad input may never change
    /// what is already saved.
    /// </summary>
    public static string File(string argument, string path, string inputOption, string inputPath)
    {
        var full = File(argument, path);
        if (string.Equals(full, Path.GetFullPath(inputPath), StringComparison.Ordinal))
            throw new UsageException(argument, $"is the model file itself ({inputOption} {full}); write to another file (the source is only read)");
        return full;
    }

    /// <summary>Creates <paramref name="folder"/> if missing and proves a file can be created and deleted in it.</summary>
    public static void Folder(string argument, string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException(argument, $"cannot create the folder {folder} ({CliApp.OneLine(e.Message)})");
        }
        var probe = Path.Combine(folder, $".compressionlab-write-test-{Guid.NewGuid():N}.tmp");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1)) { }
            System.IO.File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException(argument, $"cannot write to the folder {folder} ({CliApp.OneLine(e.Message)})");
        }
    }
}
