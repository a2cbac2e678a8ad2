using System.CommandLine;
using CompressionLab.Core.Export.Dialects;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Quantization;

namespace CompressionLab.Cli.Commands;

/// <summary>
/// <c>export dialects --model FILE [--plan FILE | --rates LIST] [--epochs N] [--schedule agp|fixed] [--quant-method M
/// [--quant-mode MODE] [--stats-yaml FILE]] [--names sequential|nested] --out DIR [--json]</c>: the plan in Distiller's,
/// SparseML's and NNI's formats under the PyTorch twin's names (<see cref="DialectWriter"/>), with the twin's definition.
/// </summary>
public sealed class ExportDialectsCommand : CliCommand
{
    private readonly Option<string> _model = PlanInputs.Model();
    private readonly Option<string?> _plan = new("--plan") { Description = "a plan file (plan allocate --out); default: every stage at rate 0 with the output layer excluded, changed by --rates", HelpName = "FILE" };
    private readonly Option<string?> _rates = new("--rates") { Description = "levels per stage or layer, e.g. stage1=0.5,stage3.conv2=0.3 (applied to --plan or to the default plan)", HelpName = "LIST" };
    private readonly Option<string?> _criterion = PlanInputs.Criterion("criterion of the default plan's stages, element (default) or filter");
    private readonly Option<string?> _norm = PlanInputs.Norm();
    private readonly Option<int?> _epochs = RangedIntOption("--epochs", "fine-tuning epochs the schedules span (default 2, finetune's)", 1, TrainingRequest.MaxEpochs);
    private readonly Option<string?> _schedule = ExportOptions.Schedule();
    private readonly Option<string?> _quantMethod = new("--quant-method")
    {
        Description = "also write Distiller's PostTrainLinearQuantizer block and a SparseML QuantizationModifier, for this calibration method (max, avg, nstd:3, aciq-gauss, ...)",
        HelpName = "METHOD",
    };
    private readonly Option<string?> _quantMode = QuantInputs.Mode();
    private readonly Option<string?> _statsYaml = new("--stats-yaml") { Description = "Distiller activation statistics (calibrate --stats-yaml), written again under the PyTorch names", HelpName = "FILE" };
    private readonly Option<string?> _names = ExportOptions.Names();
    private readonly Option<string> _out = new("--out") { Description = "folder to write the files into (created if missing; files of the same names are replaced)", HelpName = "DIR", Required = true };
    private readonly Option<bool> _json = JsonOption();

    public ExportDialectsCommand() : base("dialects", "write a pruning plan as Distiller, SparseML and NNI files, under the module names of the same network in PyTorch")
    {
        foreach (var option in new Option[] { _model, _plan, _rates, _criterion, _norm, _epochs, _schedule, _quantMethod, _quantMode, _statsYaml, _names, _out, _json })
            Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Export;

    public override bool ComputesWithTorch => true;

    public override IReadOnlyDictionary<string, string> SettingOptions { get; } = new Dictionary<string, string>
    {
        [nameof(PruningScheduleSettings.Epochs)] = "--epochs",
        ["Schedule"] = "--schedule",
        [nameof(QuantizationChoice.Mode)] = "--quant-mode",
        [nameof(QuantizationChoice.Method)] = "--quant-method",
    };

    public override int Execute(ParseResult parse, CliContext context)
    {
        var model = PlanInputs.ModelFile(parse.GetRequiredValue(_model));
        var method = PlanInputs.Method(parse.GetValue(_criterion), parse.GetValue(_norm));
        var planFile = parse.GetValue(_plan);
        if (planFile is not null && method is not null) throw new UsageException("--criterion", "sets the default plan's method; a --plan file has its own");
        var plan = planFile is not null ? PlanInputs.ReadPlan(planFile, model).Plan : PruningPlan.Default(model.Layers, method ?? PruningMethod.Element);
        if (parse.GetValue(_rates) is { } rates) plan = PlanInputs.ApplyRates(plan, model, rates);
        var option = parse.GetValue(_rates) is not null ? "--rates" : planFile is not null ? "--plan" : "--model";
        if (plan.Problems(model.Layers) is { Count: > 0 } problems)
            throw new UsageException(option, CliApp.OneLine(string.Join(" ", problems.Select(p => p.Message))));
        var schedule = new PruningScheduleSettings(ExportOptions.ParseSchedule(parse.GetValue(_schedule)), parse.GetValue(_epochs) ?? 2);
        schedule.Validate();
        var quantization = Quantization(parse, model);
        var naming = ExportOptions.ParseNaming(parse.GetValue(_names));
        var folder = Path.GetFullPath(parse.GetRequiredValue(_out));
        WritableOutput.Folder("--out", folder);

        TorchRuntime.Configure();
        using var network = ModelZoo.Create(model.Metadata.Architecture, model.Metadata.ClassNames.Count, model.Metadata.InputHeight, model.Metadata.InputWidth, model.Metadata.Widths);
        var inputs = DialectInputs.For(network, plan, schedule, quantization, naming, $"{Path.GetFileName(model.Source.Path)}, weights {model.Metadata.ContentHash[..12]}");
        var files = DialectWriter.Write(inputs, folder);
        context.Err.WriteLine($"{model.Metadata.Architecture}: {DialectPruners.Of(inputs.Plan).Count} pruner(s), {schedule.Describe()}");
        if (parse.GetValue(_json)) CliJson.WriteLine(context.Out, new ExportDialectsJson(files, folder, naming.ToString().ToLowerInvariant()));
        else foreach (var file in files) context.Out.WriteLine(file);
        return CliApp.Success;
    }

    private DialectQuantization? Quantization(ParseResult parse, PlanModelFile model)
    {
        var (method, mode, stats) = (parse.GetValue(_quantMethod), parse.GetValue(_quantMode), parse.GetValue(_statsYaml));
        if (method is null)
        {
            if (mode is not null) throw new UsageException("--quant-mode", "goes with --quant-method");
            if (stats is not null) throw new UsageException("--stats-yaml", "goes with --quant-method");
            return null;
        }
        var choice = QuantizationChoice.Parse(mode ?? "symmetric", method);
        IReadOnlyList<DistillerLayerStats>? statistics = null;
        if (stats is not null)
        {
            try
            {
                statistics = DistillerStatsYaml.Read(File.ReadAllText(stats));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                throw new InputFileException("--stats-yaml", CliApp.OneLine(e.Message), e);
            }
            var known = model.Layers.Select(l => l.Name).ToHashSet();
            if (statistics.FirstOrDefault(s => !known.Contains(s.Layer)) is { } stranger)
                throw new InputFileException("--stats-yaml", $"names layer '{stranger.Layer}', which {model.Metadata.Architecture} does not have (its layers: {string.Join(", ", known)})");
        }
        return new DialectQuantization(choice, statistics);
    }
}

/// <summary>
/// <c>export state-dict --model FILE --out FILE.safetensors [--names sequential|nested] [--python FILE] [--json]</c>: the
/// checkpoint's weights as a PyTorch state dict under the twin's names (<see cref="PyTorchStateDict"/>).
/// </summary>
public sealed class ExportStateDictCommand : CliCommand
{
    private readonly Option<string> _model = PlanInputs.Model();
    private readonly Option<string> _out = new("--out") { Description = "the safetensors file to write", HelpName = "FILE", Required = true };
    private readonly Option<string?> _names = ExportOptions.Names();
    private readonly Option<string?> _python = new("--python") { Description = "also write the PyTorch definition (build()) whose names the state dict uses", HelpName = "FILE" };
    private readonly Option<bool> _json = JsonOption();

