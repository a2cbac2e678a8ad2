using System.Buffers.Binary;
using System.Text;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Models;
using CompressionLab.Tests.Pruning;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Export;

/// <summary>The safetensors writer against bytes worked out by hand, and a zoo network's state dict read back under PyTorch's names.</summary>
[Collection(SerialCollection.Name)] // RandomZooModel seeds TorchSharp's global generator
public sealed class SafetensorsTests
{
    [Fact]
    public void TwoTensorsGiveTheBytesTheFormatDescribes()
    {
        using var floats = tensor(new[] { 1.0f, -2.0f });
        using var count = tensor(7L);
        using var stream = new MemoryStream();
        Safetensors.Write(stream, [("a.weight", floats), ("a.n", count)], new Dictionary<string, string> { ["format"] = "pt" });

        const string json = """{"__metadata__":{"format":"pt"},"a.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a.n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}""";
        var padded = 152; // 147 characters of JSON, then 5 spaces to the next multiple of 8
        Assert.Equal(147, json.Length);
        var expected = new List<byte>();
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        expected.AddRange(length);
        expected.AddRange(Encoding.UTF8.GetBytes(json.PadRight(padded)));
        expected.AddRange([0x00, 0x00, 0x80, 0x3F]); // 1.0f
        expected.AddRange([0x00, 0x00, 0x00, 0xC0]); // -2.0f
        expected.AddRange([7, 0, 0, 0, 0, 0, 0, 0]);
        Assert.Equal(expected.ToArray(), stream.ToArray());
        Assert.Equal(0, (8 + padded) % 8);
    }

    [Fact]
    public void TheHeaderIsPaddedWithSpacesToAMultipleOfEight()
    {
        using var one = tensor(new[] { 3.5f });
        using var stream = new MemoryStream();
        Safetensors.Write(stream, [("x", one)]);
        var bytes = stream.ToArray();
        var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, length % 8);
        var header = Encoding.UTF8.GetString(bytes, 8, length);
        Assert.Equal("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", header.TrimEnd(' '));
        Assert.Equal(3.5f, BitConverter.ToSingle(bytes, 8 + length));
    }

    [Fact]
    public void AZooNetworksStateDictReadsBackUnderPyTorchNamesWithItsData()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("clab-safetensors-").FullName, "vgg.safetensors");
        try
        {
            using var network = PruningTestModels.RandomZooModel(ModelZoo.VggTiny, seed: 5);
            var written = PyTorchStateDict.Write(network, path, metadata: new Dictionary<string, string> { ["source_weights_hash"] = "abc" });
            var bytes = File.ReadAllBytes(path);
            var header = Safetensors.ReadHeader(bytes);
            var names = PyTorchNames.Of(network);
            var state = network.state_dict();

            Assert.Equal(bytes.LongLength, written.Bytes);
            Assert.Equal(names.Parameters.Select(p => p.Name), header.Entries.Select(e => e.Name)); // file order = state-dict order
            Assert.Equal("vgg-tiny", header.Metadata["architecture"]);
            Assert.Equal("sequential", header.Metadata["naming"]);
            Assert.Equal("pt", header.Metadata["format"]);
            Assert.Equal("abc", header.Metadata["source_weights_hash"]);
            Assert.False(header.Metadata.ContainsKey("widths"));
            Assert.Equal(0, header.DataStart % 8);
            foreach (var parameter in names.Parameters)
            {
                var entry = header.Entries.Single(e => e.Name == parameter.Name);
                var source = state[parameter.Source];
                Assert.Equal(source.shape, entry.Shape);
                if (source.dtype == ScalarType.Int64)
                {
                    Assert.Equal("I64", entry.DataType);
                    Assert.Equal(source.item<long>(), BitConverter.ToInt64(bytes, (int)(header.DataStart + entry.Begin)));
                }
                else
                {
                    Assert.Equal("F32", entry.DataType);
                    Assert.Equal(source.data<float>().ToArray(), Safetensors.Floats(bytes, header, entry));
                }
            }
            Assert.Equal("1.running_mean", names.Parameters.Single(p => p.Source == "stage1.bn1.running_mean").Name);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void AThinnedNetworkRecordsItsWidths()
    {
        using var stream = new MemoryStream();
        var path = Path.Combine(Directory.CreateTempSubdirectory("clab-safetensors-").FullName, "thin.safetensors");
        try
        {
            using var thin = ModelZoo.Create(ModelZoo.VggTiny, widths: new Dictionary<string, int> { ["stage2.conv2"] = 8 });
            PyTorchStateDict.Write(thin, path, PyTorchNaming.Nested);
            var header = Safetensors.ReadHeader(File.ReadAllBytes(path));
            Assert.Contains("\"stage2.conv2\":8", header.Metadata["widths"], StringComparison.Ordinal);
            Assert.Equal([8L, 16, 3, 3], header.Entries.Single(e => e.Name == "stage2.conv2.weight").Shape);
            Assert.Equal([24L, 8, 3, 3], header.Entries.Single(e => e.Name == "stage3.conv1.weight").Shape); // reads the 8 channels kept
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void ATruncatedOrInconsistentFileIsRefusedSayingWhere()
    {
        using var floats = tensor(new[] { 1.0f, 2.0f, 3.0f });
        using var stream = new MemoryStream();
        Safetensors.Write(stream, [("w", floats)]);
        var bytes = stream.ToArray();

        Assert.Contains("follow the header", Assert.Throws<InvalidDataException>(() => Safetensors.ReadHeader(bytes[..^4])).Message, StringComparison.Ordinal);
        Assert.Contains("8-byte", Assert.Throws<InvalidDataException>(() => Safetensors.ReadHeader(bytes[..5])).Message, StringComparison.Ordinal);
        var lying = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(lying, 1UL << 40);
        Assert.Contains("declares", Assert.Throws<InvalidDataException>(() => Safetensors.ReadHeader(lying)).Message, StringComparison.Ordinal);
    }
}
