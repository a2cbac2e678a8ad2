using System.Globalization;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Web.Components.Pages.Quantization;

/// <summary>How the Quantization page writes numbers: fractions as percent on screen only.</summary>
public static class QuantizationText
{
    /// <summary>A clipped fraction: "0.012 %", "0 %", "&lt; 0.001 %" for a sliver.</summary>
    public static string Percent(double fraction) => fraction switch
    {
        0 => "0 %",
        < 1e-5 => "< 0.001 %",
        _ => string.Create(CultureInfo.InvariantCulture, $"{fraction * 100:0.###} %"),
    };

    /// <summary>SQNR in dB; "exact" when the error is 0 (all zeros, one value).</summary>
    public static string Sqnr(double db) => double.IsPositiveInfinity(db) ? "exact" : string.Create(CultureInfo.InvariantCulture, $"{db:0.0} dB");

    /// <summary>A top-1 fraction in percent with two decimals ("92.99 %").</summary>
    public static string Top1(double fraction) => string.Create(CultureInfo.InvariantCulture, $"{fraction * 100:0.00} %");

    /// <summary>A difference of two top-1 fractions in points ("−0.31 pts").</summary>
    public static string Points(double delta) =>
        string.Create(CultureInfo.InvariantCulture, $"{(delta < 0 ? "−" : delta > 0 ? "+" : "")}{Math.Abs(delta) * 100:0.00} pts");

    public static string Number(double value) => string.Create(CultureInfo.InvariantCulture, $"{value:G4}");

    /// <summary>"amax 3.21" (symmetric, unsigned) or "[−0.5, 3.2]" (asymmetric).</summary>
    public static string Range(ClippingResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.Mode == QuantizationMode.Asymmetric
            ? string.Create(CultureInfo.InvariantCulture, $"[{result.Min:G4}, {result.Max:G4}]")
            : Number(result.Amax);
    }

    public static string Mode(QuantizationMode mode) => mode switch
    {
        QuantizationMode.Symmetric => "int8 symmetric",
        QuantizationMode.Unsigned => "uint8 (≥ 0)",
        QuantizationMode.Asymmetric => "uint8 asymmetric",
        _ => mode.ToString(),
    };
}
