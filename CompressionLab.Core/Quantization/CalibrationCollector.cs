using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
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
            // summaries are found first and combined in sample order.
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

    /// <summary>Every sample's summary and first non-finite position (−1 if none).</summary>
    private (RunSummary Run, long Bad)[] Summaries(TensorScan.DenseView view, int samples, int perSample)
    {
        if (_runs.Length < samples) _runs = new (RunSummary, long)[samples];
        var values = view.Values;
        for (var s = 0; s < samples; s++)
        {
            var run = TensorScan.Summarise(values.Slice(s * perSample, perSample), out var bad);
            _runs[s] = (run, bad);
        }
        return _runs;
    }

    /// <summary>From this many values on, a batch is binned in two halves (see <see cref="Bin"/>).</summary>
    private const long SplitThreshold = 1 << 17;

    private long[]? _shared;

    /// <summary>
    /// Bins the batch into both histograms (width 0: that histogram skips it; <paramref name="shared"/>: the |x| counts
    /// go to both) and returns its M2.
    /// </summary>
    /// <remarks>
    /// A large batch is binned as two halves whose M2s are added: the collector used to bin the halves on two threads,
    /// and keeping the split keeps M2 (so std) the same to the last bit. The halves now run one after the other on the
    /// accumulation thread, which itself runs beside the forward (<see cref="AccumulationQueue"/>).
    /// </remarks>
    private double Bin(TensorScan.DenseView view, double mean, double maxAbs, double magnitudeWidth, double signedWidth, bool shared)
    {
        var values = view.Values;
        Span<long> magnitude = shared ? (_shared ??= new long[Magnitude.BinCount]) : Magnitude.BinCounts;
        var signed = Signed.BinCounts;
        double m2;
        if (view.Count < SplitThreshold || Environment.ProcessorCount < 2)
        {
            m2 = TensorScan.BinBoth(values, mean, maxAbs, Magnitude.Lower, magnitudeWidth, magnitude, Signed.Lower, signedWidth, signed);
        }
        else
        {
            var half = (int)(view.Count / 2);
            var first = TensorScan.BinBoth(values[..half], mean, maxAbs, Magnitude.Lower, magnitudeWidth, magnitude, Signed.Lower, signedWidth, signed);
            var second = TensorScan.BinBoth(values[half..], mean, maxAbs, Magnitude.Lower, magnitudeWidth, magnitude, Signed.Lower, signedWidth, signed);
            m2 = first + second;
        }
        if (shared)
        {
            var counts = Magnitude.BinCounts;
            for (var i = 0; i < magnitude.Length; i++)
            {
                counts[i] += magnitude[i];
                signed[i] += magnitude[i];
            }
            magnitude.Clear();
        }
        return m2;
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

        // Two batches' worth of tensors may wait for the worker; then the forward waits for it.
        using var queue = new AccumulationQueue(4 * folded.Layers.Count);
        var observer = new Observer(folded.Layers.Select(l => l.Name), queue);
        var images = subset.Images;
        for (var start = 0; start < images.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            queue.ThrowIfFailed();
            using var scope = NewDisposeScope();
            var size = Math.Min(batchSize, images.Count - start);
            var logits = folded.Forward(ImageTensors.Inputs(images, start, size), observer);
            floatTally?.Add(logits, ImageTensors.Labels(images, start, size));
            batchDone?.Invoke(start + size, images.Count);
        }
        queue.Complete();

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

    /// <summary>Hands every layer's input and output to the accumulation worker (<see cref="AccumulationQueue"/>).</summary>
    private sealed class Observer : IFoldedObserver
    {
        private readonly Dictionary<string, (TensorAccumulator Input, TensorAccumulator Output)> _layers;
        private readonly AccumulationQueue _queue;

        public Observer(IEnumerable<string> layers, AccumulationQueue queue)
        {
            _queue = queue;
            _layers = layers.ToDictionary(l => l, l => (new TensorAccumulator(l, TensorRole.Input), new TensorAccumulator(l, TensorRole.Output)));
        }

        public (TensorAccumulator Input, TensorAccumulator Output) Of(string layer) => _layers[layer];

        public Tensor Input(string layer, Tensor x)
        {
            _queue.Post(_layers[layer].Input, x);
            return x;
        }

        public void Output(string layer, Tensor y) => _queue.Post(_layers[layer].Output, y);

        // The worker reads outputs after the forward has moved on: the ReLU must not overwrite them.
        public bool ReadsOutputsLater => true;
    }
}

/// <summary>
/// Accumulates observed tensors on a worker thread of its own, strictly in the order they were posted (so every
/// histogram grows and every sum adds up exactly as in one thread), while the forward goes on with the next layers.
/// The evaluation's convs leave a core partly idle (oneDNN's two threads wait for each other between and inside
/// layers); the scans fill it instead of stopping the forward. The first failure (a <see cref="NonFiniteTensorException"/>)
/// stops the accumulation and is rethrown to the forward's thread; tensors posted after it are dropped.
/// </summary>
internal sealed class AccumulationQueue : IDisposable
{
    private readonly BlockingCollection<(TensorAccumulator Accumulator, TensorScan.DenseView View, long[] Shape)> _queue;
    private readonly Thread _worker;
    private ExceptionDispatchInfo? _failure;
    private volatile bool _failed, _abandoned;

    /// <param name="capacity">Tensors that may wait; posting more waits for the worker (bounds the memory kept alive).</param>
    public AccumulationQueue(int capacity)
    {
        _queue = new(capacity);
        _worker = new Thread(Work) { IsBackground = true, Name = "calibration accumulation" };
        _worker.Start();
    }

    /// <summary>Queues <paramref name="x"/> (an alias of its memory, which must not be overwritten afterwards) for <paramref name="accumulator"/>.</summary>
    public void Post(TensorAccumulator accumulator, Tensor x)
    {
        ThrowIfFailed();
        var view = new TensorScan.DenseView(x, detached: true);
        try
        {
            _queue.Add((accumulator, view, x.shape));
        }
        catch
        {
            view.Dispose();
            throw;
        }
    }

    /// <summary>Rethrows the worker's failure, if any.</summary>
    public void ThrowIfFailed()
    {
        if (_failed) _failure!.Throw();
    }

    /// <summary>Waits until every posted tensor is accumulated; rethrows the worker's failure.</summary>
    public void Complete()
    {
        _queue.CompleteAdding();
        _worker.Join();
        ThrowIfFailed();
    }

    private void Work()
    {
        foreach (var (accumulator, view, shape) in _queue.GetConsumingEnumerable())
        {
            using (view)
            {
                if (_failed || _abandoned) continue;
                try
                {
                    accumulator.Add(view, shape);
                }
                catch (Exception e)
                {
                    _failure = ExceptionDispatchInfo.Capture(e);
                    _failed = true;
                }
            }
        }
    }

    /// <summary>Stops the worker; tensors still waiting (after a failure or a cancellation) are only released.</summary>
    public void Dispose()
    {
        if (!_queue.IsAddingCompleted)
        {
            _abandoned = true;
            _queue.CompleteAdding();
        }
        _worker.Join();
        _queue.Dispose();
    }
}
