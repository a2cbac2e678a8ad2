namespace CompressionLab.Core.Jobs;

/// <summary>
/// Tells other processes sharing the workspace (the CLI beside the dashboard) that a scheduler is alive:
/// it holds an exclusive lock on <c>&lt;workspace&gt;/locks/scheduler-&lt;id&gt;.lock</c> for its lifetime.
/// The operating system drops the lock when the process dies, so a lock that can be taken means its
/// owner is gone and the jobs it left Running or Queued were interrupted.
/// </summary>
internal sealed class SchedulerLease : IDisposable
{
    private readonly FileStream _lock;

    private SchedulerLease(string owner, FileStream fileLock)
    {
        Owner = owner;
        _lock = fileLock;
    }

    /// <summary>The id written into the <c>owner</c> column of the jobs this scheduler runs.</summary>
    public string Owner { get; }

    public string FilePath => _lock.Name;

    public static SchedulerLease Acquire(string locksFolder)
    {
        Directory.CreateDirectory(locksFolder);
        var owner = Guid.NewGuid().ToString("N");
        var stream = new FileStream(PathOf(locksFolder, owner), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        return new SchedulerLease(owner, stream);
    }

    /// <summary>True when the scheduler <paramref name="owner"/> still holds its lock.</summary>
    public static bool IsHeld(string locksFolder, string? owner)
    {
        if (string.IsNullOrEmpty(owner) || owner.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || owner.Contains('.', StringComparison.Ordinal))
        {
            return false;
        }

        var path = PathOf(locksFolder, owner);
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (DirectoryNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }

        return false;
    }

    /// <summary>
    /// Deletes lock files left by schedulers that died. Only old ones: a scheduler starting right now has
    /// created its file but may not have locked it yet.
    /// </summary>
    public static void RemoveStale(string locksFolder, DateTime olderThanUtc)
    {
        if (!Directory.Exists(locksFolder))
        {
            return;
        }

        foreach (var path in Directory.EnumerateFiles(locksFolder, "scheduler-*.lock"))
        {
            var owner = Path.GetFileNameWithoutExtension(path)["scheduler-".Length..];
            if (File.GetLastWriteTimeUtc(path) < olderThanUtc && !IsHeld(locksFolder, owner))
            {
                TryDelete(path);
            }
        }
    }

    public void Dispose()
    {
        var path = _lock.Name;
        _lock.Dispose();
        TryDelete(path);
    }

    private static string PathOf(string locksFolder, string owner) => Path.Combine(locksFolder, $"scheduler-{owner}.lock");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Another process took the file meanwhile; it is harmless to leave.
        }
        catch (UnauthorizedAccessException)
        {
            // Same: a leftover lock file costs nothing.
        }
    }
}
