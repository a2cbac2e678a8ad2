using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace CompressionLab.Core.Export;

/// <summary>
/// Appends nodes and initializers to one ONNX graph (the protobuf types of the ONNX spec, from the OnnxSharp package,
/// serialised by Google.Protobuf) with unique tensor names. Knows ONNX, not networks: the exporters say what to add.
/// </summary>
internal sealed class OnnxGraphWriter
{
    /// <summary>Opset 13: the first with per-axis QuantizeLinear/DequantizeLinear (FORMATS.md, "Exported model (ONNX)").</summary>
    public const int Opset = 13;

    /// <summary>IR version 7 is the one that goes with opset 13.</summary>
    public const long IrVersion = 7;

    private readonly GraphProto _graph = new();
    private readonly HashSet<string> _names = [];

    public OnnxGraphWriter(string name) => _graph.Name = name;

    /// <summary>A name not used yet in the graph: <paramref name="name"/> itself, else with a numeric suffix.</summary>
    public string Unique(string name)
    {
        var candidate = name;
        for (var i = 1; !_names.Add(candidate); i++) candidate = $"{name}_{i}";
        return candidate;
    }

    /// <summary>A float32 graph input with a symbolic first (batch) dimension.</summary>
    public string Input(string name, string batchDimension, params long[] fixedDimensions)
    {
        _graph.Input.Add(Value(Unique(name), DataType.Float, batchDimension, fixedDimensions));
        return name;
    }

    public void Output(string tensor, string batchDimension, params long[] fixedDimensions) =>
        _graph.Output.Add(Value(tensor, DataType.Float, batchDimension, fixedDimensions));

    public string Float(string name, long[] dims, ReadOnlySpan<float> values) => Initializer(name, DataType.Float, dims, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));

    public string Int8(string name, long[] dims, ReadOnlySpan<sbyte> values) => Initializer(name, DataType.Int8, dims, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));

    public string UInt8(string name, long[] dims, ReadOnlySpan<byte> values) => Initializer(name, DataType.Uint8, dims, values);

    public string Int32(string name, long[] dims, ReadOnlySpan<int> values) => Initializer(name, DataType.Int32, dims, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));

    /// <summary>A scalar float initializer.</summary>
    public string Scalar(string name, float value) => Float(name, [], [value]);

    /// <summary>Adds a node; returns the name of its (first) output, made unique from <paramref name="output"/>.</summary>
    public string Node(string opType, string name, IReadOnlyList<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Unique($"{name}/{opType}") };
        node.Input.AddRange(inputs);
        var outputName = Unique(output);
        node.Output.Add(outputName);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return outputName;
    }

    /// <summary>Adds a node whose output has a name fixed by the caller (the graph's output).</summary>
    public void NodeInto(string opType, string name, IReadOnlyList<string> inputs, string output, params AttributeProto[] attributes)
    {
        if (!_names.Add(output)) throw new InvalidOperationException($"The ONNX graph already has a tensor named '{output}'.");
        var node = new NodeProto { OpType = opType, Name = Unique($"{name}/{opType}") };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
    }

    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto FloatAttribute(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>The finished model: opset <see cref="Opset"/> of the default domain, with the producer and <paramref name="metadata"/>.</summary>
    public ModelProto Model(string docString, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "CompressionLab",
            ProducerVersion = typeof(OnnxGraphWriter).Assembly.GetName().Version?.ToString() ?? "",
            DocString = docString,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    private string Initializer(string name, DataType type, long[] dims, ReadOnlySpan<byte> raw)
    {
        var unique = Unique(name);
        // raw_data is little-endian by the ONNX spec, as is every platform .NET and ORT run on here.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian; this machine is not.");
        var tensor = new TensorProto { Name = unique, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        tensor.Dims.AddRange(dims);
        _graph.Initializer.Add(tensor);
        return unique;
    }

    private static ValueInfoProto Value(string name, DataType type, string batchDimension, long[] fixedDimensions)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = batchDimension });
        foreach (var d in fixedDimensions) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
