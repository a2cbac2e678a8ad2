namespace CompressionLab.Core.Quantization;

/// <summary>
/// What a simulated INT8 measurement depends on: the weights, the images its thresholds were calibrated on, the images
/// it was evaluated on, and the configuration (<see cref="FloatConfiguration"/> or a <see cref="QuantizationChoice.Key"/>).
/// </summary>
/// <param name="CalibrationSubset">The calibration subset's <see cref="Models.AnalysisSubset.Key"/> (what the thresholds came from).</param>
/// <param name="EvaluationSubset">The evaluated subset's key (validation or test part).</param>
public sealed record Int8EvaluationKey(string ModelHash, string Dataset, string CalibrationSubset, string EvaluationSubset, string Configuration)
{
    /// <summary>The configuration text of the float network (nothing quantized).</summary>
    public const string FloatConfiguration = "float";

    public static string ConfigurationOf(QuantizationChoice? choice) => choice?.Key ?? FloatConfiguration;
}

/// <summary>Top-1, top-5 and loss (fractions, mean cross-entropy) of one configuration on the evaluated images.</summary>
public sealed record Int8Measurement(double Top1, double Top5, double Loss, int Samples, double Seconds);

/// <summary>A measurement as the workspace keeps it.</summary>
/// <param name="JobId">The job that measured it (dashboard), or null (CLI).</param>
public sealed record StoredInt8Evaluation(Int8EvaluationKey Key, string Architecture, Int8Measurement Measured, Guid? JobId, DateTimeOffset CreatedAt);
