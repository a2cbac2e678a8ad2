using System.Globalization;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Recipes;

/// <summary>A recipe field whose value contradicts another, with its path as a JSON Pointer.</summary>
public sealed record RecipeProblem(string Pointer, string Message);

/// <summary>
/// What a recipe says about itself that must agree, whatever the model: a file edited by hand (a threshold, a scale,
/// a count) is refused naming the field rather than applied half-right. The rules are the engine's own:
/// levels and pruned counts by <see cref="PruningRanking.PrunedCount"/>, grids by <see cref="QuantizationGrid.For"/>,
/// top-1 as correct / samples.
/// </summary>
public static class RecipeConsistency
{
    public static IReadOnlyList<RecipeProblem> Problems(CompressionRecipe recipe)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        var problems = new List<RecipeProblem>();
        void Add(string pointer, string message) => problems.Add(new RecipeProblem(pointer, message));
        static string N(double value) => value.ToString("R", CultureInfo.InvariantCulture);

        var layers = recipe.Provenance.Layers;
        var shapes = new Dictionary<string, IReadOnlyList<long>>(StringComparer.Ordinal);
        for (var i = 0; i < layers.Count; i++)
        {
            if (!shapes.TryAdd(layers[i].Name, layers[i].WeightShape)) Add($"/provenance/layers/{i}/name", $"layer '{layers[i].Name}' is listed twice.");
            if (layers[i].WeightShape.Count < 2 || layers[i].WeightShape.Any(d => d < 1))
                Add($"/provenance/layers/{i}/weight_shape", "a weight shape has at least two dimensions, each at least 1.");
        }
        string Known() => string.Join(", ", layers.Select(l => l.Name));

        if (recipe.Results is { } results)
        {
            Measurement("/results/baseline", results.Baseline, results.Images.Count);
            Measurement("/results/result", results.Result, results.Images.Count);
        }

        void Measurement(string pointer, RecipeMeasurement m, int images)
        {
            if (m.Samples != images) Add($"{pointer}/samples", $"{m.Samples} samples, but results.images.count is {images}.");
            if (m.Correct < 0 || m.Correct > m.Samples) Add($"{pointer}/correct", $"{m.Correct} correct of {m.Samples} images is impossible.");
            else if (m.Samples > 0 && m.Top1 != (double)m.Correct / m.Samples)
                Add($"{pointer}/top1", $"top1 {N(m.Top1)} is not correct / samples = {m.Correct} / {m.Samples} = {N((double)m.Correct / m.Samples)}.");
            if (m.CorrectPerClass.Sum() != m.Correct)
                Add($"{pointer}/correct_per_class", $"the classes add up to {m.CorrectPerClass.Sum()}, not to correct = {m.Correct}.");
        }

