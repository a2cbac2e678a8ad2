using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Recipes;

/// <summary>
/// The one way a recipe is measured, for export and apply alike, so that the two give the same numbers on the same
/// weights and images: the model as it is (<see cref="Evaluator"/>), then with the recipe's masks and — when it has a
/// quantization section — simulated INT8 on the recorded grids (<see cref="Int8Simulation"/> on the folded network).
/// The weights are restored bit for bit afterwards.
/// </summary>
public static class RecipeEvaluation
{
    /// <summary>Baseline and result on <paramref name="images"/>; <paramref name="masks"/> from <see cref="RecipeMasks"/>.</summary>
    public static (RecipeMeasurement Baseline, RecipeMeasurement Result) Measure(
        ClassifierNetwork network,
        IReadOnlyList<PruningMask> masks,
        QuantizationThresholds? thresholds,
        LabeledImages images,
        Action<string>? step = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(masks);
        ArgumentNullException.ThrowIfNull(images);
        step?.Invoke("the model as it is");
        var baseline = Evaluator.Evaluate(network, images, cancellationToken: cancellationToken);
        EvaluationResult result;
        using (RecipeMasks.Apply(network, masks))
        {
            step?.Invoke(thresholds is null ? "the model with the recipe's masks" : "the model with the recipe's masks, simulated INT8");
            if (thresholds is null)
            {
                result = Evaluator.Evaluate(network, images, cancellationToken: cancellationToken);
            }
            else
            {
                using var folded = FoldedNetwork.Fold(network);
                result = Int8Simulation.Evaluate(folded, thresholds, images, cancellationToken);
            }
        }
        return (Of(baseline), Of(result));
    }

    /// <summary>The counts behind an evaluation: correct per class from the confusion matrix's diagonal; top-1 as correct / samples.</summary>
    public static RecipeMeasurement Of(EvaluationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var perClass = result.ConfusionMatrix.Select((row, c) => row[c]).ToArray();
        var correct = perClass.Sum();
        return new RecipeMeasurement((double)correct / result.Samples, correct, result.Samples, perClass, result.Top5, result.Loss);
    }

    /// <summary>A <see cref="PlanSize"/> as the recipe records it.</summary>
    public static RecipeSize Size(PlanSize size)
    {
        ArgumentNullException.ThrowIfNull(size);
        return new RecipeSize(size.Sparsity, size.Network.Parameters, size.Network.MacsPerSample, size.Bytes.DenseFloat32, size.Bytes.CsrFloat32, size.Bytes.DenseInt8, size.Bytes.CsrInt8);
    }

    /// <summary>The pruned layers as a plan resolves them, for <see cref="PlanSize"/>.</summary>
    public static IReadOnlyList<PlannedLayer> Planned(RecipePruning? pruning) =>
        pruning is null ? [] : [.. pruning.Layers.Select(l => new PlannedLayer(l.Name, l.Stage ?? "", l.Level, PruningMethod.Parse(l.Method), LevelSource.Override))];
}
