using CompressionLab.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// The tensors that pruning one layer touches: its weight and bias, and the BatchNorm that directly
/// follows it in its block (VGG-BN: conv then bn), if any.
/// </summary>
internal sealed record PrunableLayer(LayerInfo Info, nn.Module<Tensor, Tensor> Module, Tensor Weight, Tensor? Bias, TorchSharp.Modules.BatchNorm? FollowingNorm)
{
    public static PrunableLayer Of(ClassifierNetwork network, string layerName)
    {
        var info = network.Layer(layerName);
        var modules = network.Blocks[info.BlockIndex].Modules;
        var position = -1;
        for (var i = 0; i < modules.Count; i++)
            if (modules[i].Name == layerName) position = i;
        var module = modules[position].Module;
        var (weight, bias) = module switch
        {
            TorchSharp.Modules.Conv2d conv => ((Tensor)conv.weight!, (Tensor?)conv.bias),
            TorchSharp.Modules.Linear linear => (linear.weight!, linear.bias),
            _ => throw new InvalidOperationException($"Layer {layerName} is a {module.GetType().Name}, not conv or linear."),
        };
        var norm = position + 1 < modules.Count ? modules[position + 1].Module as TorchSharp.Modules.BatchNorm : null;
        return new PrunableLayer(info, module, weight, bias, norm);
    }
}
