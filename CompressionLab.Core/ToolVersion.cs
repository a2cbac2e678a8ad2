using System.Reflection;

namespace CompressionLab.Core;

/// <summary>The CompressionLab version written into the files it exports (recipes, calibration files).</summary>
public static class ToolVersion
{
    /// <summary>The assembly's informational version (e.g. <c>1.0.0+8105ca2…</c> when the build knows its commit).</summary>
    public static string Current { get; } =
        typeof(ToolVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(ToolVersion).Assembly.GetName().Version?.ToString()
        ?? "unknown";
}
