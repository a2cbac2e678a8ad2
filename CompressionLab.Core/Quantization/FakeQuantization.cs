using static TorchSharp.torch;

namespace CompressionLab.Core.Quantization;

/// <summary>
/// Simulated 8-bit quantization in float: x̂ = (clamp(round(x / s) + z, qmin, qmax) − z)·s, per tensor (activations)
/// or per output channel along dimension 0 (weights). torch.round rounds half to even; inside the grid's range the
/// error is at most half a step either way.
/// </summary>
public static class FakeQuantization
{
    /// <summary>A new tensor: <paramref name="x"/> quantized and dequantized on one grid.</summary>
    public static Tensor PerTensor(Tensor x, QuantizationGrid grid)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var q = (x / grid.Scale).round_().add_(grid.ZeroPoint).clamp_(grid.QMin, grid.QMax);
        return q.sub_(grid.ZeroPoint).mul_(grid.Scale).MoveToOuterDisposeScope();
    }

    /// <summary>A new tensor: each slice along dimension 0 quantized on its own grid (all grids of one mode).</summary>
    public static Tensor PerChannel(Tensor x, IReadOnlyList<QuantizationGrid> grids)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(grids);
        if (x.dim() == 0 || x.shape[0] != grids.Count)
            throw new ArgumentException($"{grids.Count} channel grids for a tensor of shape [{string.Join(", ", x.shape)}].");
        if (grids.Any(g => g.QMin != grids[0].QMin || g.QMax != grids[0].QMax))
            throw new ArgumentException("Per-channel grids must share one integer range (one mode).");
        using var scope = NewDisposeScope();
        var view = new long[x.dim()];
        Array.Fill(view, 1L);
        view[0] = grids.Count;
        var scale = tensor(grids.Select(g => g.Scale).ToArray(), x.dtype).view(view);
        var zero = tensor(grids.Select(g => (double)g.ZeroPoint).ToArray(), x.dtype).view(view);
        var q = (x / scale).round_().add_(zero).clamp_(grids[0].QMin, grids[0].QMax);
        return q.sub_(zero).mul_(scale).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per-output-channel grids from a weight's own ranges (max: weights are known exactly, nothing to clip).
    /// NaN or ±Inf in the weight throws <see cref="NonFiniteTensorException"/> naming the layer.
    /// </summary>
    public static IReadOnlyList<QuantizationGrid> ChannelGrids(string layer, Tensor weight, QuantizationMode mode = QuantizationMode.Symmetric)
    {
        var (mins, maxs) = ChannelRanges(layer, weight);
        return [.. mins.Select((min, c) => QuantizationGrid.For(mode, min, maxs[c]))];
    }

    /// <summary>Each output channel's min and max (dimension 0), in double.</summary>
    public static (double[] Min, double[] Max) ChannelRanges(string layer, Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        using var scope = NewDisposeScope();
        var rows = weight.detach().cpu().to_type(ScalarType.Float64).reshape(weight.shape[0], -1);
        var finite = isfinite(rows);
        if (!finite.all().item<bool>())
        {
            var index = (~finite).reshape(-1).nonzero()[0, 0].item<long>();
            throw new NonFiniteTensorException(layer, "weight", index, rows.reshape(-1)[index].item<double>());
        }
        return (rows.amin([1]).data<double>().ToArray(), rows.amax([1]).data<double>().ToArray());
    }
}
