using CompressionLab.Cli;
using CompressionLab.Core.Models;

// Before libtorch loads (see TorchRuntime). The compute commands let idle OpenMP threads spin when the
// machine is otherwise idle; everything else (and a busy machine) keeps them sleeping. The training commands run every
// conv channels-last, which lets oneDNN use AVX-512 where only its NCHW convs are wrong.
TorchRuntime.PrepareEnvironment(spinIfMachineIdle: CliApp.ComputesWithTorch(args), channelsLastConvolutionsOnly: CliApp.ConvolvesChannelsLastOnly(args));

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl+C stops the work between batches; the command reports and exits on its own.
    e.Cancel = true;
    cancel.Cancel();
};
return CliApp.Run(args, Console.Out, Console.Error, cancel.Token);
