namespace CompressionLab.Web;

/// <summary>Settings of the dashboard itself, bound from the <c>Dashboard</c> section of appsettings.json.</summary>
public sealed class DashboardOptions
{
    public const string SectionName = "Dashboard";

    /// <summary>Largest request body (e.g. an uploaded checkpoint), in megabytes.</summary>
    public int MaxUploadMegabytes { get; set; } = 200;

    /// <summary>How often a page showing live job progress re-renders at most, per second.</summary>
    public double LiveRendersPerSecond { get; set; } = 4;

    public long MaxUploadBytes => MaxUploadMegabytes * 1024L * 1024L;

    public TimeSpan LiveRenderInterval => TimeSpan.FromSeconds(1 / Math.Max(0.1, LiveRendersPerSecond));
}
