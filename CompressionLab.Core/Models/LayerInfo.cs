namespace CompressionLab.Core.Models;

public enum LayerKind { Conv, Linear }

/// <summary>One prunable layer (conv or linear) of a model, as the engine sees it.</summary>
/// <param name="Name">Stable module path, e.g. <c>stage1.conv1</c> or <c>classifier.fc</c>.</param>
/// <param name="WeightShape">[out, in, kh, kw] for conv, [out, in] for linear.</param>
/// <param name="OutputHeight">Height of this layer's output feature map (1 for linear).</param>
/// <param name="Stage">Group of layers sharing an output feature-map size (pruning plans set one rate per stage).</param>
/// <param name="Parameters">Weight plus bias elements of this layer.</param>
/// <param name="MacsPerSample">Multiply-accumulates of this layer for one input image.</param>
/// <param name="BlockIndex">Index of the block that contains this layer; blocks before it are unaffected by pruning it.</param>
public sealed record LayerInfo(
    string Name,
    LayerKind Kind,
    IReadOnlyList<long> WeightShape,
    int OutputHeight,
    int OutputWidth,
    string Stage,
    long Parameters,
    long MacsPerSample,
    int BlockIndex)
{
    public string WeightName => Name + ".weight";
    public long OutputChannels => WeightShape[0];
    public string ShapeText => string.Join("×", WeightShape);
}
