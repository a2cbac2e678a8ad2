namespace CompressionLab.Core.Quantization;

/// <summary>
/// TensorRT's entropy (KL) calibration on a 2048-bin |x| histogram (FORMATS.md; Migacz, "8-bit inference with
/// TensorRT", GTC 2017). Variant, as pinned by tests:
/// <list type="bullet">
/// <item>candidates i = 128 … bins (stride 1); P = the first i bins with all mass from bin i on added to bin i − 1;</item>
/// <item>Q: the histogram's own first i bins (without the outlier mass — built from P, Q would equal P at i = 128
/// and every search would stop there) merged into 128 groups of ⌊i/128⌋ bins, the last group taking the remainder
/// (MXNet / TensorRT's integer grouping; pytorch-quantization splits i/128 fractionally), each group's mass spread
/// evenly over its bins where P &gt; 0 (empty bins stay empty);</item>
/// <item>KL(P‖Q) on the normalised distributions, +∞ where P &gt; 0 and Q = 0; the smallest KL wins, ties to the smaller i;</item>
/// <item>amax = the upper edge of bin i − 1, capped at the largest |x| seen;</item>
/// <item>as in pytorch-quantization (NVIDIA's open implementation of TensorRT's calibrators), the search runs on the
/// counts with bin 0 levelled to bin 1 (<see cref="LevelZeroBin"/>) and with 2^(bits−1+unsigned) quantized levels
/// (<see cref="QuantizedBinsFor"/>): 128 symmetric, 256 unsigned; candidates start at that many bins.</item>
/// </list>
/// With N = P's total, S = Q's (the first i bins' mass), Gⱼ a group's mass in the histogram, PGⱼ in P and nⱼ its bins
/// where P &gt; 0: N·KL = Σₖ Pₖ ln Pₖ − Σⱼ PGⱼ ln(Gⱼ / nⱼ) + N ln(S / N), and since groups 0..126 depend only on ⌊i/128⌋, a
/// candidate costs O(1) after prefix sums: the whole search is a few thousand logarithms.
/// </summary>
public static class EntropyCalibration
{
    public const int QuantizedBins = 128;

    /// <summary>
    /// Levels of the quantized distribution Q: 2^(bits − 1 + unsigned), pytorch-quantization's <c>nbins</c>: 128 for a
    /// symmetric 8-bit grid, 256 for the unsigned grid after ReLU, which has twice the levels over [0, amax].
    /// </summary>
    public static int QuantizedBinsFor(QuantizationMode mode) => mode == QuantizationMode.Unsigned ? 2 * QuantizedBins : QuantizedBins;

    /// <summary>
    /// The counts the search runs on: bin 0 set to bin 1's count (pytorch-quantization's <c>bins[0] = bins[1]</c>). After
    /// a ReLU, bin 0 of |x| holds every zero (half the values or more); left in, that spike dominates the divergence and
    /// drives the search to clip deep into real values (ReLU of a Gaussian: 1.7 σ instead of ~4.5 σ). Zeros are exact on
    /// every grid, so leaving them out of the choice costs nothing; the clipped fraction and error are still costed on the
    /// real histogram.
    /// </summary>
    public static long[] LevelZeroBin(IReadOnlyList<long> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var levelled = counts.ToArray();
        if (levelled.Length > 1) levelled[0] = levelled[1];
        return levelled;
    }

    /// <summary>The best candidate's bin count i and its KL divergence.</summary>
    public static (int Bins, double Divergence) Search(IReadOnlyList<long> counts, int quantizedBins = QuantizedBins)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var bins = counts.Count;
        if (bins < quantizedBins) throw new ArgumentException($"The entropy method needs at least {quantizedBins} bins, not {bins}.");
        // Prefix sums over bins: mass, non-empty bins, and m·ln m.
        var mass = new double[bins + 1];
        var nonEmpty = new int[bins + 1];
        var plogp = new double[bins + 1];
        for (var k = 0; k < bins; k++)
        {
            double m = counts[k];
            mass[k + 1] = mass[k] + m;
            nonEmpty[k + 1] = nonEmpty[k] + (m > 0 ? 1 : 0);
            plogp[k + 1] = plogp[k] + (m > 0 ? m * Math.Log(m) : 0);
        }
        var total = mass[bins];
        if (total == 0) return (bins, 0);

        var bestBins = bins;
        var best = double.PositiveInfinity;
        var cachedWidth = -1;
        double fullGroups = 0;
        for (var i = quantizedBins; i <= bins; i++)
        {
            // P: bins 0..i-2 as they are, bin i-1 with every outlier added.
            var last = total - mass[i - 1];
            var sumPlogP = plogp[i - 1] + (last > 0 ? last * Math.Log(last) : 0);
            var width = i / quantizedBins;
            if (width != cachedWidth)
            {
                // Groups 0..126 are the same for every candidate of one width: 128 candidates share this sum.
                cachedWidth = width;
                fullGroups = 0;
                for (var j = 0; j < quantizedBins - 1; j++)
                {
                    var g = mass[(j + 1) * width] - mass[j * width];
                    if (g > 0) fullGroups += g * Math.Log(g / (nonEmpty[(j + 1) * width] - nonEmpty[j * width]));
                }
            }
            // The last group, [127·width, i): its mass in the histogram (Q) and in P, and its bins where P > 0.
            var start = (quantizedBins - 1) * width;
            var groupMass = mass[i] - mass[start];
            var groupP = mass[i - 1] - mass[start] + last;
            var groupBins = nonEmpty[i - 1] - nonEmpty[start] + (last > 0 ? 1 : 0);
            double sumPlogQ;
            if (groupP == 0) sumPlogQ = fullGroups;
            else if (groupMass == 0) sumPlogQ = double.NegativeInfinity;   // P > 0 where Q = 0: KL is infinite
            else sumPlogQ = fullGroups + (groupP * Math.Log(groupMass / groupBins));
            var divergence = ((sumPlogP - sumPlogQ) / total) + Math.Log(mass[i] / total);
            if (divergence < best)
            {
                best = divergence;
                bestBins = i;
            }
        }
        return (bestBins, best);
    }

    /// <summary>
    /// The same KL written out bin by bin (P and Q built explicitly, then normalised): the independent reference the fast search is
    /// tested against.
    /// </summary>
    public static double DivergenceDirect(IReadOnlyList<long> counts, int i, int quantizedBins = QuantizedBins)
    {
        var p = new double[i];
        var raw = new double[i];
        for (var k = 0; k < i; k++) p[k] = raw[k] = counts[k];
        for (var k = i; k < counts.Count; k++) p[i - 1] += counts[k];
        var q = new double[i];
        var width = i / quantizedBins;
        for (var j = 0; j < quantizedBins; j++)
        {
            var start = j * width;
            var stop = j == quantizedBins - 1 ? i : start + width;
            double g = 0;
            var n = 0;
            for (var k = start; k < stop; k++)
            {
                g += raw[k];
                if (p[k] > 0) n++;
            }
            for (var k = start; k < stop; k++) q[k] = p[k] > 0 ? g / n : 0;
        }
        double sp = p.Sum(), sq = q.Sum(), kl = 0;
        for (var k = 0; k < i; k++)
        {
            if (p[k] == 0) continue;
            if (q[k] == 0) return double.PositiveInfinity;
            var pk = p[k] / sp;
            kl += pk * Math.Log(pk / (q[k] / sq));
        }
        return kl;
    }
}
