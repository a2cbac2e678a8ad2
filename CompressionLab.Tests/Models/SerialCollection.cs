namespace CompressionLab.Tests.Models;

/// <summary>
/// Tests that must not share the process with other running tests: exact reproducibility (TorchSharp's
/// global generator drives dropout and weight initialisation), process memory measurements, and libtorch's process-wide
/// thread count (changing it while another test's convolution runs gave that test wrong values and NaN gradients).
/// xunit runs this collection after the parallel ones, alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial: global RNG, process memory, thread count";
}
