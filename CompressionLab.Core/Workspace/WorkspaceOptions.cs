namespace CompressionLab.Core.Workspace;

/// <summary>Where the workspace lives; bound from the <c>Workspace</c> section of appsettings.json.</summary>
public sealed class WorkspaceOptions
{
    public const string SectionName = "Workspace";

    /// <summary>
    /// The workspace folder. Blank means <see cref="DefaultFolder"/>; <c>~</c> is the user's home;
    /// a relative path is taken under <see cref="DefaultBaseFolder"/>, so a bare name can never land
    /// inside the repository the app happens to be started from.
    /// </summary>
    public string Folder { get; set; } = DefaultFolder;

    /// <summary>The per-user folder the app owns: <c>LocalApplicationData/CompressionLab</c>.</summary>
    public static string DefaultBaseFolder
    {
        get
        {
            var localData = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
            if (string.IsNullOrWhiteSpace(localData))
            {
                throw new InvalidOperationException(
                    "This user has no local application data folder (is HOME set?); set Workspace:Folder in appsettings.json to an absolute path.");
            }

            return Path.Combine(localData, "CompressionLab");
        }
    }

    /// <summary><c>LocalApplicationData/CompressionLab/workspace</c>.</summary>
    public static string DefaultFolder => Path.Combine(DefaultBaseFolder, "workspace");

    /// <summary>The absolute folder everything of the workspace is written under.</summary>
    public string ResolveFolder()
    {
        var folder = Folder?.Trim();
        if (string.IsNullOrEmpty(folder))
        {
            return Path.TrimEndingDirectorySeparator(Path.GetFullPath(DefaultFolder));
        }

        folder = Environment.ExpandEnvironmentVariables(folder);
        if (folder == "~" || folder.StartsWith("~/", StringComparison.Ordinal))
        {
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            folder = Path.Combine(home, folder.Length > 2 ? folder[2..] : string.Empty);
        }

        var full = Path.IsPathRooted(folder)
            ? Path.GetFullPath(folder)
            : Path.GetFullPath(Path.Combine(DefaultBaseFolder, folder));
        return Path.TrimEndingDirectorySeparator(full);
    }
}
