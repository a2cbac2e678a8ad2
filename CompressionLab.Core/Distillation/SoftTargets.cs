namespace CompressionLab.Core.Distillation;

/// <summary>
/// Hinton's soft targets on one row of logits, in double: p_i(T) = exp(z_i/T) / Σ_j exp(z_j/T). Every function works
/// through the log-softmax (max subtracted first), so T = 0.05 with logits of 100 neither overflows nor yields log 0.
/// </summary>
public static class SoftTargets
{
    /// <summary>log p_i(T) for one row, written into <paramref name="logProbabilities"/>.</summary>
    public static void LogSoftmax(ReadOnlySpan<float> logits, double temperature, Span<double> logProbabilities)
    {
        CheckTemperature(temperature);
        if (logProbabilities.Length != logits.Length)
            throw new ArgumentException($"{logits.Length} logits but room for {logProbabilities.Length} probabilities.");
        var max = double.NegativeInfinity;
        foreach (var z in logits) max = Math.Max(max, z);
        var sum = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            logProbabilities[i] = (logits[i] - max) / temperature;
            sum += Math.Exp(logProbabilities[i]);
        }
        // sum ≥ 1 (the largest logit contributes exp 0), so its log is finite.
        var logSum = Math.Log(sum);
        for (var i = 0; i < logits.Length; i++) logProbabilities[i] -= logSum;
    }

    /// <summary>p_i(T) for one row.</summary>
    public static double[] Softmax(ReadOnlySpan<float> logits, double temperature)
    {
        var p = new double[logits.Length];
        LogSoftmax(logits, temperature, p);
        for (var i = 0; i < p.Length; i++) p[i] = Math.Exp(p[i]);
        return p;
    }

    /// <summary>Shannon entropy in nats; terms with p = 0 contribute 0.</summary>
    public static double Entropy(ReadOnlySpan<double> probabilities)
    {
        var h = 0.0;
        foreach (var p in probabilities)
            if (p > 0) h -= p * Math.Log(p);
        return h;
    }

    /// <summary>
    /// KL(p ‖ q) in nats from p's probabilities and q's log-probabilities (a student's log-softmax is never −∞, so the
    /// divergence is finite; a p of 0 contributes 0).
    /// </summary>
    public static double KlDivergence(ReadOnlySpan<double> p, ReadOnlySpan<double> logQ)
    {
        if (p.Length != logQ.Length) throw new ArgumentException($"{p.Length} against {logQ.Length} classes.");
        var kl = 0.0;
        for (var i = 0; i < p.Length; i++)
            if (p[i] > 0) kl += p[i] * (Math.Log(p[i]) - logQ[i]);
        // Rounding can leave −1e-17 for identical rows; a divergence is never negative.
        return Math.Max(0, kl);
    }

    /// <summary>The index of the largest value (the first on ties), as argmax of the logits and of p(T) agree for every T.</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    public static int ArgMax(ReadOnlySpan<double> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    public static void CheckTemperature(double temperature)
    {
        if (!(temperature > 0) || double.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "A temperature must be a finite number above 0.");
    }
}
