using System.Diagnostics;
using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;
using static TorchSharp.torch;

namespace CompressionLab.Core.Export;

/// <summary>Inference time at one batch size: milliseconds per image of each engine (medians) and the speed-ups, each the median of the repeats' own ratios.</summary>
/// <param name="TorchSharpMsPerImage">The dense model in TorchSharp, the engine's inference forward (BatchNorm folded, channels-last).</param>
/// <param name="Fp32Speedup">TorchSharp time / ORT float32 time (above 1: ORT is faster).</param>
/// <param name="Int8Speedup">TorchSharp time / ORT INT8 time.</param>
/// <param name="Int8OverFp32">ORT float32 time / ORT INT8 time.</param>
/// <param name="Fp32SpeedupCpu">The same ratios from the process's CPU time (all threads; idle threads of both runtimes sleep):
/// what each costs in work, which moves less than wall time on a machine shared with other processes.</param>
public sealed record OnnxBatchTiming(
    int BatchSize,
    int Images,
    double TorchSharpMsPerImage,
    double OrtFp32MsPerImage,
    double OrtInt8MsPerImage,
    double Fp32Speedup,
    double Int8Speedup,
    double Int8OverFp32,
    double Fp32SpeedupCpu,
    double Int8SpeedupCpu,
    double Int8OverFp32Cpu);

/// <summary>The benchmark's result: timings per batch size, the file sizes, and what the runs used.</summary>
public sealed record OnnxBenchResult(IReadOnlyList<OnnxBatchTiming> Batches, long CheckpointBytes, long Fp32Bytes, long Int8Bytes, int Repeats, int Threads, string Quantization);

/// <summary>
/// The float32 and INT8 ONNX graphs in ONNX Runtime against the dense TorchSharp model, all three from the same raw
/// pixels (TorchSharp normalises with <see cref="ImageTensors"/>, the graphs in themselves) and with the same thread
/// count. Each repeat times the three one after the other on the same images; ratios are taken within a repeat and the
/// median over repeats is reported, so load on a shared machine that drifts between repeats cancels out.
/// </summary>
public static class OnnxBenchmark
{
    public static OnnxBenchResult Run(
        Checkpoint checkpoint,
        QuantizationThresholds thresholds,
        LabeledImages images,
        IReadOnlyList<int> batchSizes,
        int repeats,
        int threads,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(batchSizes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repeats);
        var network = checkpoint.Model;
        network.CheckAccepts(images);
        network.eval();
        var fp32 = Google.Protobuf.MessageExtensions.ToByteArray(OnnxExport.Float(network));
        var int8 = Google.Protobuf.MessageExtensions.ToByteArray(OnnxExport.Int8(network, thresholds));
        using var ortFp32 = OnnxInference.Load(fp32, threads);
        using var ortInt8 = OnnxInference.Load(int8, threads);
        using var noGrad = no_grad();
        using var forward = new FoldedForward(network);
        using var process = Process.GetCurrentProcess();

        void Torch(int start, int size)
        {
            using var scope = NewDisposeScope();
            forward.ForwardRange(0, forward.BlockCount, ImageTensors.Inputs(images, start, size));
        }

        var timings = new List<OnnxBatchTiming>();
        foreach (var batch in batchSizes)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
            // Whole batches only: a smaller last batch would time something else.
            var count = images.Count / batch * batch;
            if (count == 0) throw new ArgumentException($"Batch size {batch} needs at least {batch} images; {images.Count} were given.", nameof(batchSizes));
            (double Wall, double Cpu) Time(Action<int, int> run)
            {
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                for (var start = 0; start < count; start += batch)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    run(start, batch);
                }
                var wall = clock.Elapsed.TotalMilliseconds / count;
                process.Refresh();
                return (wall, (process.TotalProcessorTime - cpu).TotalMilliseconds / count);
            }
            Action<int, int> runTorch = Torch;
            Action<int, int> runFp32 = (start, size) => ortFp32.Logits(images, start, size);
            Action<int, int> runInt8 = (start, size) => ortInt8.Logits(images, start, size);
            // Warm-up: first-call costs (oneDNN primitives, ORT's kernel selection) belong to none of them.
            Time(runTorch);
            Time(runFp32);
            Time(runInt8);
            var torch = new (double Wall, double Cpu)[repeats];
            var f = new (double Wall, double Cpu)[repeats];
            var q = new (double Wall, double Cpu)[repeats];
            for (var r = 0; r < repeats; r++)
            {
                torch[r] = Time(runTorch);
                f[r] = Time(runFp32);
                q[r] = Time(runInt8);
            }
            static double Ratio((double Wall, double Cpu)[] a, (double Wall, double Cpu)[] b, bool cpu) =>
                CollectionBenchmark.Median([.. a.Zip(b, (x, y) => cpu ? x.Cpu / y.Cpu : x.Wall / y.Wall)]);
            timings.Add(new OnnxBatchTiming(batch, count,
                CollectionBenchmark.Median([.. torch.Select(t => t.Wall)]), CollectionBenchmark.Median([.. f.Select(t => t.Wall)]), CollectionBenchmark.Median([.. q.Select(t => t.Wall)]),
                Ratio(torch, f, false), Ratio(torch, q, false), Ratio(f, q, false),
                Ratio(torch, f, true), Ratio(torch, q, true), Ratio(f, q, true)));
        }
        return new OnnxBenchResult(timings, new FileInfo(checkpoint.FilePath).Length, fp32.Length, int8.Length, repeats, threads, thresholds.Choice.Key);
    }
}
