using System.Diagnostics;

namespace CompressionLab.Core.Quantization;

/// <summary>Time of the entropy search over one tensor's histogram: the median of several runs after one warm-up.</summary>
public sealed record EntropyTiming(double MillisecondsPerTensor, int Runs, int Bins);

public static class CalibrationBenchmark
{
    /// <summary>Times <see cref="ClippingMethods.Entropy"/> (search and costing) on <paramref name="histogram"/>.</summary>
    public static EntropyTiming Entropy(ActivationHistogram histogram, int runs = 21)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(runs);
        ClippingMethods.Entropy(histogram, QuantizationMode.Symmetric);
        var times = new double[runs];
        for (var r = 0; r < runs; r++)
        {
            var clock = Stopwatch.StartNew();
            ClippingMethods.Entropy(histogram, QuantizationMode.Symmetric);
            times[r] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return new EntropyTiming(times[runs / 2], runs, histogram.BinCount);
    }
}

/// <summary>
/// Collection against a plain evaluation of the same images, timed alternately in one process: each repeat evaluates
/// then collects; <see cref="Overhead"/> is the median of the repeats' ratios (collect / evaluate), so load that drifts
/// over the run cancels out.
/// </summary>
/// <param name="CpuOverhead">The same ratio from the process's CPU time (all threads): what the two cost in work, which on a
/// machine shared with other processes moves less than wall time (that also holds the time others had the cores).</param>
/// <param name="Profile">The last collection's profile (real histograms to time the methods on).</param>
public sealed record CollectTiming(double Overhead, double MedianCollectSeconds, double MedianEvaluateSeconds, int Repeats, int Images, CalibrationProfile Profile,
    double CpuOverhead = double.NaN);

public static class CollectionBenchmark
{
    public static CollectTiming Run(Models.ClassifierNetwork network, Models.AnalysisSubset subset, int repeats = 5, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(subset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repeats);
        // Warm-up: first-call costs (oneDNN primitive creation, JIT) belong to neither.
        Models.Evaluator.Evaluate(network, subset.Images, cancellationToken: cancellationToken);
        CalibrationCollector.Collect(network, "", "", subset, cancellationToken: cancellationToken);
        var ratios = new double[repeats];
        var collect = new double[repeats];
        var evaluate = new double[repeats];
        var cpuRatios = new double[repeats];
        CalibrationProfile? profile = null;
        using var process = Process.GetCurrentProcess();
        TimeSpan Cpu()
        {
            process.Refresh();
            return process.TotalProcessorTime;
        }
        for (var r = 0; r < repeats; r++)
        {
            var cpu = Cpu();
            var clock = Stopwatch.StartNew();
            Models.Evaluator.Evaluate(network, subset.Images, cancellationToken: cancellationToken);
            evaluate[r] = clock.Elapsed.TotalSeconds;
            var evaluateCpu = (Cpu() - cpu).TotalSeconds;
            cpu = Cpu();
            clock.Restart();
            // The collection scores the logits too, as the evaluation does: the same work plus the observer.
            profile = CalibrationCollector.Collect(network, "", "", subset, floatTally: new Models.ClassificationTally(network.ClassCount), cancellationToken: cancellationToken);
            collect[r] = clock.Elapsed.TotalSeconds;
            ratios[r] = collect[r] / evaluate[r];
            cpuRatios[r] = (Cpu() - cpu).TotalSeconds / evaluateCpu;
        }
        return new CollectTiming(Median(ratios), Median(collect), Median(evaluate), repeats, subset.Count, profile!, Median(cpuRatios));
    }

    /// <summary>The middle value (the mean of the two middle ones for an even count).</summary>
    public static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
