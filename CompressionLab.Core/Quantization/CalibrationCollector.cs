using System.Diagnostics;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Core.Quantization;

/// <summary>
/// One tensor's statistics and both histograms (|x| and x), filled batch by batch in two tight passes over its memory
/// (<see cref="TensorScan"/>): the first finds every sample's extremes and the sum and checks finiteness, the second bins
/// into both histograms and sums the squared deviations. A batch with NaN or ±Inf throws
/// <see cref="NonFiniteTensorException"/> naming layer and tensor before anything changes.
/// </summary>
internal sealed class TensorAccumulator(string layer, TensorRole role)
{
    public string Layer { get; } = layer;
    public TensorRole Role { get; } = role;
    public TensorStatistics Statistics { get; } = new(layer, role.Text());
    public ActivationHistogram Magnitude { get; } = new(HistogramMode.Symmetric, layer, role.Text());
    public ActivationHistogram Signed { get; } = new(HistogramMode.Asymmetric, layer, role.Text());

    public TensorProfile Profile() => new(Layer, Role, Statistics, Magnitude, Signed);

    public void Add(Tensor x)
    {
        using var view = new TensorScan.DenseView(x);
        Add(view, x.shape);
    }

    /// <summary>Adds a batch already viewed in place (<paramref name="shape"/>: its logical shape, for the statistics).</summary>
    public void Add(TensorScan.DenseView view, long[] shape)
    {
        var count = view.Count;
        if (count == 0) return;
        var values = view.Values;
        var samples = view.Samples;
        var perSample = count / samples;

        double min = double.PositiveInfinity, max = double.NegativeInfinity, minAbs = double.PositiveInfinity, sum = 0, sumMin = 0, sumMax = 0;
        long extremes;
        if (perSample > 1)
        {
            // Distiller: the extremes of every sample, averaged over the samples (TensorStatistics). The per-sample
            // summaries are found first (on two threads for a large batch) and combined in sample order, so the sums
            // are the very same as one thread's.
            var runs = Summaries(view, (int)samples, (int)perSample);
            for (long s = 0; s < samples; s++)
            {
                var (run, bad) = runs[s];
                if (bad >= 0) throw NonFinite(view, values, (s * perSample) + bad);
                min = Math.Min(min, run.Min);
                max = Math.Max(max, run.Max);
                minAbs = Math.Min(minAbs, run.MinAbs);
                sum += run.Sum;
                sumMin += run.Min;
                sumMax += run.Max;
            }
            extremes = samples;
        }
        else
        {
            // One value per sample: one extreme for the batch.
            var run = TensorScan.Summarise(values, out var bad);
            if (bad >= 0) throw NonFinite(view, values, bad);
            (min, max, minAbs, sum, sumMin, sumMax) = (run.Min, run.Max, run.MinAbs, run.Sum, run.Min, run.Max);
            extremes = 1;
        }

        var batch = new RunSummary(min, max, minAbs, sum);
        var mean = sum / count;
        var binMagnitude = Magnitude.BeginBatch(batch, count);
        var binSigned = Signed.BeginBatch(batch, count);
        // After a ReLU no value is negative, so |x| = x, and both histograms have the same range (lower edge 0 and the
        // same width) whenever the tensor's first batch held a 0, as a ReLU output does; then every value's x bin is its
        // |x| bin, and the batch is binned once and its counts added to both. The same counts either way, for half the work.
        var shared = binMagnitude && binSigned && min >= 0 && Magnitude.Lower == Signed.Lower && Magnitude.BinWidth == Signed.BinWidth
            && Magnitude.BinCount == Signed.BinCount;
        var m2 = Bin(view, mean, Math.Max(Math.Abs(min), Math.Abs(max)), binMagnitude ? Magnitude.BinWidth : 0, binSigned && !shared ? Signed.BinWidth : 0, shared);
        if (binMagnitude) Magnitude.CountBinned(count);
        if (binSigned) Signed.CountBinned(count);
        Statistics.AddSummary(shape, count, min, max, sumMin, sumMax, extremes, mean, m2);
    }

