using System.Runtime.CompilerServices;
using CompressionLab.Core.Models;

namespace CompressionLab.Tests;

internal static class TestProcessSetup
{
    /// <summary>
    /// Runs when the test assembly loads, before any test touches TorchSharp: xunit runs test classes in
    /// parallel on 2 cores, and libtorch's spinning OpenMP threads would otherwise slow every TorchSharp
    /// test many times over (see <see cref="TorchRuntime.PrepareEnvironment"/>).
    /// </summary>
    [ModuleInitializer]
    internal static void PrepareTorch() => TorchRuntime.PrepareEnvironment();
}
