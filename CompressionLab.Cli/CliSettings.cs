using CompressionLab.Core.Data;
using CompressionLab.Core.Workspace;
using Microsoft.Extensions.Configuration;

namespace CompressionLab.Cli;

/// <summary>
/// The dashboard's settings as the CLI reads them: the <c>Datasets</c> and <c>Workspace</c> sections, bound from
/// the same kinds of source and in the same order of precedence as the dashboard's: a JSON file in
/// appsettings.json's shape (<c>--config FILE</c>, e.g. the dashboard's own appsettings.json), then environment
/// variables in .NET's form (<c>Datasets__Folders__0</c>, <c>Workspace__Folder</c>), which override the file.
/// A command's own options (<c>--workspace</c>) override both. Without either source the defaults apply.
/// </summary>
public sealed record CliSettings(DatasetOptions Datasets, WorkspaceOptions Workspace)
{
    /// <summary>
    /// Reads <paramref name="configFile"/> (when given) and the environment. A missing, unreadable or malformed file,
    /// or a value that does not fit its setting, is a <see cref="UsageException"/> naming <c>--config</c> (or the
    /// environment when the file is not to blame).
    /// </summary>
    public static CliSettings Load(string? configFile)
    {
        var builder = new ConfigurationBuilder();
        string? path = null;
        if (configFile is not null)
        {
            path = Path.GetFullPath(configFile);
            if (Directory.Exists(path)) throw new UsageException("--config", $"{path} is a folder; give a JSON settings file");
            if (!File.Exists(path)) throw new UsageException("--config", $"file not found: {path}");
            builder.AddJsonFile(path, optional: false, reloadOnChange: false);
        }
        builder.AddEnvironmentVariables();

        IConfigurationRoot configuration;
        try
        {
            configuration = builder.Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or IOException or UnauthorizedAccessException)
        {
            // The JSON provider wraps the parser's complaint (line and position) as the inner exception.
            var detail = e.InnerException is { } inner ? $"{e.Message} {inner.Message}" : e.Message;
            throw new UsageException("--config", $"{path}: {CliApp.OneLine(detail)}");
        }

        try
        {
            return new CliSettings(
                configuration.GetSection(DatasetOptions.SectionName).Get<DatasetOptions>() ?? new DatasetOptions(),
                configuration.GetSection(WorkspaceOptions.SectionName).Get<WorkspaceOptions>() ?? new WorkspaceOptions());
        }
        catch (InvalidOperationException e)
        {
            // The binder names the key ("Failed to convert configuration value at 'Datasets:AllowDownload' ...").
            var source = path is null ? "environment variables" : $"--config {path} or the environment variables";
            throw new UsageException(path is null ? "configuration" : "--config", $"{CliApp.OneLine(e.Message)} (from {source})");
        }
    }
}
