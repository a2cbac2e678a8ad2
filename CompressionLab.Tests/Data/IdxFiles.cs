using System.IO.Compression;

namespace CompressionLab.Tests.Data;

/// <summary>Writes small IDX files and four-file datasets for tests.</summary>
internal static class IdxFiles
{
    public static byte[] Header(params int[] sizes)
    {
        var header = new List<byte> { 0, 0, 0x08, (byte)sizes.Length };
        foreach (var s in sizes) header.AddRange([(byte)(s >> 24), (byte)(s >> 16), (byte)(s >> 8), (byte)s]);
        return [.. header];
    }

    public static void Write(string path, byte[] bytes, bool gzip)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!gzip)
        {
            File.WriteAllBytes(path, bytes);
            return;
        }
        using var file = File.Create(path);
        using var z = new GZipStream(file, CompressionLevel.Fastest);
        z.Write(bytes);
    }

    /// <summary>
    /// A Fashion-MNIST-shaped dataset of 4×4 images: image i has every pixel equal to i mod 256, label i mod 10.
    /// </summary>
    public static string WriteDataset(string folder, int trainCount, int testCount, bool gzip = true)
    {
        WritePart(folder, "train", trainCount, gzip);
        WritePart(folder, "t10k", testCount, gzip);
        return folder;
    }

    private static void WritePart(string folder, string stem, int count, bool gzip)
    {
        var suffix = gzip ? ".gz" : "";
        var pixels = new byte[count * 16];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i / 16);
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray();
        Write(Path.Combine(folder, $"{stem}-images-idx3-ubyte{suffix}"), [.. Header(count, 4, 4), .. pixels], gzip);
        Write(Path.Combine(folder, $"{stem}-labels-idx1-ubyte{suffix}"), [.. Header(count), .. labels], gzip);
    }
}
