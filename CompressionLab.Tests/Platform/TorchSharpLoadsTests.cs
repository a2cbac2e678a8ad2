using static TorchSharp.torch;

namespace CompressionLab.Tests.Platform;

/// <summary>Proves the build's native-library fix works: TorchSharp loads and computes on this machine.</summary>
public class TorchSharpLoadsTests
{
    [Fact]
    public void MatrixProductMatchesHandCalculation()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4 }, 2, 2);
        using var b = tensor(new float[] { 5, 6, 7, 8 }, 2, 2);
        using var c = a.matmul(b);
        // [[1*5+2*7, 1*6+2*8], [3*5+4*7, 3*6+4*8]]
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c.data<float>().ToArray());
    }
}