        if (recipe.Pruning is { } pruning)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < pruning.Layers.Count; i++)
            {
                var layer = pruning.Layers[i];
                var at = $"/pruning/layers/{i}";
                if (!seen.Add(layer.Name)) Add($"{at}/name", $"layer '{layer.Name}' is pruned twice.");
                if (!shapes.TryGetValue(layer.Name, out var shape))
                {
                    Add($"{at}/name", $"'{layer.Name}' is not a layer of the recipe's model ({Known()}).");
                    continue;
                }
                PruningMethod method;
                try
                {
                    method = PruningMethod.Parse(layer.Method);
                }
                catch (ArgumentException)
                {
                    Add($"{at}/method", $"unknown method '{layer.Method}': element, filter-l1 or filter-l2.");
                    continue;
                }
                if (PruningPlan.LevelProblem("the level", layer.Level) is { } levelProblem)
                {
                    Add($"{at}/level", levelProblem);
                    continue;
                }
                var units = method.Criterion == PruningCriterion.Filter ? shape[0] : shape.Aggregate(1L, (a, b) => a * b);
                if (layer.Units != units)
                    Add($"{at}/units", $"{layer.Units} units, but {layer.Name}'s weight [{string.Join(", ", shape)}] has {units} {(method.Criterion == PruningCriterion.Filter ? "filters" : "weights")}.");
                else if (layer.PrunedUnits != PruningRanking.PrunedCount(layer.Level, layer.Units))
                    Add($"{at}/pruned_units", $"level {N(layer.Level)} of {layer.Units} units prunes {PruningRanking.PrunedCount(layer.Level, layer.Units)}, not {layer.PrunedUnits}.");
                if (!(layer.Threshold >= 0) || !double.IsFinite(layer.Threshold))
                    Add($"{at}/threshold", $"a threshold is a score (|w| or a filter norm): a finite number ≥ 0, not {N(layer.Threshold)}.");
                if (layer.MaskSha256.Length != 64 || !layer.MaskSha256.All(char.IsAsciiHexDigitLower))
                    Add($"{at}/mask_sha256", "the mask hash is 64 lower-case hex digits.");
            }
            for (var i = 0; i < pruning.Exclusions.Count; i++)
            {
                if (!shapes.ContainsKey(pruning.Exclusions[i].Layer)) Add($"/pruning/exclusions/{i}/layer", $"'{pruning.Exclusions[i].Layer}' is not a layer of the recipe's model ({Known()}).");
                if (seen.Contains(pruning.Exclusions[i].Layer)) Add($"/pruning/exclusions/{i}/layer", $"'{pruning.Exclusions[i].Layer}' is both excluded and pruned.");
            }
            if (pruning.Schedule.Kind is not ("one-shot" or "agp")) Add("/pruning/schedule/kind", $"unknown schedule '{pruning.Schedule.Kind}': one-shot or agp.");
            var hash = PlanContent.Hash(new ResolvedPlan([.. pruning.Layers.Where(l => PruningPlan.LevelProblem("", l.Level) is null && IsMethod(l.Method))
                .Select(l => new PlannedLayer(l.Name, l.Stage ?? "", l.Level, PruningMethod.Parse(l.Method), LevelSource.Override))]));
            if (problems.Count == 0 && !string.Equals(hash, pruning.PlanHash, StringComparison.Ordinal))
                Add("/pruning/plan_hash", $"the plan hash does not match the layers' levels and methods (they give {hash[..12]}…).");
        }

        if (recipe.Quantization is { } quantization)
        {
            if (quantization.Bits != 8) Add("/quantization/bits", $"only 8-bit quantization is simulated (got {quantization.Bits}).");
            var listed = quantization.Layers.Select(l => l.Name).ToList();
            if (!listed.SequenceEqual(layers.Select(l => l.Name)))
                Add("/quantization/layers", $"the layers must be the model's, each once in table order ({Known()}); they are {string.Join(", ", listed)}.");
            for (var i = 0; i < quantization.Layers.Count; i++)
            {
                var layer = quantization.Layers[i];
                var at = $"/quantization/layers/{i}";
                if (layer.KeptFloat)
                {
                    if (layer.Input is not null || layer.WeightChannels is { Count: > 0 } || layer.Output is not null)
                        Add(at, $"{layer.Name} is kept in float but has quantization parameters.");
                    if (!quantization.FloatLayers.Contains(layer.Name)) Add($"{at}/kept_float", $"{layer.Name} is kept in float but not in float_layers.");
                    continue;
                }
                if (quantization.FloatLayers.Contains(layer.Name)) Add($"{at}/kept_float", $"{layer.Name} is in float_layers but kept_float is false.");
                if (layer.Input is null) Add($"{at}/input", $"{layer.Name} is quantized but its input has no clip.");
                else Clip($"{at}/input", layer.Input);
                if (layer.Output is { } output) Clip($"{at}/output", output);
                if (layer.WeightChannels is not { } channels || !shapes.TryGetValue(layer.Name, out var shape)) continue;
                if (channels.Count != shape[0])
                    Add($"{at}/weight_channels", $"{channels.Count} channel scales, but {layer.Name} has {shape[0]} output channels.");
                for (var c = 0; c < channels.Count; c++)
                {
                    var grid = QuantizationGrid.For(QuantizationMode.Symmetric, -channels[c].Amax, channels[c].Amax);
                    if (!(channels[c].Amax >= 0) || !Same(grid.Scale, channels[c].Scale) || grid.ZeroPoint != channels[c].ZeroPoint)
                        Add($"{at}/weight_channels/{c}/scale", $"channel {c}: amax {N(channels[c].Amax)} gives scale {N(grid.Scale)} and zero point {grid.ZeroPoint}, not {N(channels[c].Scale)} and {channels[c].ZeroPoint}.");
                }
            }
        }

        void Clip(string pointer, RecipeClip clip)
        {
            if (!TryMode(clip.Grid, out var mode))
            {
                Add($"{pointer}/grid", $"unknown grid '{clip.Grid}': symmetric, unsigned or asymmetric.");
                return;
            }
            if (!(clip.Min <= clip.Max)) Add($"{pointer}/min", $"min {N(clip.Min)} is above max {N(clip.Max)}.");
            var grid = QuantizationGrid.For(mode, clip.Min, clip.Max);
            if (!Same(grid.Scale, clip.Scale)) Add($"{pointer}/scale", $"a {clip.Grid} grid over [{N(clip.Min)}, {N(clip.Max)}] has scale {N(grid.Scale)}, not {N(clip.Scale)}.");
            else if (grid.ZeroPoint != clip.ZeroPoint) Add($"{pointer}/zero_point", $"a {clip.Grid} grid over [{N(clip.Min)}, {N(clip.Max)}] has zero point {grid.ZeroPoint}, not {clip.ZeroPoint}.");
        }
        return problems;
    }

    /// <summary>
    /// Equal to float rounding: a grid's largest value is 127·scale, and amax / 127 of that can differ from the scale in its
    /// last bit. Anything larger is an edit.
    /// </summary>
    private static bool Same(double a, double b) => Math.Abs(a - b) <= 1e-12 * Math.Max(Math.Abs(a), Math.Abs(b));

    internal static bool TryMode(string text, out QuantizationMode mode)
    {
        switch (text)
        {
            case "symmetric": mode = QuantizationMode.Symmetric; return true;
            case "unsigned": mode = QuantizationMode.Unsigned; return true;
            case "asymmetric": mode = QuantizationMode.Asymmetric; return true;
            default: mode = default; return false;
        }
    }

    private static bool IsMethod(string text)
    {
        try
        {
            PruningMethod.Parse(text);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
