using static TorchSharp.torch;

namespace CompressionLab.Core.Models;

/// <summary>
/// A BatchNorm folded into the conv or linear layer before it, with eval-mode semantics:
/// W' = W·γ/√(var+ε), b' = β + (b − μ)·γ/√(var+ε). The one copy of this arithmetic, shared by the evaluation's
/// inference forward (<c>Pruning/PrunableForward</c>) and the calibration's <c>Quantization/FoldedNetwork</c>, so both
/// see the same folded weights bit for bit.
/// </summary>
internal static class BatchNormFolding
{
    /// <summary>
    /// Folds in double precision, then rounds once to the weight's type. Without a norm: copies of the weight and the
    /// bias (null when the layer has none). The layer's own tensors are never changed.
    /// </summary>
    public static (Tensor Weight, Tensor? Bias) Fold(Tensor weight, Tensor? bias, TorchSharp.Modules.BatchNorm? norm)
    {
        ArgumentNullException.ThrowIfNull(weight);
        using var scope = NewDisposeScope();
        if (norm is null)
            return (weight.detach().clone().MoveToOuterDisposeScope(), bias?.detach().clone().MoveToOuterDisposeScope());
        var type = weight.dtype;
        var variance = norm.running_var!.detach().to_type(ScalarType.Float64);
        var mean = norm.running_mean!.detach().to_type(ScalarType.Float64);
        var gamma = norm.weight?.detach().to_type(ScalarType.Float64) ?? ones_like(mean);
        var beta = norm.bias?.detach().to_type(ScalarType.Float64) ?? zeros_like(mean);
        var scale = gamma / (variance + norm.eps).sqrt();
        var view = new long[weight.dim()];
        Array.Fill(view, 1L);
        view[0] = -1;
        var folded = (weight.detach().to_type(ScalarType.Float64) * scale.view(view)).to_type(type).contiguous();
        var foldedBias = bias is null ? beta - (mean * scale) : ((bias.detach().to_type(ScalarType.Float64) - mean) * scale) + beta;
        return (folded.MoveToOuterDisposeScope(), foldedBias.to_type(type).MoveToOuterDisposeScope());
    }
}
