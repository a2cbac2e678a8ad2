using CompressionLab.Cli;
using CompressionLab.Core.Models;

TorchRuntime.PrepareEnvironment(); // before libtorch loads; see TorchRuntime

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl+C stops the work between batches; the command reports and exits on its own.
    e.Cancel = true;
    cancel.Cancel();
};
return CliApp.Run(args, Console.Out, Console.Error, cancel.Token);
