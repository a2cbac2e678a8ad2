using System.Globalization;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Export.Dialects;

/// <summary>
/// How the plan's levels are reached, in epochs, as our fine-tuning reaches them (<see cref="MaskSchedule"/>): AGP from the
/// dense model, masks ranked again ten times per epoch, final levels at 3/4 of the run; or the plan's masks fixed from the start.
/// </summary>
public sealed record PruningScheduleSettings(FineTuneSchedule Kind, int Epochs)
{
    /// <summary>Throws an <see cref="InvalidRequestException"/> naming <c>Epochs</c> or <c>Schedule</c>.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind)) throw new InvalidRequestException("Schedule", $"Unknown schedule {Kind}; use agp or fixed.");
        if (Epochs is < 1 or > TrainingRequest.MaxEpochs)
            throw new InvalidRequestException(nameof(Epochs), $"Epochs must be between 1 and {TrainingRequest.MaxEpochs} (got {Epochs}).");
    }

    public bool Gradual => Kind == FineTuneSchedule.Agp;

    /// <summary>The epoch (fractional) at which AGP reaches the final levels: <see cref="MaskSchedule.RampShare"/> of the run.</summary>
    public double RampEndEpoch => MaskSchedule.RampShare * Epochs;

    /// <summary>Epochs between two mask updates: 1 / <see cref="MaskSchedule.UpdatesPerEpoch"/>.</summary>
    public double UpdateFrequency => 1.0 / MaskSchedule.UpdatesPerEpoch;

    public string Describe() => Gradual
        ? string.Create(CultureInfo.InvariantCulture, $"agp over {Epochs} epoch(s): from dense to the plan's levels by epoch {RampEndEpoch:0.##}, masks updated every {UpdateFrequency:0.##} epoch")
        : $"fixed: the plan's masks from the first step of {Epochs} epoch(s)";
}

/// <summary>What the quantization dialects need: the user's choice and, when calibrated, Distiller's activation statistics.</summary>
/// <param name="Statistics">The activation statistics under our layer names (<see cref="DistillerStatsYaml.From(CalibrationProfile)"/>); written again under PyTorch's.</param>
public sealed record DialectQuantization(QuantizationChoice Choice, IReadOnlyList<DistillerLayerStats>? Statistics = null)
{
    public static DialectQuantization From(QuantizationThresholds thresholds, CalibrationProfile? profile = null)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        return new(thresholds.Choice, profile is null ? null : DistillerStatsYaml.From(profile));
    }
}

/// <summary>Everything the dialects are written from.</summary>
/// <param name="Names">The PyTorch twin's names for the network the plan is for.</param>
/// <param name="Plan">The plan resolved against that network's layers.</param>
/// <param name="Source">One line for people: the model the plan was made for (written as a comment where the format has them).</param>
public sealed record DialectInputs(PyTorchNames Names, ResolvedPlan Plan, PruningScheduleSettings Schedule, DialectQuantization? Quantization = null, string? Source = null)
{
    /// <summary>The inputs for <paramref name="plan"/> on <paramref name="network"/> (resolved here; a plan that does not fit throws naming every problem).</summary>
    public static DialectInputs For(ClassifierNetwork network, PruningPlan plan, PruningScheduleSettings schedule, DialectQuantization? quantization = null,
        PyTorchNaming naming = PyTorchNaming.Sequential, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(plan);
        return new(PyTorchNames.Of(network, naming), plan.Resolve(network.Layers), schedule, quantization, source);
    }
}

/// <summary>One pruner of a dialect: layers pruned together at one level by one method.</summary>
/// <param name="Name">A name unique in the schedule: the stage's, or the overridden layer's with dots as underscores, plus <c>_pruner</c>.</param>
/// <param name="Layers">Our layer names, in table order.</param>
public sealed record DialectPruner(string Name, string Stage, PruningMethod Method, double Level, IReadOnlyList<string> Layers, bool Override);

/// <summary>The plan as the dialects group it: one pruner per stage (its layers at the stage's rate), one per pruned override.</summary>
public static class DialectPruners
{
    /// <summary>
    /// One pruner per stage for the layers that take the stage's rate and method, then one per overridden layer, each in
    /// table order; layers at level 0 (a stage at rate 0, an override to 0) and excluded layers are in none.
    /// </summary>
    public static IReadOnlyList<DialectPruner> Of(ResolvedPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var pruners = new List<DialectPruner>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        string Unique(string text)
        {
            var name = new string([.. text.Select(c => char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_')]) + "_pruner";
            for (var i = 2; !names.Add(name); i++) name = $"{name}{i}";
            return name;
        }
        foreach (var stage in plan.Layers.Select(l => l.Stage).Distinct())
        {
            var layers = plan.Layers.Where(l => l.Stage == stage && l.Source == LevelSource.Stage && l.Level > 0).ToArray();
            if (layers.Length > 0)
                pruners.Add(new DialectPruner(Unique(stage), stage, layers[0].Method, layers[0].Level, [.. layers.Select(l => l.Layer)], false));
        }
        foreach (var layer in plan.Layers.Where(l => l.Source == LevelSource.Override && l.Level > 0))
            pruners.Add(new DialectPruner(Unique(layer.Layer), layer.Stage, layer.Method, layer.Level, [layer.Layer], true));
        return pruners;
    }
}
