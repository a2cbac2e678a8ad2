using System.Globalization;

namespace CompressionLab.Core.Workspace;

/// <summary>How the workspace writes instants: UTC, round-trip format, so text order is time order.</summary>
internal static class WorkspaceTime
{
    public static string Format(DateTimeOffset instant) =>
        instant.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    public static string? Format(DateTimeOffset? instant) => instant is { } value ? Format(value) : null;

    public static DateTimeOffset Parse(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}
