using CompressionLab.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CompressionLab.Core.Pruning;

/// <summary>
/// The tensors that a mask on one layer touches: its weight and bias, and the BatchNorm that the
/// network's <see cref="LayerGraph"/> says normalises the layer's output channels, if any.
/// </summary>
internal sealed record PrunableLayer(LayerChannels Channels, Tensor Weight, Tensor? Bias, TorchSharp.Modules.BatchNorm? Norm)
{
    public static PrunableLayer Of(ClassifierNetwork network, string layerName)
    {
        network.Layer(layerName); // names the model's layers when the name is unknown
        var channels = network.Graph.Layer(layerName);
        var module = network.LayerModule(layerName);
        var (weight, bias) = module switch
        {
            TorchSharp.Modules.Conv2d conv => ((Tensor)conv.weight!, (Tensor?)conv.bias),
            TorchSharp.Modules.Linear linear => (linear.weight!, linear.bias),
            _ => throw new InvalidOperationException($"Layer {layerName} is a {module.GetType().Name}, not conv or linear."),
        };
        var norm = channels.Norm is { } name
            ? network.ModuleNamed(name) as TorchSharp.Modules.BatchNorm
              ?? throw new InvalidOperationException($"The layer graph names {name} as the BatchNorm of {layerName}, but it is a {network.ModuleNamed(name).GetType().Name}.")
            : null;
        return new PrunableLayer(channels, weight, bias, norm);
    }

    /// <summary>
    /// What a filter mask zeroes, row by row along dimension 0, in this order: the weight, the bias,
    /// then the BatchNorm's γ and β. Each is named for error messages.
    /// </summary>
    public IEnumerable<(string Name, Tensor Tensor)> FilterTargets()
    {
        yield return ($"{Channels.Name}.weight", Weight);
        if (Bias is not null) yield return ($"{Channels.Name}.bias", Bias);
        if (Norm is null) yield break;
        if (Norm.weight is not null) yield return ($"{Channels.Norm}.weight", Norm.weight);
        if (Norm.bias is not null) yield return ($"{Channels.Norm}.bias", Norm.bias);
    }
}