    public ExportStateDictCommand() : base("state-dict", "write a checkpoint's weights as a PyTorch state dict (safetensors) under PyTorch module names")
    {
        foreach (var option in new Option[] { _model, _out, _names, _python, _json }) Options.Add(option);
    }

    public override CommandGroup Group => CommandGroup.Export;

    public override bool ComputesWithTorch => true;

    public override int Execute(ParseResult parse, CliContext context)
    {
        var modelPath = parse.GetRequiredValue(_model);
        var model = PlanInputs.ModelFile(modelPath);
        var output = WritableOutput.File("--out", parse.GetRequiredValue(_out), "--model", model.Source.Path);
        var python = parse.GetValue(_python) is { } p ? WritableOutput.File("--python", p, "--model", model.Source.Path) : null;
        var naming = ExportOptions.ParseNaming(parse.GetValue(_names));

        TorchRuntime.Configure();
        Checkpoint checkpoint;
        try
        {
            checkpoint = Checkpoint.Load(model.Source.Path);
        }
        catch (CheckpointException e)
        {
            throw new InputFileException("--model", CliApp.OneLine(e.Message), e);
        }
        using (checkpoint)
        {
            var written = PyTorchStateDict.Write(checkpoint.Model, output, naming, new Dictionary<string, string>
            {
                ["source_weights_hash"] = checkpoint.Metadata.ContentHash,
                ["dataset"] = checkpoint.Metadata.Dataset,
            });
            if (python is not null) File.WriteAllText(python, PyTorchNames.Of(checkpoint.Model, naming).PythonSource());
            context.Err.WriteLine($"{written.Architecture}: {written.Tensors.Count} tensors, {written.Bytes:N0} bytes, {naming.ToString().ToLowerInvariant()} names");
            if (parse.GetValue(_json))
                CliJson.WriteLine(context.Out, new ExportStateDictJson(written.Path, written.Architecture, naming.ToString().ToLowerInvariant(), written.Tensors.Count, written.Bytes, python,
                    checkpoint.Metadata.ContentHash));
            else context.Out.WriteLine(written.Path);
        }
        return CliApp.Success;
    }
}

/// <summary>Options the export commands share.</summary>
internal static class ExportOptions
{
    public static Option<string?> Names()
    {
        var option = new Option<string?>("--names")
        {
            Description = "PyTorch names: sequential (default; one flat nn.Sequential, module i is \"i\") or nested (our own names, stage1.conv1)",
            HelpName = "sequential|nested",
        };
        option.AcceptOnlyFromAmong("sequential", "nested");
        return option;
    }

    public static Option<string?> Schedule()
    {
        var option = new Option<string?>("--schedule") { Description = "agp (default: gradual from dense, as finetune) or fixed", HelpName = "agp|fixed" };
        option.AcceptOnlyFromAmong("agp", "fixed");
        return option;
    }

    public static PyTorchNaming ParseNaming(string? text) => text == "nested" ? PyTorchNaming.Nested : PyTorchNaming.Sequential;

    public static FineTuneSchedule ParseSchedule(string? text) => text is null ? FineTuneSchedule.Agp : MaskSchedule.Parse(text);
}

/// <summary><c>export dialects --json</c>.</summary>
internal sealed record ExportDialectsJson(IReadOnlyList<string> Files, string Out, string Names);

/// <summary><c>export state-dict --json</c>.</summary>
internal sealed record ExportStateDictJson(string Out, string Architecture, string Names, int Tensors, long Bytes, string? Python, string SourceWeightsHash);
