using System.CommandLine;
using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Cli.Commands;

/// <summary>What <c>quant compare</c> and <c>quant sensitivity</c> share: options for the model, the images and the mode, and their parsing.</summary>
internal static class QuantInputs
{
    public static Option<string> Model() => new("--model") { Description = "checkpoint file", HelpName = "FILE", Required = true };

    public static Option<string> Dataset() => new("--dataset") { Description = "dataset name (see 'datasets')", HelpName = "NAME", Required = true };

    public static Option<string?> Mode() => new("--mode")
    {
        Description = "symmetric (default) or asymmetric; a layer whose input is non-negative (after ReLU) gets the unsigned grid either way",
        HelpName = "symmetric|asymmetric",
    };

    public static Option<string?> Split()
    {
        var option = new Option<string?>("--split") { Description = "images the accuracy is measured on: val (default, the validation hold-out) or test", HelpName = "val|test" };
        option.AcceptOnlyFromAmong("val", "test");
        return option;
    }

    public static Option<int?> Limit() => CliCommand.IntOption("--limit",
        $"images of the split to evaluate on, the stratified subset every analysis uses (default {AnalysisSubset.DefaultSize}; 0 is refused; the whole split with --split test --limit 10000)");

    public static Option<int?> Calibration() => CliCommand.IntOption("--calibration",
        $"validation images the thresholds are calibrated on (default {Int8Images.DefaultCalibrationSize})");

    public static Option<string?> Workspace() => new("--workspace")
    {
        Description = "workspace folder where measurements are kept and read back (default: the dashboard's, Workspace:Folder of the settings)",
        HelpName = "DIR",
    };

    /// <summary>The options every setting of the images and the mode comes from.</summary>
    public static Dictionary<string, string> SettingOptions() => new()
    {
        [nameof(Int8ComparisonRequest.Model)] = "--model",
        [nameof(Int8ComparisonRequest.Dataset)] = "--dataset",
        [nameof(Int8ComparisonRequest.Mode)] = "--mode",
        [nameof(Int8Images.CalibrationSize)] = "--calibration",
        [nameof(Int8Images.EvaluationSize)] = "--limit",
        [nameof(Int8Images.EvaluationPart)] = "--split",
    };

    public static QuantizationMode ParseMode(string? text) => text is null ? QuantizationMode.Symmetric : QuantizationChoice.ParseMode(text);

    public static Int8Images Images(ParseResult parse, Option<string?> split, Option<int?> limit, Option<int?> calibration) => new(
        parse.GetValue(calibration) ?? Int8Images.DefaultCalibrationSize,
        parse.GetValue(split) == "test" ? SplitPart.Test : SplitPart.Validation,
        parse.GetValue(limit) ?? AnalysisSubset.DefaultSize);

    /// <summary>A comma-separated method list (<c>mse,entropy,percentile:99.99</c>); a bad one is <paramref name="setting"/> at fault.</summary>
    public static IReadOnlyList<ClippingMethod>? Methods(string? text, string setting)
    {
        if (CommandInputs.List(text) is not { } items) return null;
        try
        {
            return [.. items.Select(ClippingMethod.Parse)];
        }
        catch (FormatException e)
        {
            throw InvalidRequestException.For(setting, e);
        }
    }

    public static string Percent(double fraction) => (fraction * 100).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + "%";
}