    private (RunSummary Run, long Bad)[] _runs = [];

    /// <summary>Every sample's summary and first non-finite position (−1 if none); a large batch's samples in two halves at once.</summary>
    private (RunSummary Run, long Bad)[] Summaries(TensorScan.DenseView view, int samples, int perSample)
    {
        if (_runs.Length < samples) _runs = new (RunSummary, long)[samples];
        var runs = _runs;
        if (view.Count < SplitThreshold || Environment.ProcessorCount < 2 || samples < 2)
        {
            SummariseSamples(view, runs, 0, samples, perSample);
        }
        else
        {
            var half = samples / 2;
            Parallel.Invoke(
                () => SummariseSamples(view, runs, 0, half, perSample),
                () => SummariseSamples(view, runs, half, samples, perSample));
        }
        return runs;
    }

    private static void SummariseSamples(TensorScan.DenseView view, (RunSummary Run, long Bad)[] runs, int from, int to, int perSample)
    {
        var values = view.Values;
        for (var s = from; s < to; s++)
        {
            var run = TensorScan.Summarise(values.Slice(s * perSample, perSample), out var bad);
            runs[s] = (run, bad);
        }
    }

    /// <summary>From this many values on, a batch is scanned in two halves on two threads.</summary>
    private const long SplitThreshold = 1 << 17;

    private long[]? _magnitudeHalf, _signedHalf, _shared;

    /// <summary>
    /// Bins the batch into both histograms (width 0: that histogram skips it; <paramref name="shared"/>: the |x| counts
    /// go to both) and returns its M2. A large batch is split in two halves binned on two threads (the second into spare
    /// count arrays, added afterwards; M2 = first + second): the evaluation's convs use every core, and a single-threaded
    /// scan would stand alone as the slow part of the pass.
    /// </summary>
    private double Bin(TensorScan.DenseView view, double mean, double maxAbs, double magnitudeWidth, double signedWidth, bool shared)
    {
        if (shared) _shared ??= new long[Magnitude.BinCount];
        double m2;
        if (view.Count < SplitThreshold || Environment.ProcessorCount < 2)
        {
            m2 = TensorScan.BinBoth(view.Values, mean, maxAbs, Magnitude.Lower, magnitudeWidth, shared ? _shared : Magnitude.BinCounts, Signed.Lower, signedWidth, Signed.BinCounts);
        }
        else
        {
            var half = (int)(view.Count / 2);
            _magnitudeHalf ??= new long[Magnitude.BinCount];
            _signedHalf ??= new long[Signed.BinCount];
            double first = 0, second = 0;
            Parallel.Invoke(
                () => first = TensorScan.BinBoth(view.Values[..half], mean, maxAbs, Magnitude.Lower, magnitudeWidth, shared ? _shared : Magnitude.BinCounts, Signed.Lower, signedWidth, Signed.BinCounts),
                () => second = TensorScan.BinBoth(view.Values[half..], mean, maxAbs, Magnitude.Lower, magnitudeWidth, _magnitudeHalf, Signed.Lower, signedWidth, _signedHalf));
            Merge(_magnitudeHalf, shared ? _shared : Magnitude.BinCounts);
            Merge(_signedHalf, Signed.BinCounts);
            m2 = first + second;
        }
        if (shared)
        {
            var magnitude = Magnitude.BinCounts;
            var signed = Signed.BinCounts;
            for (var i = 0; i < _shared!.Length; i++)
            {
                magnitude[i] += _shared[i];
                signed[i] += _shared[i];
            }
            Array.Clear(_shared);
        }
        return m2;
    }

    private static void Merge(long[] from, Span<long> into)
    {
        for (var i = 0; i < from.Length; i++) into[i] += from[i];
        Array.Clear(from);
    }

    private NonFiniteTensorException NonFinite(TensorScan.DenseView view, ReadOnlySpan<float> values, long position) =>
        new(Layer, Role.Text(), view.LogicalIndex(position), values[(int)position]);
}

