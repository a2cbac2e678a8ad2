namespace CompressionLab.Tests.Quantization;

/// <summary>Seeded samples from known distributions (System.Random, so no TorchSharp global RNG).</summary>
internal static class QuantTestData
{
    public static float[] Uniform(int count, double low, double high, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)(low + ((high - low) * random.NextDouble())))];
    }

    public static float[] Gaussian(int count, double mean, double std, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            // Box–Muller.
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            values[i] = (float)(mean + (std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)));
        }
        return values;
    }

    public static float[] Laplace(int count, double mean, double b, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            var u = random.NextDouble() - 0.5;
            values[i] = (float)(mean - (b * Math.Sign(u) * Math.Log(1 - (2 * Math.Abs(u)))));
        }
        return values;
    }
}
