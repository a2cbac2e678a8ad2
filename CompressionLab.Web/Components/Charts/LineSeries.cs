namespace CompressionLab.Web.Components.Charts;

/// <summary>One named line of a <see cref="LineChart"/>; <see cref="X"/> and <see cref="Y"/> have equal length.</summary>
public sealed record LineSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    public static LineSeries Empty(string name) => new(name, [], []);
}
