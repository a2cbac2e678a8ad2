using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Recipes;

/// <summary>
/// A recipe's quantization section from a calibration file, and the <see cref="QuantizationThresholds"/> it stands for:
/// the grids are rebuilt from the recorded numbers (not calibrated again), so applying a recipe simulates INT8 with
/// exactly the parameters it records.
/// </summary>
public static class RecipeThresholds
{
    public static RecipeQuantization Section(CalibrationDocument calibration)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        var choice = calibration.Choice;
        return new RecipeQuantization(
            8,
            choice.Mode.ToString().ToLowerInvariant(),
            PerChannelWeights: true,
            choice.Method.Name,
            choice.Key,
            choice.QuantizeLogits,
            [.. (choice.FloatLayers ?? []).Order(StringComparer.Ordinal)],
            new RecipeCalibrationSource(calibration.WeightsHash, calibration.Dataset, calibration.Subset, calibration.Images),
            [.. calibration.Thresholds.Layers.Select(l => l.KeptFloat
                ? new RecipeQuantizedLayer(l.Layer, true, null, null, null, null)
                : new RecipeQuantizedLayer(l.Layer, false, l.Method!.Name, Clip(l.Input!), [.. l.WeightGrids.Select(g => new RecipeChannelScale(g.Max, g.Scale, g.ZeroPoint))],
                    l.Logits is { } logits ? Clip(logits) : null))]);
    }

    /// <summary>The thresholds the section records, for <see cref="Int8Simulation"/>.</summary>
    public static QuantizationThresholds ToThresholds(RecipeQuantization quantization)
    {
        ArgumentNullException.ThrowIfNull(quantization);
        var method = ClippingMethod.Parse(quantization.Method);
        var overrides = quantization.Layers.Where(l => !l.KeptFloat && l.Method is not null && l.Method != method.Name)
            .ToDictionary(l => l.Name, l => ClippingMethod.Parse(l.Method!), StringComparer.Ordinal);
        var choice = new QuantizationChoice(QuantizationChoice.ParseMode(quantization.Mode), method, overrides, [.. quantization.FloatLayers], quantization.QuantizeLogits);
        var layers = quantization.Layers.Select(l => l.KeptFloat
            ? new LayerThresholds(l.Name, null, null, [], null)
            : new LayerThresholds(l.Name, choice.MethodFor(l.Name), Clip(l.Input!),
                [.. (l.WeightChannels ?? []).Select(c => new QuantizationGrid(c.Scale, c.ZeroPoint, -127, 127))], l.Output is { } output ? Clip(output) : null)).ToList();
        return new QuantizationThresholds(choice, layers);
    }

    private static RecipeClip Clip(ClippingResult r) => new(r.Method, r.Mode.ToString().ToLowerInvariant(), r.Min, r.Max, r.Amax, r.Scale, r.ZeroPoint,
        double.IsFinite(r.ClippedFraction) ? r.ClippedFraction : null, double.IsFinite(r.SqnrDb) ? r.SqnrDb : null);

    private static ClippingResult Clip(RecipeClip c)
    {
        if (!RecipeConsistency.TryMode(c.Grid, out var mode)) throw new ArgumentException($"Unknown grid '{c.Grid}'.");
        return new ClippingResult(c.Method, mode, c.Min, c.Max, c.Amax, c.Scale, c.ZeroPoint, c.ClippedFraction ?? double.NaN, double.NaN, c.SqnrDb ?? double.PositiveInfinity);
    }
}
