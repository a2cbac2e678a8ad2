using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace CompressionLab.Core.Models;

/// <summary>
/// A conv with one input channel (the first layer of every zoo CNN on grey images) computed as
/// im2col + one matrix product, giving a channels-last output (NHWC in memory, NCHW in shape).
/// </summary>
/// <remarks>
/// Why: oneDNN's direct conv runs a 1-channel conv far below the CPU's matrix-multiply speed (K = kh·kw
/// is tiny), in the forward pass and again for the weight gradient; and its NCHW output keeps the whole
/// network in NCHW, where this CPU's convs, BatchNorm and max-pool are slower than in channels-last.
/// A channels-last input makes every later conv, BatchNorm, ReLU and max-pool stay channels-last
/// (PyTorch recognises the layout by the strides), which trains vgg-small measurably faster (see
/// docs/models.md). Autograd differentiates it like any other expression; the module's own weight and
/// bias are used, so checkpoints, pruning masks and the layer table see the ordinary Conv2d.
/// </remarks>
internal static class SingleChannelConv
{
    /// <summary>Runs one module of a block: this path for a single-input-channel conv, the module otherwise.</summary>
    /// <remarks>
    /// In a process that promised channels-last convs only (<see cref="TorchRuntime.ChannelsLastConvolutionsOnly"/>, whose
    /// oneDNN may then use AVX-512 kernels that are wrong for NCHW), a conv with several input channels given an NCHW
    /// input (a block run on its own from a contiguous tensor) gets it channels-last first.
    /// </remarks>
    public static Tensor ForwardModule(TorchSharp.torch.nn.Module<Tensor, Tensor> module, Tensor x)
    {
        if (module is not TorchSharp.Modules.Conv2d conv) return module.call(x);
        if (Applies(conv)) return Forward(conv, x);
        if (TorchRuntime.ChannelsLastConvolutionsOnly && x.dim() == 4 && x.shape[1] > 1 && !Pruning.ChannelsLast.Is(x))
        {
            using var nhwc = Pruning.ChannelsLast.Of(x);
            return conv.call(nhwc);
        }
        return conv.call(x);
    }

    public static bool Applies(TorchSharp.Modules.Conv2d conv) =>
        conv.weight is { } weight && weight.dim() == 4 && weight.shape[1] == 1 && conv.groups == 1
        && conv.padding_mode == TorchSharp.PaddingModes.Zeros && conv.padding_type is null && conv.padding is { Length: 2 };

    public static Tensor Forward(TorchSharp.Modules.Conv2d conv, Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != 1) return conv.call(x); // let the module report the shape error
        var weight = conv.weight!;
        var outputs = weight.shape[0];
        var (kh, kw) = (weight.shape[2], weight.shape[3]);
        var (sh, sw) = (conv.stride[0], conv.stride[1]);
        var (ph, pw) = (conv.padding![0], conv.padding[1]);
        var (dh, dw) = (conv.dilation[0], conv.dilation[1]);
        var height = ((x.shape[2] + (2 * ph) - (dh * (kh - 1)) - 1) / sh) + 1;
        var width = ((x.shape[3] + (2 * pw) - (dw * (kw - 1)) - 1) / sw) + 1;

        using var columns = F.unfold(x, (kh, kw), (dh, dw), (ph, pw), (sh, sw)); // [N, kh·kw, H·W]
        using var rows = columns.transpose(1, 2);                                   // [N, H·W, kh·kw]
        using var weightRows = weight.view(outputs, kh * kw);                       // [out, kh·kw]
        using var matrix = weightRows.t();                                          // [kh·kw, out]
        // One matrix product per image against the weight broadcast over the batch, not one [N·H·W, kh·kw] product:
        // the weight gradient is then N products of [kh·kw, H·W]·[H·W, out] summed, where the single product's gradient
        // is one [kh·kw, N·H·W]·[N·H·W, out] product whose 100,352-long inner dimension MKL runs slowly (vgg-small at
        // batch 128: backward 6.1 → 1.8 ms, forward 2.9 → 2.4 ms, docs/models.md). Every handle disposed here (a handle
        // left to the GC keeps its storage until a finalizer runs).
        using var batched = matrix.expand(x.shape[0], kh * kw, outputs);            // [N, kh·kw, out], no copy
        using var product = rows.bmm(batched);                                      // [N, H·W, out]
        using var biased = conv.bias is { } bias ? product.add(bias) : product.alias();
        using var nhwc = biased.view(x.shape[0], height, width, outputs);
        return nhwc.permute(0, 3, 1, 2);
    }
}
