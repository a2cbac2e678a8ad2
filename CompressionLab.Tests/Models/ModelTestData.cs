using CompressionLab.Core.Data;
using CompressionLab.Core.Models;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

/// <summary>Small fixtures shared by the model tests.</summary>
internal static class ModelTestData
{
    /// <summary>The first <paramref name="count"/> real Fashion-MNIST training images.</summary>
    public static LabeledImages FashionTrain(int count) => TestData.FashionMnist.Train.Take(count);

    /// <summary>The first <paramref name="count"/> real Fashion-MNIST test images.</summary>
    public static LabeledImages FashionTest(int count) => TestData.FashionMnist.Test.Take(count);

    /// <summary>
    /// Writes to <paramref name="path"/> the real state of a lenet-300-100 run of <paramref name="epochs"/> epochs on 64
    /// Fashion-MNIST images, stopped after <paramref name="epochsDone"/> of them (what an interrupted training job leaves).
    /// </summary>
    public static TrainingState WriteInterruptedRun(string path, int epochsDone, int epochs, int seed = 1)
    {
        TrainingState? saved = null;
        manual_seed(seed);
        using var model = ModelZoo.Create(ModelZoo.Lenet300100);
        using var stop = new CancellationTokenSource();
        var settings = TrainingSettings.ForArchitecture(ModelZoo.Lenet300100) with { Epochs = epochs, BatchSize = 32, Seed = seed };
        try
        {
            Trainer.Train(model, FashionTrain(64), settings, cancellationToken: stop.Token, epochFinished: state =>
            {
                if (state.EpochsDone != epochsDone) return;
                state.Save(path);
                saved = state;
                stop.Cancel();
            });
        }
        catch (OperationCanceledException) when (saved is not null)
        {
            // Stopped on purpose after the epoch that was saved.
        }
        return saved ?? throw new InvalidOperationException($"The run never finished epoch {epochsDone}.");
    }

    /// <summary>
    /// Images of 2×2 pixels whose first pixel is the image's index (0, 1, 2, ...), so a model can tell
    /// which image it is looking at; the other pixels are 0.
    /// </summary>
    public static LabeledImages IndexedImages(byte[] labels, int classCount)
    {
        var pixels = new byte[labels.Length * 4];
        for (var i = 0; i < labels.Length; i++) pixels[i * 4] = (byte)i;
        var names = Enumerable.Range(0, classCount).Select(c => $"class{c}").ToArray();
        return new LabeledImages("indexed", pixels, labels, 2, 2, names);
    }
}

/// <summary>
/// A "model" that returns a fixed row of logits per image of <see cref="ModelTestData.IndexedImages"/>:
/// it undoes the input normalisation to read the index from the first pixel. Its results are known by hand.
/// </summary>
internal sealed class LogitTableModel : nn.Module<Tensor, Tensor>
{
    private readonly Tensor _table;

    public LogitTableModel(float[,] table) : base("logit-table")
    {
        _table = tensor(table);
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var pixel = input.select(1, 0).select(1, 0).select(1, 0);
        var index = pixel.mul(CompressionLab.Core.Data.ImageNormalization.Std).add(CompressionLab.Core.Data.ImageNormalization.Mean)
            .mul(255).round().to_type(ScalarType.Int64);
        return _table.index_select(0, index).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _table.Dispose();
        base.Dispose(disposing);
    }
}
