using System.IO.Compression;
using System.Text;
using CompressionLab.Core.Models;

namespace CompressionLab.Core.Quantization;

/// <summary>
/// A <see cref="CalibrationProfile"/> as bytes (the workspace cache): every accumulator's whole state, so a profile read
/// back equals the collected one field by field (and could go on accumulating). Little-endian, Brotli-compressed (the
/// histograms are mostly runs of zeros); a leading format number lets a later format refuse an older blob clearly.
/// </summary>
public static class CalibrationProfileCodec
{
    private const int Format = 1;

    public static byte[] Write(CalibrationProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        using var buffer = new MemoryStream();
        using (var compressed = new BrotliStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var w = new BinaryWriter(compressed, Encoding.UTF8))
        {
            w.Write(Format);
            w.Write(profile.Architecture);
            w.Write(profile.WeightsHash);
            w.Write(profile.Dataset);
            w.Write(profile.SubsetKey);
            w.Write(profile.Images);
            w.Write(profile.CollectSeconds);
            w.Write(profile.Layers.Count);
            foreach (var layer in profile.Layers)
            {
                w.Write(layer.Layer);
                w.Write((int)layer.Kind);
                w.Write(layer.InputNonNegative);
                w.Write(layer.IsOutputLayer);
                WriteTensor(w, layer.Input);
                WriteTensor(w, layer.Output);
                WriteTensor(w, layer.Weight);
                WriteDoubles(w, layer.ChannelMin);
                WriteDoubles(w, layer.ChannelMax);
            }
        }
        return buffer.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are not a profile of this format.</exception>
    public static CalibrationProfile Read(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        try
        {
            using var r = new BinaryReader(new BrotliStream(new MemoryStream(bytes), CompressionMode.Decompress), Encoding.UTF8);
            var format = r.ReadInt32();
            if (format != Format) throw new InvalidDataException($"Calibration profile format {format} is not the one this version reads ({Format}).");
            var architecture = r.ReadString();
            var hash = r.ReadString();
            var dataset = r.ReadString();
            var subset = r.ReadString();
            var images = r.ReadInt32();
            var seconds = r.ReadDouble();
            var layers = new LayerProfile[r.ReadInt32()];
            for (var i = 0; i < layers.Length; i++)
            {
                var name = r.ReadString();
                var kind = (LayerKind)r.ReadInt32();
                var nonNegative = r.ReadBoolean();
                var output = r.ReadBoolean();
                layers[i] = new LayerProfile(name, kind, nonNegative, output,
                    ReadTensor(r, name, TensorRole.Input), ReadTensor(r, name, TensorRole.Output), ReadTensor(r, name, TensorRole.Weight),
                    ReadDoubles(r), ReadDoubles(r));
            }
            return new CalibrationProfile(architecture, hash, dataset, subset, images, layers, seconds);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException("The stored calibration profile is damaged.", e);
        }
    }

    private static void WriteTensor(BinaryWriter w, TensorProfile tensor)
    {
        var s = tensor.Statistics.State();
        w.Write(s.Min);
        w.Write(s.Max);
        w.Write(s.SumMin);
        w.Write(s.SumMax);
        w.Write(s.ExtremeCount);
        w.Write(s.Mean);
        w.Write(s.M2);
        w.Write(s.Count);
        w.Write(s.Batches);
        w.Write(s.Shape.Count);
        foreach (var d in s.Shape) w.Write(d);
        WriteHistogram(w, tensor.Magnitude);
        WriteHistogram(w, tensor.Signed);
    }

    private static TensorProfile ReadTensor(BinaryReader r, string layer, TensorRole role)
    {
        var state = new TensorStatisticsState(r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadInt64(), r.ReadDouble(), r.ReadDouble(),
            r.ReadInt64(), r.ReadInt32(), ReadLongs(r));
        var statistics = TensorStatistics.Restore(layer, role.Text(), state);
        return new TensorProfile(layer, role, statistics, ReadHistogram(r, layer, role), ReadHistogram(r, layer, role));
    }

    private static void WriteHistogram(BinaryWriter w, ActivationHistogram h)
    {
        w.Write((int)h.Mode);
        w.Write(h.Lower);
        w.Write(h.BinWidth);
        w.Write(h.ValueMin);
        w.Write(h.ValueMax);
        w.Write(h.DomainMin);
        w.Write(h.DomainMax);
        w.Write(h.BinCount);
        foreach (var c in h.Counts) w.Write(c);
    }

    private static ActivationHistogram ReadHistogram(BinaryReader r, string layer, TensorRole role)
    {
        var mode = (HistogramMode)r.ReadInt32();
        var (lower, width, valueMin, valueMax, domainMin, domainMax) = (r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble());
        var counts = new long[r.ReadInt32()];
        for (var i = 0; i < counts.Length; i++) counts[i] = r.ReadInt64();
        return ActivationHistogram.Restore(mode, layer, role.Text(), lower, width, counts, valueMin, valueMax, domainMin, domainMax);
    }

    private static void WriteDoubles(BinaryWriter w, IReadOnlyList<double> values)
    {
        w.Write(values.Count);
        foreach (var v in values) w.Write(v);
    }

    private static double[] ReadDoubles(BinaryReader r)
    {
        var values = new double[r.ReadInt32()];
        for (var i = 0; i < values.Length; i++) values[i] = r.ReadDouble();
        return values;
    }

    private static long[] ReadLongs(BinaryReader r)
    {
        var values = new long[r.ReadInt32()];
        for (var i = 0; i < values.Length; i++) values[i] = r.ReadInt64();
        return values;
    }
}
