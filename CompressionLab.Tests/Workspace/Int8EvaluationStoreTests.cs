using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Tests.Workspace;

public sealed class Int8EvaluationStoreTests : IDisposable
{
    private readonly TempWorkspace _workspace = new();

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public void SavedMeasurementsAreFoundByTheirWholeKeyAndTheNewestWins()
    {
        var store = new Int8EvaluationStore(_workspace.OpenDatabase());
        var key = new Int8EvaluationKey("hash", "fashion-mnist", "validation/stratified-512/aa", "test/stratified-10000/bb", "symmetric mse; logits float");
        var at = new DateTimeOffset(2026, 12, 7, 21, 0, 0, TimeSpan.Zero);
        Assert.Null(store.Find(key));
        store.Save(new StoredInt8Evaluation(key, "vgg-small", new Int8Measurement(0.92, 0.99, 0.2, 10_000, 25), null, at));
        var job = Guid.NewGuid();
        store.Save(new StoredInt8Evaluation(key, "vgg-small", new Int8Measurement(0.925, 0.995, 0.21, 10_000, 24), job, at.AddMinutes(1)));

        var found = store.Find(key);
        Assert.NotNull(found);
        Assert.Equal(new Int8Measurement(0.925, 0.995, 0.21, 10_000, 24), found.Measured);
        Assert.Equal(job, found.JobId);
        Assert.Equal(at.AddMinutes(1), found.CreatedAt);

        // Any part of the key differing is another measurement.
        Assert.Null(store.Find(key with { Configuration = "symmetric max; logits float" }));
        Assert.Null(store.Find(key with { CalibrationSubset = "validation/stratified-256/cc" }));
        Assert.Null(store.Find(key with { EvaluationSubset = "validation/stratified-2000/dd" }));
        Assert.Null(store.Find(key with { ModelHash = "other" }));
        Assert.Single(store.List("hash"));
        Assert.Empty(store.List("other"));
    }
}
