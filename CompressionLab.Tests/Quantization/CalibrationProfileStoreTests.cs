using CompressionLab.Core.Models;
using CompressionLab.Core.Quantization;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Workspace;

namespace CompressionLab.Tests.Quantization;

[Collection(SerialCollection.Name)]
public class CalibrationProfileStoreTests
{
    internal static void AssertSameProfile(CalibrationProfile expected, CalibrationProfile actual)
    {
        Assert.Equal((expected.Architecture, expected.WeightsHash, expected.Dataset, expected.SubsetKey, expected.Images, expected.CollectSeconds),
            (actual.Architecture, actual.WeightsHash, actual.Dataset, actual.SubsetKey, actual.Images, actual.CollectSeconds));
        Assert.Equal(expected.Layers.Count, actual.Layers.Count);
        foreach (var (e, a) in expected.Layers.Zip(actual.Layers))
        {
            Assert.Equal((e.Layer, e.Kind, e.InputNonNegative, e.IsOutputLayer), (a.Layer, a.Kind, a.InputNonNegative, a.IsOutputLayer));
            Assert.Equal(e.ChannelMin, a.ChannelMin);
            Assert.Equal(e.ChannelMax, a.ChannelMax);
            foreach (var role in new[] { TensorRole.Input, TensorRole.Output, TensorRole.Weight })
            {
                var (te, ta) = (e.Tensor(role), a.Tensor(role));
                Assert.Equal((te.Layer, te.Role), (ta.Layer, ta.Role));
                Assert.Equal(te.Statistics.State() with { Shape = [] }, ta.Statistics.State() with { Shape = [] });
                Assert.Equal(te.Statistics.Shape, ta.Statistics.Shape);
                Assert.Equal((te.Statistics.AvgMin, te.Statistics.AvgMax, te.Statistics.Std), (ta.Statistics.AvgMin, ta.Statistics.AvgMax, ta.Statistics.Std));
                Assert.Equal((ta.Layer, role.Text()), (ta.Statistics.Layer, ta.Statistics.Tensor));
                foreach (var (he, ha) in new[] { (te.Magnitude, ta.Magnitude), (te.Signed, ta.Signed) })
                {
                    Assert.Equal((he.Mode, he.Lower, he.BinWidth, he.Total, he.ValueMin, he.ValueMax, he.DomainMin, he.DomainMax),
                        (ha.Mode, ha.Lower, ha.BinWidth, ha.Total, ha.ValueMin, ha.ValueMax, ha.DomainMin, ha.DomainMax));
                    Assert.Equal(he.Counts, ha.Counts);
                    Assert.Equal((ta.Layer, role.Text()), (ha.Layer, ha.Tensor));
                }
            }
        }
    }

    [Fact]
    public void StoredProfileLoadsEqualToTheCollectedOneUnderItsKeyOnly()
    {
        using var workspace = new TempWorkspace();
        var database = workspace.OpenDatabase();
        database.EnsureMigrated();
        var store = new CalibrationProfileStore(database);

        using var network = FoldedNetworkTests.RandomModel(ModelZoo.VggTiny, 2);
        var subset = AnalysisSubset.Validation(TestData.FashionMnist, 24);
        var profile = CalibrationCollector.Collect(network, "abc123", "fashion-mnist", subset, batchSize: 10);
        var key = CalibrationProfileKey.Of(profile);
        Assert.Null(store.Find(key));

        store.Save(profile, Guid.NewGuid());
        AssertSameProfile(profile, store.Find(key)!);
        // A reopened database reads the same.
        var reopened = new CalibrationProfileStore(workspace.OpenDatabase());
        AssertSameProfile(profile, reopened.Find(key)!);
        Assert.Null(store.Find(key with { Subset = "validation/stratified-25/000000000000" }));
        Assert.Null(store.Find(key with { ModelHash = "other" }));
        Assert.Equal([key], store.List("abc123"));

        // Saving the same key again replaces the row.
        store.Save(profile with { CollectSeconds = 99 });
        Assert.Equal(99, store.Find(key)!.CollectSeconds);
        Assert.Single(store.List("abc123"));
    }

    [Fact]
    public void ARestoredProfileGoesOnAccumulatingLikeTheOriginal()
    {
        using var network = FoldedNetworkTests.RandomModel(ModelZoo.Lenet5, 9);
        var subset = AnalysisSubset.Validation(TestData.FashionMnist, 12);
        var profile = CalibrationCollector.Collect(network, "h", "d", subset);
        var copy = CalibrationProfileCodec.Read(CalibrationProfileCodec.Write(profile));
        using var batch = TorchSharp.torch.randn(3, 50) * 40;
        var original = profile.Layers[2].Input;
        var restored = copy.Layers[2].Input;
        original.Statistics.Add(batch);
        restored.Statistics.Add(batch);
        original.Signed.Add(batch);
        restored.Signed.Add(batch);
        Assert.Equal(original.Statistics.State() with { Shape = [] }, restored.Statistics.State() with { Shape = [] });
        Assert.Equal(original.Signed.Counts, restored.Signed.Counts);
        Assert.Throws<InvalidDataException>(() => CalibrationProfileCodec.Read([1, 2, 3]));
    }
}
