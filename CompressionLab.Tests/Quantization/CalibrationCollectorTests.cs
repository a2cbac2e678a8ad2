using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Tests.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Quantization;

[Collection(SerialCollection.Name)]
public class CalibrationCollectorTests
{
    /// <summary>Keeps a copy of every layer's input and output of every batch.</summary>
    private sealed class Recorder : IFoldedObserver
    {
        public Dictionary<(string, TensorRole), List<Tensor>> Tensors { get; } = [];

        public Tensor Input(string layer, Tensor x)
        {
            Keep(layer, TensorRole.Input, x);
            return x;
        }

        public void Output(string layer, Tensor y) => Keep(layer, TensorRole.Output, y);

        private void Keep(string layer, TensorRole role, Tensor x)
        {
            if (!Tensors.TryGetValue((layer, role), out var list)) Tensors[(layer, role)] = list = [];
            list.Add(x.detach().contiguous().clone().MoveToOuterDisposeScope());
        }
    }

    /// <summary>A one-shot histogram by the documented rule, bin = floor((d − lower)/w) clamped, written out independently.</summary>
    private static long[] OneShot(IEnumerable<Tensor> batches, bool magnitude, double lower, double width, int bins)
    {
        var counts = new long[bins];
        foreach (var batch in batches)
            foreach (var v in batch.data<float>().ToArray())
            {
                var d = magnitude ? Math.Abs((double)v) : v;
                var index = Math.Floor((d - lower) / width);
                counts[index < 0 ? 0 : index >= bins ? bins - 1 : (int)index]++;
            }
        return counts;
    }

