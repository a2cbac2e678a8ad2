using System.Globalization;
using System.Text;
using System.Text.Json;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Web.Components.Pages.Quantization;

/// <summary>
/// The thresholds table as files: CSV (one row per quantized tensor) and JSON in the <c>calibrate --json</c> shape
/// (<c>layers[{name, tensor, method, mode, min, max, amax, scale, zero_point, clipped_fraction, sqnr_db}]</c>, fractions).
/// Weights are listed per output channel in JSON and as their largest channel amax in the CSV.
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

    public static string Json(QuantizationThresholds thresholds, CalibrationProfile profile)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(profile);
        var layers = new List<object>();
        foreach (var layer in thresholds.Layers)
        {
            if (layer.KeptFloat)
            {
                layers.Add(new { name = layer.Layer, tensor = "input", method = "float" });
                continue;
            }
            layers.Add(Tensor(layer.Layer, "input", layer.Input!));
            if (layer.Logits is { } logits) layers.Add(Tensor(layer.Layer, "output", logits));
            layers.Add(new
            {
                name = layer.Layer,
                tensor = "weight",
                method = "max per channel",
                mode = "symmetric",
                channels = layer.WeightGrids.Select(g => new { amax = g.Max, scale = g.Scale, zero_point = g.ZeroPoint }).ToArray(),
            });
        }
        return JsonSerializer.Serialize(new
        {
            architecture = profile.Architecture,
            weights_hash = profile.WeightsHash,
            dataset = profile.Dataset,
            subset = profile.SubsetKey,
            images = profile.Images,
            choice = thresholds.Choice.Key,
            layers,
        }, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>"int8-thresholds-vgg-small-512" (no extension).</summary>
    public static string FileName(CalibrationProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return string.Create(CultureInfo.InvariantCulture, $"int8-thresholds-{profile.Architecture}-{profile.Images}");
    }

    private static void Row(StringBuilder text, string layer, string tensor, ClippingResult r) =>
        text.Append(CultureInfo.InvariantCulture,
            $"{layer},{tensor},{r.Method},{r.Mode.ToString().ToLowerInvariant()},{r.Min:R},{r.Max:R},{r.Amax:R},{r.Scale:R},{r.ZeroPoint},{r.ClippedFraction:R},{(double.IsPositiveInfinity(r.SqnrDb) ? "inf" : r.SqnrDb.ToString("R", CultureInfo.InvariantCulture))}\n");

    private static object Tensor(string layer, string tensor, ClippingResult r) => new
    {
        name = layer,
        tensor,
        method = r.Method,
        mode = r.Mode.ToString().ToLowerInvariant(),
        min = r.Min,
        max = r.Max,
        amax = r.Amax,
        scale = r.Scale,
        zero_point = r.ZeroPoint,
        clipped_fraction = r.ClippedFraction,
        sqnr_db = double.IsPositiveInfinity(r.SqnrDb) ? (double?)null : r.SqnrDb,
    };
}
