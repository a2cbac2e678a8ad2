namespace CompressionLab.Core.Recipes;

/// <summary>
/// A CompressionLab recipe: what was done to one model and what it measured, so that it can be applied again to the
/// same weights and give the same masks, the same quantization parameters and the same accuracy on the same images.
/// Plain data; YAML and JSON carry the same content (<see cref="RecipeFile"/>), checked by
/// <c>schemas/compressionlab-recipe-v1.schema.json</c>. docs/recipe.md describes every field.
/// </summary>
/// <param name="Format">Always <see cref="FormatName"/>: a file that says otherwise is not a recipe.</param>
/// <param name="Version">The format version (<see cref="CurrentVersion"/>); a newer one is refused, never guessed at.</param>
/// <param name="Results">What the recipe measured on its model; null when nothing was measured.</param>
/// <param name="Pruning">Null: the recipe prunes nothing.</param>
/// <param name="Distillation">Null: the model's lineage shows no distillation.</param>
/// <param name="Quantization">Null: no calibration was given (a gap says so).</param>
/// <param name="Gaps">What the recipe lacks and how to fill it ("no calibration yet: ..."), for people.</param>
public sealed record CompressionRecipe(
    string Format,
    int Version,
    RecipeProvenance Provenance,
    RecipeResults? Results,
    RecipePruning? Pruning,
    RecipeDistillation? Distillation,
    RecipeQuantization? Quantization,
    IReadOnlyList<RecipeGap> Gaps)
{
    public const string FormatName = "compressionlab-recipe";
    public const int CurrentVersion = 1;
}

/// <summary>Which model the recipe is for and what made it.</summary>
/// <param name="WeightsHash">The model's <c>CheckpointMetadata.ContentHash</c>: a recipe applies to these weights only.</param>
/// <param name="Dataset">The dataset the model was trained on.</param>
/// <param name="Layers">Every prunable layer with its weight's shape, in table order: what apply compares first.</param>
/// <param name="ToolVersion">The CompressionLab version that wrote the recipe.</param>
/// <param name="Lineage">How the model was made from another (fine-tuned, distilled, thinned); null for a model trained from scratch.</param>
public sealed record RecipeProvenance(
    string Architecture,
    string WeightsHash,
    string? ModelName,
    string Dataset,
    IReadOnlyList<RecipeLayer> Layers,
    string ToolVersion,
    DateTimeOffset CreatedAt,
    RecipeLineage? Lineage);

/// <summary>One prunable layer of the model: its name and its weight's shape.</summary>
public sealed record RecipeLayer(string Name, IReadOnlyList<long> WeightShape);

/// <summary>The checkpoint's lineage: the operation that made the model and its parent.</summary>
public sealed record RecipeLineage(string Operation, string ParentWeightsHash, string? ParentName);

/// <summary>The measurements the recipe was made from, all on <see cref="Images"/>.</summary>
/// <param name="Baseline">The model as it is (float, no mask).</param>
/// <param name="Result">The model with the recipe applied: the masks, then simulated INT8 when there is a quantization section.</param>
public sealed record RecipeResults(RecipeImages Images, RecipeMeasurement Baseline, RecipeMeasurement Result, RecipeSize Dense, RecipeSize Compressed);

/// <summary>Which images: <c>AnalysisSubset</c>'s stratified subset of a dataset's part, identified by its key (it holds a hash of the images).</summary>
public sealed record RecipeImages(string Dataset, string Part, int Count, string Key);

/// <summary>A measured accuracy, with the counts it is made of so that apply can compare to the image.</summary>
/// <param name="Top1">Fraction: <see cref="Correct"/> / <see cref="Samples"/>.</param>
/// <param name="CorrectPerClass">Images classified right, per true class in label order.</param>
public sealed record RecipeMeasurement(double Top1, int Correct, int Samples, IReadOnlyList<int> CorrectPerClass, double Top5, double Loss);

/// <summary>Counts of the network (conv and linear weight sparsity, parameters, multiply-accumulates per image, bytes four ways; <c>PlanSize</c>).</summary>
public sealed record RecipeSize(double Sparsity, long Parameters, long Macs, long DenseFloat32Bytes, long CsrFloat32Bytes, long DenseInt8Bytes, long CsrInt8Bytes);

/// <summary>A part of the recipe that is missing, and how to fill it.</summary>
public sealed record RecipeGap(string Section, string Message);

/// <summary>How the model is pruned.</summary>
/// <param name="Criterion"><c>element</c>, <c>filter</c>, or <c>mixed</c> when layers differ.</param>
/// <param name="Source"><c>plan</c> (a plan file on these weights) or <c>lineage</c> (the levels the model was fine-tuned at, read on its own weights).</param>
/// <param name="PlanHash"><c>PlanContent.Hash</c> of the levels: equal for plans that give the same masks.</param>
/// <param name="Layers">Every pruned layer (level above 0), in table order.</param>
/// <param name="FineTuning">Null when the model's lineage records no fine-tuning.</param>
public sealed record RecipePruning(
    string Criterion,
    string Source,
    string PlanHash,
    IReadOnlyList<RecipeStage> Stages,
    IReadOnlyList<RecipePrunedLayer> Layers,
    IReadOnlyList<RecipeExclusion> Exclusions,
    RecipeSchedule Schedule,
    RecipeFineTuning? FineTuning);

