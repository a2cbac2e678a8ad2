using System.Text.Json;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Export.Dialects;

/// <summary>What <see cref="PyTorchStateDict.Write"/> wrote.</summary>
/// <param name="Tensors">Every entry, under our name and PyTorch's, in file order.</param>
public sealed record StateDictFile(string Path, string Architecture, PyTorchNaming Naming, IReadOnlyList<PyTorchParameter> Tensors, long Bytes);

/// <summary>
/// A zoo network's weights as a PyTorch state dict in safetensors, under the PyTorch twin's names (<see cref="PyTorchNames"/>):
/// <c>build().load_state_dict(safetensors.torch.load_file(path))</c> loads it with strict checking. Every entry is written,
/// BatchNorm's running statistics and <c>num_batches_tracked</c> (int64) included, so a strict load finds nothing missing.
/// </summary>
public static class PyTorchStateDict
{
    /// <summary>Writes <paramref name="network"/>'s state dict to <paramref name="path"/> (replacing it).</summary>
    /// <param name="metadata">Free text kept in the file's <c>__metadata__</c> (e.g. the source checkpoint's weights hash); the architecture, naming and widths are added.</param>
    public static StateDictFile Write(ClassifierNetwork network, string path, PyTorchNaming naming = PyTorchNaming.Sequential, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        var names = PyTorchNames.Of(network, naming);
        var state = network.state_dict();
        var tensors = names.Parameters.Select(p => (p.Name, state[p.Source])).ToArray();
        var header = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            // "pt" is what safetensors.torch.save_file writes: the tensors are PyTorch's.
            ["format"] = "pt",
            ["architecture"] = network.Architecture,
            ["naming"] = naming.ToString().ToLowerInvariant(),
        };
        if (network.Widths is not null) header["widths"] = JsonSerializer.Serialize(network.Widths);
        Safetensors.Write(path, tensors, header);
        return new StateDictFile(Path.GetFullPath(path), network.Architecture, naming, names.Parameters, new FileInfo(path).Length);
    }
}
