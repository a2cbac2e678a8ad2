namespace CompressionLab.Tests.Models;

/// <summary>
/// Tests that must not share the process with other running tests: exact reproducibility (TorchSharp's
/// global generator drives dropout and weight initialisation) and process memory measurements.
/// xunit runs this collection after the parallel ones, alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial: global RNG and process memory";
}
