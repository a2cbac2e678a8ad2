namespace CompressionLab.Core.Data;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood 2014): a small generator whose sequence is fixed by its definition,
/// unlike <see cref="Random"/>, whose algorithm for a given seed may change between .NET versions.
/// Splits and synthetic images must be identical on every machine and runtime.
/// </summary>
internal sealed class SeededRandom(long seed)
{
    private ulong _state = unchecked((ulong)seed);

    public ulong NextUInt64()
    {
        var z = unchecked(_state += 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, <paramref name="maxExclusive"/>), without modulo bias (Lemire 2019).</summary>
    public int NextInt(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        var bound = (uint)maxExclusive;
        var product = (ulong)NextUInt32() * bound;
        if ((uint)product < bound)
        {
            var threshold = unchecked(0u - bound) % bound;
            while ((uint)product < threshold) product = (ulong)NextUInt32() * bound;
        }
        return (int)(product >> 32);
    }

    private uint NextUInt32() => (uint)(NextUInt64() >> 32);

    /// <summary>Uniform in [0, 1) with 24 bits, exact in single precision.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public float NextSingle(float min, float max) => min + ((max - min) * NextSingle());

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
