using System.Globalization;
using System.Text;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Web.Components.Pages.Quantization;

/// <summary>
/// The thresholds table as files: CSV (one row per quantized tensor) and the calibration file in JSON (Core's
/// <see cref="CalibrationFile"/>, with its provenance; weights per output channel). The CSV lists a weight as its largest channel amax.
/// </summary>
public static class ThresholdsExport
{
    public static string Csv(QuantizationThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        var text = new StringBuilder("layer,tensor,method,mode,min,max,amax,scale,zero_point,clipped_fraction,sqnr_db\n");
        foreach (var layer in thresholds.Layers)
        {
            if (layer.KeptFloat)
            {
                text.Append(CultureInfo.InvariantCulture, $"{layer.Layer},input,float,,,,,,,,\n");
                continue;
            }
            Row(text, layer.Layer, "input", layer.Input!);
            if (layer.Logits is { } logits) Row(text, layer.Layer, "output", logits);
            var amax = layer.WeightGrids.Select(g => g.Max).DefaultIfEmpty(0).Max();
            text.Append(CultureInfo.InvariantCulture, $"{layer.Layer},weight,max per channel,symmetric,{-amax:R},{amax:R},{amax:R},{amax / 127:R},0,0,\n");
        }
        return text.ToString();
    }

    /// <summary>The calibration file (<see cref="CalibrationFile"/>): the same file <c>calibrate --out</c> writes and <c>recipe export --calibration</c> reads.</summary>
    public static string Json(QuantizationThresholds thresholds, CalibrationProfile profile) => CalibrationFile.ToJson(thresholds, profile);

    /// <summary>"int8-thresholds-vgg-small-512" (no extension).</summary>
    public static string FileName(CalibrationProfile profile) => CalibrationFile.FileName(profile);

    private static void Row(StringBuilder text, string layer, string tensor, ClippingResult r) =>
        text.Append(CultureInfo.InvariantCulture,
            $"{layer},{tensor},{r.Method},{r.Mode.ToString().ToLowerInvariant()},{r.Min:R},{r.Max:R},{r.Amax:R},{r.Scale:R},{r.ZeroPoint},{r.ClippedFraction:R},{(double.IsPositiveInfinity(r.SqnrDb) ? "inf" : r.SqnrDb.ToString("R", CultureInfo.InvariantCulture))}\n");
}