/// <summary>A stage of the plan: its layers, rate and method (<c>element</c>, <c>filter-l1</c>, <c>filter-l2</c>).</summary>
public sealed record RecipeStage(string Name, IReadOnlyList<string> Layers, double Rate, string Method);

/// <summary>
/// One pruned layer: its level, and the mask it gives on the recipe's weights — the threshold (a unit whose score is below
/// it is pruned; the score is |w| for element, the filter's L1 or L2 norm for filter methods), how many units that prunes,
/// and a hash of the pruned units so that apply can tell the very same mask.
/// </summary>
/// <param name="Units">Weights (element) or output filters (filter) of the layer.</param>
/// <param name="PrunedUnits">Units the mask prunes: <c>PruningRanking.PrunedCount(level, units)</c>.</param>
/// <param name="Threshold">The score of the first unit kept: every pruned unit scores at most it, every kept one at least.</param>
/// <param name="TiesAtThreshold">Units scoring exactly the threshold are split between pruned and kept (the lower index is pruned first).</param>
/// <param name="MaskSha256">Lower-case hex SHA-256 of the pruned unit indices, ascending, as little-endian int32.</param>
public sealed record RecipePrunedLayer(
    string Name,
    string? Stage,
    string Method,
    double Level,
    int Units,
    int PrunedUnits,
    double Threshold,
    bool TiesAtThreshold,
    string MaskSha256);

/// <summary>A layer left dense, and why.</summary>
public sealed record RecipeExclusion(string Layer, string Reason);

/// <summary>
/// How the levels are reached: <c>one-shot</c> (the masks at once) or <c>agp</c> (Zhu &amp; Gupta's cubic from
/// <see cref="InitialSparsity"/> to each layer's level, masks updated <see cref="UpdatesPerEpoch"/> times an epoch,
/// final levels at <see cref="RampShare"/> of the run).
/// </summary>
public sealed record RecipeSchedule(string Kind, int? Epochs, int? UpdatesPerEpoch, double? RampShare, double? InitialSparsity);

/// <summary>The masked fine-tuning the model's lineage records (the trainer's AdamW with a one-cycle learning rate).</summary>
public sealed record RecipeFineTuning(
    string ParentWeightsHash,
    string? ParentName,
    string Schedule,
    int Epochs,
    double PeakLearningRate,
    string Optimizer,
    string LearningRateSchedule,
    int? BatchSize,
    double? WeightDecay,
    bool? HorizontalFlip,
    int? Seed);

/// <summary>The distillation the model (or its parent) was trained with, from the checkpoint's lineage.</summary>
/// <param name="StudentWeightsHash">The distilled model's weights: the recipe's model or its parent.</param>
/// <param name="Teachers">The teachers' weights hashes (several: an ensemble).</param>
/// <param name="Objective"><c>soft</c>, <c>soft+hard</c> or <c>mse</c>.</param>
/// <param name="ObjectiveKey">The lineage's words for the objective, as recorded.</param>
public sealed record RecipeDistillation(
    string StudentWeightsHash,
    IReadOnlyList<string> Teachers,
    string Objective,
    double Temperature,
    double Alpha,
    bool ScaleByT2,
    bool AverageOverFlips,
    int? Epochs,
    string ObjectiveKey);

/// <summary>
/// Simulated INT8: the calibrated clip of every quantized layer's input, the per-output-channel weight scales, and the
/// layers kept in float. Weights are symmetric per channel; an input with no negative value is on the unsigned grid.
/// </summary>
/// <param name="Calibration">Which weights and images the thresholds were calibrated on.</param>
/// <param name="ChoiceKey">The choice in <c>QuantizationChoice.Key</c>'s words.</param>
/// <param name="Layers">Every layer of the model, in table order (kept-float ones too).</param>
public sealed record RecipeQuantization(
    int Bits,
    string Mode,
    bool PerChannelWeights,
    string Method,
    string ChoiceKey,
    bool QuantizeLogits,
    IReadOnlyList<string> FloatLayers,
    RecipeCalibrationSource Calibration,
    IReadOnlyList<RecipeQuantizedLayer> Layers);

/// <summary>The calibration a quantization section comes from.</summary>
public sealed record RecipeCalibrationSource(string WeightsHash, string Dataset, string Subset, int Images);

/// <summary>One layer's quantization: kept in float, or its input's clip, its weight's channel scales and (for the output layer, when asked) its output's clip.</summary>
public sealed record RecipeQuantizedLayer(
    string Name,
    bool KeptFloat,
    string? Method,
    RecipeClip? Input,
    IReadOnlyList<RecipeChannelScale>? WeightChannels,
    RecipeClip? Output);

/// <summary>
/// A tensor's clip and grid: <c>q = clamp(round(x/scale) + zero_point)</c> on [−127, 127] (symmetric) or [0, 255]
/// (unsigned, asymmetric); the grid is a function of grid, min and max, and scale and zero point must agree with it.
/// </summary>
public sealed record RecipeClip(string Method, string Grid, double Min, double Max, double Amax, double Scale, int ZeroPoint, double? ClippedFraction, double? SqnrDb);

/// <summary>One output channel's symmetric weight grid: amax = max |w| of the (folded) channel, scale = amax / 127.</summary>
public sealed record RecipeChannelScale(double Amax, double Scale, int ZeroPoint);
