namespace CompressionLab.Core.Quantization;

/// <summary>
/// ACIQ (Banner, Nahshan &amp; Soudry, "Post-training 4-bit quantization of convolutional networks for rapid
/// deployment", NeurIPS 2019): the clip α that minimises clipping noise + rounding noise when the tensor follows a
/// Laplace(b) or Gaussian(σ) law, in units of b or σ. Computed here by minimising the paper's expression, not read
/// from a table, so any bit width works; tests compare with the published 8-bit constants.
/// </summary>
/// <remarks>
/// Two-sided (symmetric/asymmetric), M bits over [−α, α]: rounding noise α²/(3·4^M) (step 2α/2^M, noise step²/12);
/// clipping noise 2b²·e^(−α/b) (Laplace) or 2[(α² + σ²)(1 − Φ(α/σ)) − ασ·φ(α/σ)] (Gaussian).
/// One-sided (unsigned, after a ReLU of a zero-centred law): half the mass lies on [0, α] with step α/2^M, the other
/// half is exactly 0: rounding noise α²/(24·4^M), clipping noise on one tail only.
/// </remarks>
public static class Aciq
{
    public enum Law { Laplace, Gauss }

    /// <summary>α / b (Laplace) or α / σ (Gauss) for <paramref name="bits"/>; <paramref name="oneSided"/> for a ReLU'd tensor.</summary>
    public static double Alpha(Law law, int bits, bool oneSided = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, 16);
        var levels = Math.Pow(4, bits);
        var rounding = oneSided ? 1 / (24 * levels) : 1 / (3 * levels);
        var tails = oneSided ? 1.0 : 2.0;
        double Noise(double a) => (a * a * rounding) + (tails * (law == Law.Laplace ? Math.Exp(-a) : GaussTail(a)));
        return GoldenSection(Noise, 0, 40);
    }

    /// <summary>E[(X − a)²; X &gt; a] for a standard normal X.</summary>
    private static double GaussTail(double a) => (((a * a) + 1) * NormalUpperTail(a)) - (a * Math.Exp(-a * a / 2) / Math.Sqrt(2 * Math.PI));

    /// <summary>1 − Φ(x), via erfc.</summary>
    internal static double NormalUpperTail(double x) => 0.5 * Erfc(x / Math.Sqrt(2));

    /// <summary>Complementary error function (Numerical Recipes' Chebyshev fit, relative error &lt; 1.2e-7).</summary>
    private static double Erfc(double x)
    {
        var z = Math.Abs(x);
        var t = 1 / (1 + (0.5 * z));
        double[] c = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
        var poly = 0.0;
        for (var i = c.Length - 1; i >= 0; i--) poly = c[i] + (t * poly);
        var r = t * Math.Exp((-z * z) + poly);
        return x >= 0 ? r : 2 - r;
    }

    private static double GoldenSection(Func<double, double> f, double low, double high)
    {
        var ratio = (Math.Sqrt(5) - 1) / 2;
        double c = high - (ratio * (high - low)), d = low + (ratio * (high - low));
        double fc = f(c), fd = f(d);
        for (var i = 0; i < 200 && high - low > 1e-12; i++)
        {
            if (fc < fd) { high = d; d = c; fd = fc; c = high - (ratio * (high - low)); fc = f(c); }
            else { low = c; c = d; fc = fd; d = low + (ratio * (high - low)); fd = f(d); }
        }
        return (low + high) / 2;
    }
}
