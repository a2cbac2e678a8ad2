using CompressionLab.Core.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace CompressionLab.Tests.Models;

/// <summary>
/// The zoo's first convs run as im2col + a matrix product (<c>SingleChannelConv</c>); the independent
/// reference is libtorch's own conv2d on the same weights, for values and for the gradients training uses.
/// </summary>
public class SingleChannelConvTests
{
    [Theory]
    [InlineData(3, 1, 1, 1, true)]   // vgg: 3×3, padding 1
    [InlineData(5, 2, 1, 1, true)]   // lenet-5: 5×5, padding 2
    [InlineData(3, 0, 2, 1, true)]   // strided, no padding
    [InlineData(3, 2, 1, 2, false)]  // dilated, no bias
    public void MatchesLibtorchConvInValueAndGradient(int kernel, int padding, int stride, int dilation, bool bias)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        using var conv = nn.Conv2d(1, 6, kernel, stride: stride, padding: padding, dilation: dilation, bias: bias);
        var input = randn([4, 1, 13, 11], generator: generator);

        var fast = SingleChannelConv.ForwardModule(conv, input);
        var reference = F.conv2d(input, conv.weight!, conv.bias, [stride, stride], [padding, padding], [dilation, dilation]);

        Assert.Equal(reference.shape, fast.shape);
        Assert.True(fast.allclose(reference, rtol: 1e-5, atol: 1e-5), $"max |Δ| {(fast - reference).abs().max().item<float>()}");
        Assert.Equal(1, fast.stride(1)); // channels-last, so later convs stay channels-last

        var upstream = randn(reference.shape, generator: generator);
        var (fastWeight, fastBias) = Gradients(conv, (fast * upstream).sum());
        var (refWeight, refBias) = Gradients(conv, (reference * upstream).sum());
        Assert.True(fastWeight.allclose(refWeight, rtol: 1e-4, atol: 1e-4));
        if (bias) Assert.True(fastBias!.allclose(refBias!, rtol: 1e-4, atol: 1e-4));
    }

    [Fact]
    public void ConvsWithSeveralInputChannelsAreLeftToTheModule()
    {
        using var scope = NewDisposeScope();
        using var conv = nn.Conv2d(3, 4, 3, padding: 1);
        var input = randn(2, 3, 8, 8);

        var output = SingleChannelConv.ForwardModule(conv, input);

        Assert.True(output.allclose(conv.call(input)));
        Assert.True(output.is_contiguous()); // untouched NCHW path
    }

    [Fact]
    public void WholeNetworkMatchesTheModuleByModulePass()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var net = ModelZoo.Create(ModelZoo.VggSmall);
        net.eval();
        var input = randn(8, 1, 28, 28);

        using var noGrad = no_grad();
        var viaNetwork = net.call(input);
        var plain = input;
        foreach (var block in net.Blocks)
            foreach (var (_, module) in block.Modules)
                plain = module.call(plain);

        Assert.True(viaNetwork.allclose(plain, rtol: 1e-4, atol: 1e-4), $"max |Δ| {(viaNetwork - plain).abs().max().item<float>()}");
    }

    private static (Tensor Weight, Tensor? Bias) Gradients(TorchSharp.Modules.Conv2d conv, Tensor loss)
    {
        conv.zero_grad();
        loss.backward();
        return (conv.weight!.grad!.clone(), conv.bias?.grad?.clone());
    }
}
