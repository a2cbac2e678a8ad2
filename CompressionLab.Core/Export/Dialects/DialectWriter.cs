using CompressionLab.Core.Quantization;

namespace CompressionLab.Core.Export.Dialects;

/// <summary>One file of the dialect bundle: its name in the output folder, the tool it is for, its text.</summary>
public sealed record DialectFile(string Name, string Tool, string Text);

/// <summary>
/// The field's dialects of one plan (and calibration), written beside our own recipe: Distiller's compression schedule,
/// its post-training quantization block and activation statistics, a SparseML recipe, NNI config lists, and the PyTorch
/// twin's definition whose module names they all use (docs/dialects.md).
/// </summary>
public static class DialectWriter
{
    public const string PyTorchModelFile = "pytorch_model.py";
    public const string DistillerScheduleFile = "distiller_schedule.yaml";
    public const string DistillerQuantizationFile = "distiller_ptq.yaml";
    public const string DistillerStatsFile = "distiller_activation_stats.yaml";
    public const string SparseMlFile = "sparseml_recipe.yaml";

    /// <summary>Every file's text (nothing is written): a pure function of the inputs.</summary>
    public static IReadOnlyList<DialectFile> Files(DialectInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        inputs.Schedule.Validate();
        var files = new List<DialectFile>
        {
            new(PyTorchModelFile, "PyTorch", inputs.Names.PythonSource()),
            new(DistillerScheduleFile, "Distiller", DistillerSchedule.Write(inputs)),
            new(SparseMlFile, "SparseML", SparseMlRecipe.Write(inputs)),
        };
        files.AddRange(NniConfigList.Write(inputs).Select(list => new DialectFile(NniConfigList.FileName(list.Pruner), $"NNI {list.Pruner}", list.Json)));
        if (inputs.Quantization is { } quantization)
        {
            files.Add(new(DistillerQuantizationFile, "Distiller", DistillerQuantization.Write(inputs, quantization.Statistics is null ? null : DistillerStatsFile)));
            if (quantization.Statistics is { } statistics)
            {
                // Distiller looks modules up by their names in the model it quantizes: the twin's, not ours.
                var renamed = statistics.Select(s => s with { Layer = inputs.Names.Module(s.Layer) }).ToArray();
                files.Add(new(DistillerStatsFile, "Distiller", QuoteLayerNames(DistillerStatsYaml.Write(renamed))));
            }
        }
        return files;
    }

    /// <summary>
    /// The statistics file's module names single-quoted: a bare <c>0:</c> is the integer 0 to PyYAML, and Distiller looks the
    /// modules up by their string names. Only a module name starts a line at column 0.
    /// </summary>
    private static string QuoteLayerNames(string yaml) => string.Join('\n', yaml.Split('\n')
        .Select(line => line.Length > 1 && line[0] != ' ' && line.EndsWith(':') ? DialectYaml.Quote(line[..^1]) + ":" : line));

    /// <summary>Writes <see cref="Files"/> into <paramref name="directory"/> (created if needed, files replaced) and returns their full paths.</summary>
    public static IReadOnlyList<string> Write(DialectInputs inputs, string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var files = Files(inputs);
        Directory.CreateDirectory(directory);
        var paths = new List<string>(files.Count);
        foreach (var file in files)
        {
            var path = Path.GetFullPath(Path.Combine(directory, file.Name));
            File.WriteAllText(path, file.Text);
            paths.Add(path);
        }
        return paths;
    }
}
