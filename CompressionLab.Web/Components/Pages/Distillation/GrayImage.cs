using CompressionLab.Core.Data;

namespace CompressionLab.Web.Components.Pages.Distillation;

/// <summary>One grayscale image of a dataset as a BMP data URL, so an &lt;img&gt; shows it without an endpoint or a script.</summary>
public static class GrayImage
{
    /// <summary>Image <paramref name="index"/> of <paramref name="images"/> as <c>data:image/bmp;base64,…</c> (24-bit, no compression).</summary>
    public static string DataUrl(LabeledImages images, int index)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, images.Count);
        return "data:image/bmp;base64," + Convert.ToBase64String(Bmp(images.Pixels.AsSpan(index * images.PixelsPerImage, images.PixelsPerImage), images.Width, images.Height));
    }

    /// <summary>A 24-bit BMP of row-major gray values (rows are stored bottom-up and padded to 4 bytes, as the format wants).</summary>
    public static byte[] Bmp(ReadOnlySpan<byte> gray, int width, int height)
    {
        if (gray.Length != width * height) throw new ArgumentException($"{gray.Length} pixels for {width}×{height}.", nameof(gray));
        var stride = ((width * 3) + 3) & ~3;
        var size = 54 + (stride * height);
        var bmp = new byte[size];
        bmp[0] = (byte)'B';
        bmp[1] = (byte)'M';
        BitConverter.TryWriteBytes(bmp.AsSpan(2), size);
        BitConverter.TryWriteBytes(bmp.AsSpan(10), 54);
        BitConverter.TryWriteBytes(bmp.AsSpan(14), 40);
        BitConverter.TryWriteBytes(bmp.AsSpan(18), width);
        BitConverter.TryWriteBytes(bmp.AsSpan(22), height);
        BitConverter.TryWriteBytes(bmp.AsSpan(26), (short)1);
        BitConverter.TryWriteBytes(bmp.AsSpan(28), (short)24);
        BitConverter.TryWriteBytes(bmp.AsSpan(34), stride * height);
        for (var y = 0; y < height; y++)
        {
            var row = 54 + ((height - 1 - y) * stride);
            for (var x = 0; x < width; x++)
            {
                var v = gray[(y * width) + x];
                bmp[row + (3 * x)] = v;
                bmp[row + (3 * x) + 1] = v;
                bmp[row + (3 * x) + 2] = v;
            }
        }
        return bmp;
    }
}