    [Fact]
    public void CollectedStatisticsAndHistogramsEqualIndependentReferencesOnTheSameTensors()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.Lenet5, 21);
        var subset = AnalysisSubset.Validation(TestData.FashionMnist, 40);
        // Batches of 16: 16, 16 and 8 images, so ranges grow and the last batch is smaller.
        var profile = CalibrationCollector.Collect(network, "hash", "fashion-mnist", subset, batchSize: 16);

        var recorder = new Recorder();
        using (var folded = FoldedNetwork.Fold(network))
            for (var start = 0; start < 40; start += 16)
            {
                using var scope = NewDisposeScope();
                folded.Forward(ImageTensors.Inputs(subset.Images, start, Math.Min(16, 40 - start)), recorder);
            }

        Assert.Equal(network.Layers.Select(l => l.Name), profile.Layers.Select(l => l.Layer));
        Assert.Equal(40, profile.Images);
        Assert.Equal(subset.Key, profile.SubsetKey);
        foreach (var layer in profile.Layers)
            foreach (var role in new[] { TensorRole.Input, TensorRole.Output })
            {
                var batches = recorder.Tensors[(layer.Layer, role)];
                var reference = new TensorStatistics(layer.Layer, role.Text());
                foreach (var batch in batches) reference.Add(batch);
                var collected = layer.Tensor(role);
                var s = collected.Statistics;
                var where = $"{layer.Layer} {role}";
                Assert.Equal(reference.Min, s.Min);
                Assert.Equal(reference.Max, s.Max);
                Assert.Equal(reference.AvgMin, s.AvgMin, 1e-9 * Math.Max(1, Math.Abs(reference.AvgMin)));
                Assert.Equal(reference.AvgMax, s.AvgMax, 1e-9 * Math.Max(1, Math.Abs(reference.AvgMax)));
                Assert.True(Math.Abs(reference.Mean - s.Mean) <= 1e-9 * Math.Max(1, Math.Abs(reference.Mean)), where);
                Assert.True(Math.Abs(reference.Std - s.Std) <= 1e-9 * Math.Max(1, reference.Std), where);
                Assert.Equal(reference.Shape, s.Shape);
                Assert.Equal(reference.Count, s.Count);
                Assert.Equal(3, s.Batches);

                // Merged across batches = one-shot over the final range: exactly for |x|, and for x up to values within
                // a double rounding of an edge (the documented rule), so at most a handful of counts move by one bin.
                var m = collected.Magnitude;
                Assert.Equal(OneShot(batches, true, m.Lower, m.BinWidth, m.BinCount), m.Counts);
                Assert.Equal(s.Count, m.Total);
                var x = collected.Signed;
                var expected = OneShot(batches, false, x.Lower, x.BinWidth, x.BinCount);
                var moved = expected.Zip(x.Counts, (a, b) => Math.Abs(a - b)).Sum();
                Assert.True(moved <= 4, $"{where}: {moved} counts differ from the one-shot histogram");
                Assert.Equal(reference.Min, x.ValueMin);
                Assert.Equal(reference.Max, x.ValueMax);
            }

        // Images are normalised (negatives); every later layer reads a ReLU (and pool) output.
        Assert.Equal([false, true, true, true, true], profile.Layers.Select(l => l.InputNonNegative));
        Assert.Equal([false, false, false, false, true], profile.Layers.Select(l => l.IsOutputLayer));
        foreach (var t in recorder.Tensors.Values.SelectMany(l => l)) t.Dispose();
    }

    [Fact]
    public void WeightProfileIsTheFoldedWeightsWithItsChannelRanges()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 4);
        var profile = CalibrationCollector.Collect(network, "hash", "fashion-mnist", AnalysisSubset.Validation(TestData.FashionMnist, 8));
        using var folded = FoldedNetwork.Fold(network);
        using var noGrad = no_grad();
        foreach (var layer in folded.Layers)
        {
            var p = profile.Layer(layer.Name);
            var rows = layer.Weight.reshape(layer.Weight.shape[0], -1);
            Assert.Equal(rows.amin([1]).to_type(ScalarType.Float64).data<double>().ToArray(), p.ChannelMin);
            Assert.Equal(rows.amax([1]).to_type(ScalarType.Float64).data<double>().ToArray(), p.ChannelMax);
            Assert.Equal(p.ChannelMin.Min(), p.Weight.Statistics.Min);
            Assert.Equal(p.ChannelMax.Max(), p.Weight.Statistics.Max);
            Assert.Equal(layer.Weight.numel(), p.Weight.Magnitude.Total);
            Assert.Equal(TensorRole.Weight, p.Weight.Role);
        }
        var error = Assert.Throws<ArgumentException>(() => profile.Layer("stage9.conv1"));
        Assert.Contains("stage1.conv1", error.Message);
    }

    [Fact]
    public void NonFiniteWeightOrActivationNamesLayerAndTensor()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.Lenet5, 8);
        var subset = AnalysisSubset.Validation(TestData.FashionMnist, 8);
        var fc1 = (TorchSharp.Modules.Linear)network.ModuleNamed("classifier.fc1");
        using (no_grad()) fc1.bias![3] = float.PositiveInfinity;
        var output = Assert.Throws<NonFiniteTensorException>(() => CalibrationCollector.Collect(network, "h", "d", subset));
        Assert.Equal(("classifier.fc1", "output"), (output.Layer, output.Tensor));
        Assert.Equal(3, output.Index); // first sample, unit 3
        Assert.Contains("classifier.fc1", output.Message);

        var conv = (TorchSharp.Modules.Conv2d)network.ModuleNamed("stage2.conv1");
        using (no_grad()) conv.weight![1, 2, 0, 0] = float.NaN;
        var weight = Assert.Throws<NonFiniteTensorException>(() => CalibrationCollector.Collect(network, "h", "d", subset));
        Assert.Equal(("stage2.conv1", "weight"), (weight.Layer, weight.Tensor));
        Assert.Equal((1 * 6 * 25) + (2 * 25), weight.Index);
    }

    [Fact]
    public void ChannelsLastTensorsAreReadInPlaceAndErrorsGiveTheRowMajorIndex()
    {
        using var nchw = randn(2, 3, 4, 5);
        using var nhwc = nchw.permute(0, 2, 3, 1).contiguous();
        using var channelsLast = nhwc.permute(0, 3, 1, 2);
        Assert.False(channelsLast.is_contiguous());
        var a = new ActivationHistogram(HistogramMode.Asymmetric);
        var b = new ActivationHistogram(HistogramMode.Asymmetric);
        a.Add(nchw);
        b.Add(channelsLast);
        Assert.Equal(a.Counts, b.Counts);
        using (no_grad()) channelsLast[1, 2, 3, 4] = float.NaN;
        var error = Assert.Throws<NonFiniteTensorException>(() => new ActivationHistogram(HistogramMode.Symmetric, "l", "input").Add(channelsLast));
        Assert.Equal((1 * 60) + (2 * 20) + (3 * 5) + 4, error.Index);
    }

    [Fact]
    public void VectorBinningEqualsTheScalarRuleAtAndNextToEveryEdge()
    {
        const double lower = -0.7, width = 0.0031;
        var values = new List<float>();
        for (var k = 0; k < 2048; k++)
        {
            var edge = (float)(lower + (k * width));
            values.Add(edge);
            values.Add(MathF.BitIncrement(edge));
            values.Add(MathF.BitDecrement(edge));
        }
        values.Add(-5f); // below: bin 0
        values.Add(50f); // above: the last bin
        var vector = new long[2048];
        TensorScan.Bin(values.ToArray(), false, lower, width, vector);
        var scalar = new long[2048];
        foreach (var v in values) scalar[TensorScan.ScalarIndex(v, lower, width, 2047)]++;
        Assert.Equal(scalar, vector);

        var magnitude = new long[2048];
        TensorScan.Bin(values.ToArray(), true, 0, width, magnitude);
        var scalarMagnitude = new long[2048];
        foreach (var v in values) scalarMagnitude[TensorScan.ScalarIndex(Math.Abs((double)v), 0, width, 2047)]++;
        Assert.Equal(scalarMagnitude, magnitude);
    }

    [Fact]
    public void FusedFloatBinningEqualsTheScalarRuleAtAndNextToEveryEdge()
    {
        // BinBoth floors float32 quotients and falls back to the double rule only near an edge: the counts must equal
        // the scalar rule's for values at, just above and just below every edge, runs of zeros, and random values.
        const double lower = -0.7, width = 0.0031;
        var values = new List<float>();
        for (var k = 0; k < 2048; k++)
        {
            foreach (var edge in new[] { (float)(lower + (k * width)), (float)(k * width) })
            {
                values.Add(edge);
                values.Add(MathF.BitIncrement(edge));
                values.Add(MathF.BitDecrement(edge));
            }
        }
        values.AddRange(Enumerable.Repeat(0f, 37));
        var random = new Random(7);
        for (var k = 0; k < 20000; k++) values.Add((float)((random.NextDouble() * 7) - 0.7));
        values.Add(-5f);
        values.Add(6.3f);
        var array = values.ToArray();
        var maxAbs = array.Max(v => Math.Abs((double)v));
        var mean = array.Average(v => (double)v);
        var magnitude = new long[2048];
        var signed = new long[2048];
        var m2 = TensorScan.BinBoth(array, mean, maxAbs, 0, width, magnitude, lower, width, signed);
        var scalarMagnitude = new long[2048];
        var scalarSigned = new long[2048];
        double scalarM2 = 0;
        foreach (var v in array)
        {
            scalarSigned[TensorScan.ScalarIndex(v, lower, width, 2047)]++;
            scalarMagnitude[TensorScan.ScalarIndex(Math.Abs((double)v), 0, width, 2047)]++;
            scalarM2 += (v - mean) * (v - mean);
        }
        Assert.Equal(scalarSigned, signed);
        Assert.Equal(scalarMagnitude, magnitude);
        Assert.Equal(scalarM2, m2, 1e-9 * scalarM2);
    }

    [Fact]
    public void ANonNegativeInputsXHistogramIsItsMagnitudeHistogramExactly()
    {
        // After a ReLU |x| = x and both histograms share the range [0, upper), so the x counts are binned once and
        // copied: they must equal the |x| counts and the one-shot x histogram bin for bin (not just within a few counts).
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 23);
        var subset = AnalysisSubset.Validation(TestData.FashionMnist, 40);
        var profile = CalibrationCollector.Collect(network, "hash", "fashion-mnist", subset, batchSize: 16);
        var recorder = new Recorder();
        using (var folded = FoldedNetwork.Fold(network))
            for (var start = 0; start < 40; start += 16)
            {
                using var scope = NewDisposeScope();
                folded.Forward(ImageTensors.Inputs(subset.Images, start, Math.Min(16, 40 - start)), recorder);
            }
        var shared = 0;
        foreach (var layer in profile.Layers.Where(l => l.InputNonNegative))
        {
            var (m, x) = (layer.Input.Magnitude, layer.Input.Signed);
            Assert.Equal((0.0, m.BinWidth), (x.Lower, x.BinWidth));
            Assert.Equal(m.Counts, x.Counts);
            Assert.Equal(OneShot(recorder.Tensors[(layer.Layer, TensorRole.Input)], false, x.Lower, x.BinWidth, x.BinCount), x.Counts);
            shared++;
        }
        Assert.Equal(profile.Layers.Count - 1, shared);
        foreach (var t in recorder.Tensors.Values.SelectMany(l => l)) t.Dispose();
    }

    [Fact]
    public void ZerosScatteredAmongOtherValuesLandInZerosBin()
    {
        // Zeros are counted per vector lane in spare slots and added to 0's bin at the end: for |x| that is bin 0, for x
        // over [−0.7, …) a middle bin. Zeros at random positions (and −0) among random values and edge values.
        const double lower = -0.7, width = 0.0031;
        var random = new Random(11);
        var values = new float[50_003];
        for (var k = 0; k < values.Length; k++)
            values[k] = random.Next(3) switch
            {
                0 => 0f,
                1 => random.Next(4) == 0 ? -0f : (float)(lower + (random.Next(2048) * width)),
                _ => (float)((random.NextDouble() * 6.3) - 0.7),
            };
        var maxAbs = values.Max(v => Math.Abs((double)v));
        var magnitude = new long[2048];
        var signed = new long[2048];
        magnitude[5] = 3; // counts are added to what is there
        TensorScan.BinBoth(values, 0, maxAbs, 0, width, magnitude, lower, width, signed);
        var scalarMagnitude = new long[2048];
        var scalarSigned = new long[2048];
        scalarMagnitude[5] = 3;
        foreach (var v in values)
        {
            scalarSigned[TensorScan.ScalarIndex(v, lower, width, 2047)]++;
            scalarMagnitude[TensorScan.ScalarIndex(Math.Abs((double)v), 0, width, 2047)]++;
        }
        Assert.Equal(scalarSigned, signed);
        Assert.Equal(scalarMagnitude, magnitude);
        Assert.True(scalarSigned[TensorScan.ScalarIndex(0, lower, width, 2047)] > values.Length / 4);
    }

    [Theory]
    [InlineData(-5.0, 10.0)]     // |lower| ≈ the largest |x|: the widest float error the tolerance must cover
    [InlineData(-1e-3, 7.5)]
    [InlineData(-300.0, 301.0)]
    [InlineData(2.0, 3.0)]       // lower above 0 (a first batch without zeros)
    public void FloatBinningEqualsTheScalarRuleAtEveryEdgeOfWideRanges(double lower, double upper)
    {
        // The float path is taken when every lane is farther than the tolerance from an edge; values on, just above and
        // just below every edge of both histograms must still fall in the double rule's bins.
        var width = (upper - lower) / 2047.5;
        var magnitudeWidth = Math.Max(Math.Abs(lower), Math.Abs(upper)) / 2047.5;
        var values = new List<float>();
        for (var k = 0; k < 2048; k++)
            foreach (var edge in new[] { (float)(lower + (k * width)), (float)(k * magnitudeWidth), -(float)(k * magnitudeWidth) })
            {
                if (edge < lower || edge > upper) continue;
                values.Add(edge);
                values.Add(MathF.BitIncrement(edge));
                values.Add(MathF.BitDecrement(edge));
            }
        var array = values.Where(v => v >= lower && v <= upper).ToArray();
        var maxAbs = array.Max(v => Math.Abs((double)v));
        var magnitude = new long[2048];
        var signed = new long[2048];
        TensorScan.BinBoth(array, 0, maxAbs, 0, magnitudeWidth, magnitude, lower, width, signed);
        var scalarMagnitude = new long[2048];
        var scalarSigned = new long[2048];
        foreach (var v in array)
        {
            scalarSigned[TensorScan.ScalarIndex(v, lower, width, 2047)]++;
            scalarMagnitude[TensorScan.ScalarIndex(Math.Abs((double)v), 0, magnitudeWidth, 2047)]++;
        }
        Assert.Equal(scalarSigned, signed);
        Assert.Equal(scalarMagnitude, magnitude);
    }

    [Fact]
    public void CancellingMidwayStopsTheAccumulationThreadAndThrows()
    {
        // The accumulation runs on a worker thread: a cancellation after the first batch must end the collection
        // (not hang on the worker or leave it running) with the cancellation.
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.Lenet5, 3);
        var subset = AnalysisSubset.Validation(TestData.FashionMnist, 48);
        using var cancellation = new CancellationTokenSource();
        var batches = 0;
        Assert.Throws<OperationCanceledException>(() => CalibrationCollector.Collect(network, "h", "d", subset, batchSize: 16,
            batchDone: (done, all) =>
            {
                batches++;
                if (done == 16) cancellation.Cancel();
            },
            cancellationToken: cancellation.Token));
        Assert.Equal(1, batches);
        // A later collection works as before.
        Assert.Equal(48, CalibrationCollector.Collect(network, "h", "d", subset, batchSize: 16).Images);
    }
}