/// <summary>
/// Collects a <see cref="CalibrationProfile"/>: one pass of the folded network (<see cref="FoldedNetwork"/>, BatchNorm
/// folded as deployed) over the calibration images, observing every conv/linear layer's input and output (statistics and
/// 2048-bin histograms of |x| and x, merged across batches), plus every folded weight (per-tensor statistics and
/// histograms, per-output-channel min/max).
/// </summary>
public static class CalibrationCollector
{
    /// <param name="weightsHash">The checkpoint's content hash: the profile's identity with the dataset and subset.</param>
    /// <param name="floatTally">When given, the float logits of the same pass are scored into it (the float top-1 for free).</param>
    /// <param name="batchDone">Called after each batch with (images done, images in all).</param>
    /// <exception cref="NonFiniteTensorException">NaN or ±Inf in a weight or an activation, naming layer and tensor.</exception>
    public static CalibrationProfile Collect(
        ClassifierNetwork network,
        string weightsHash,
        string dataset,
        AnalysisSubset subset,
        int batchSize = Evaluator.DefaultBatchSize,
        ClassificationTally? floatTally = null,
        Action<int, int>? batchDone = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(subset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        network.CheckAccepts(subset.Images);
        var clock = Stopwatch.StartNew();
        using var folded = FoldedNetwork.Fold(network);
        var weights = folded.Layers.Select(WeightProfile).ToArray();

        var observer = new Observer(folded.Layers.Select(l => l.Name));
        var images = subset.Images;
        for (var start = 0; start < images.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var size = Math.Min(batchSize, images.Count - start);
            var logits = folded.Forward(ImageTensors.Inputs(images, start, size), observer);
            floatTally?.Add(logits, ImageTensors.Labels(images, start, size));
            batchDone?.Invoke(start + size, images.Count);
        }

        var layers = folded.Layers.Select((layer, i) =>
        {
            var (input, output) = observer.Of(layer.Name);
            var (weight, channelMin, channelMax) = weights[i];
            return new LayerProfile(layer.Name, layer.Kind, input.Statistics.Min >= 0, layer.IsOutputLayer,
                input.Profile(), output.Profile(), weight, channelMin, channelMax);
        }).ToArray();
        return new CalibrationProfile(network.Architecture, weightsHash, dataset, subset.Key, images.Count, layers, clock.Elapsed.TotalSeconds);
    }

    /// <summary>A folded weight's statistics and histograms (dimension 0, the output channels, as its "samples") and per-channel range.</summary>
    public static (TensorProfile Profile, IReadOnlyList<double> ChannelMin, IReadOnlyList<double> ChannelMax) WeightProfile(FoldedLayer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var accumulator = new TensorAccumulator(layer.Name, TensorRole.Weight);
        accumulator.Add(layer.Weight);
        using var scope = NewDisposeScope();
        var rows = layer.Weight.detach().reshape(layer.Weight.shape[0], -1).to_type(ScalarType.Float64);
        var channelMin = rows.amin([1]).data<double>().ToArray();
        var channelMax = rows.amax([1]).data<double>().ToArray();
        return (accumulator.Profile(), channelMin, channelMax);
    }

    private sealed class Observer : IFoldedObserver
    {
        private readonly Dictionary<string, (TensorAccumulator Input, TensorAccumulator Output)> _layers;

        public Observer(IEnumerable<string> layers) =>
            _layers = layers.ToDictionary(l => l, l => (new TensorAccumulator(l, TensorRole.Input), new TensorAccumulator(l, TensorRole.Output)));

        public (TensorAccumulator Input, TensorAccumulator Output) Of(string layer) => _layers[layer];

        public Tensor Input(string layer, Tensor x)
        {
            _layers[layer].Input.Add(x);
            return x;
        }

        public void Output(string layer, Tensor y) => _layers[layer].Output.Add(y);
    }
}
