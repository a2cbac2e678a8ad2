using CompressionLab.Core.Jobs;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Web.Components.Pages.Quantization;

/// <summary>Top-1 of one way of quantizing the network, as the comparison measured it.</summary>
/// <param name="Label">"float", a method's name (for all layers), or "chosen mix".</param>
/// <param name="Choice">The choice's canonical text (<see cref="QuantizationChoice.Key"/>); null for float.</param>
public sealed record Int8Row(string Label, string? Choice, double Top1);

/// <summary>Float, each method for all layers, and the chosen mix, measured on the same images.</summary>
public sealed record Int8Comparison(int Images, double FloatTop1, IReadOnlyList<Int8Row> Rows)
{
    /// <summary>The mix's row, if the comparison measured one.</summary>
    public Int8Row? Mix => Rows.FirstOrDefault(r => r.Label == QuantizationBackend.MixLabel);
}

/// <summary>One layer quantized alone with its chosen method (the rest float): what top-1 it leaves.</summary>
public sealed record SensitivityRow(string Layer, string Method, double Top1);

/// <summary>Each layer quantized alone, most harmful first; and the mix the engine suggests from them, if it made one.</summary>
/// <param name="SuggestedMix">The suggested choice's canonical text; null without a suggestion.</param>
public sealed record Int8Sensitivity(int Images, double FloatTop1, IReadOnlyList<SensitivityRow> Layers, string? SuggestedMix = null, double? SuggestedTop1 = null);

/// <summary>
/// What the page needs of the quantization engine: the workspace's stored profiles, and the jobs that collect a profile,
/// compare INT8 choices and rank layers. The app's implementation calls the Core starters; tests give their own, so
/// the page renders with a seeded profile and no TorchSharp.
/// </summary>
public abstract class QuantizationBackend
{
    public const string MixLabel = "chosen mix";

    public abstract string CollectKind { get; }

    public abstract string ComparisonKind { get; }

    public abstract string SensitivityKind { get; }

    public bool Follows(string kind) => kind == CollectKind || kind == ComparisonKind || kind == SensitivityKind;

    /// <summary>The workspace's profile of the model's weights on its first <paramref name="subsetSize"/> validation images, or null.</summary>
    public abstract CalibrationProfile? FindProfile(ModelRecord model, int subsetSize);

    public abstract JobSnapshot StartCollect(ModelRecord model, int subsetSize);

    public abstract JobSnapshot StartComparison(ModelRecord model, int subsetSize, QuantizationChoice mix);

    public abstract JobSnapshot StartSensitivity(ModelRecord model, int subsetSize, QuantizationChoice choice);

    public abstract Int8Comparison ReadComparison(string resultJson);

    public abstract Int8Sensitivity ReadSensitivity(string resultJson);

    /// <summary>Distiller's activation statistics YAML of the profile; null when no writer is available.</summary>
    public virtual string? StatsYaml(CalibrationProfile profile) => null;
}
