using System.Globalization;
using System.Text;
using System.Text.Json;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CompressionLab.Core.Distillation;

/// <summary>A stage whose output a FitNets hint regresses: where it ends in the student and in the teacher, and its maps.</summary>
/// <param name="StudentEnd">The student's first block after the stage (its output is that block's input).</param>
/// <param name="TeacherEnd">The same in the teacher.</param>
public sealed record HintStage(string Name, int StudentEnd, int TeacherEnd, long StudentChannels, long TeacherChannels, long Height, long Width);

/// <summary>Which stage outputs of a student and a teacher can be hinted: stages of the same name with maps of the same size.</summary>
public static class HintStages
{
    /// <summary>
    /// Every stage of <paramref name="network"/> whose output is a map (not the classifier's vector), in order, with the
    /// block it ends before and its [channels, height, width] from one forward pass of a blank image.
    /// </summary>
    public static IReadOnlyList<(string Stage, int End, long[] Shape)> Outputs(ClassifierNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var ends = new List<(string Stage, int End)>();
        foreach (var block in network.Blocks)
        {
            var stage = block.Modules[0].Name[..block.Modules[0].Name.IndexOf('.', StringComparison.Ordinal)];
            if (ends.Count > 0 && ends[^1].Stage == stage) ends[^1] = (stage, block.Index + 1);
            else ends.Add((stage, block.Index + 1));
        }
        var outputs = new List<(string, int, long[])>();
        var wasTraining = network.training;
        network.eval(); // a blank image must not move BatchNorm's running statistics
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var x = zeros(1, 1, network.InputHeight, network.InputWidth);
            var from = 0;
            foreach (var (stage, end) in ends)
            {
                x = network.ForwardRange(from, end, x);
                from = end;
                if (x.dim() == 4) outputs.Add((stage, end, x.shape[1..]));
            }
        }
        finally
        {
            if (wasTraining) network.train();
        }
        return outputs;
    }

    /// <summary>
    /// The stages to hint: <paramref name="wanted"/> (null: every stage both networks have with maps of the same height and
    /// width). A stage one of them lacks, or whose maps differ in size, is refused naming both networks' stages.
    /// </summary>
    /// <exception cref="InvalidRequestException">For <c>HintStages</c>.</exception>
    public static IReadOnlyList<HintStage> Plan(ClassifierNetwork student, ClassifierNetwork teacher, IReadOnlyList<string>? wanted)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        var s = Outputs(student);
        var t = Outputs(teacher);
        static string Describe(IEnumerable<(string Stage, int End, long[] Shape)> stages) =>
            string.Join(", ", stages.Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Stage} {x.Shape[0]}×{x.Shape[1]}×{x.Shape[2]}")));
        string Both() => $"the student {student.Architecture} has {(s.Count == 0 ? "no stage with maps" : Describe(s))}; the teacher {teacher.Architecture} has {(t.Count == 0 ? "no stage with maps" : Describe(t))}";
        HintStage? Match(string name)
        {
            var a = s.FirstOrDefault(x => x.Stage == name);
            var b = t.FirstOrDefault(x => x.Stage == name);
            if (a.Shape is null || b.Shape is null || a.Shape[1] != b.Shape[1] || a.Shape[2] != b.Shape[2]) return null;
            return new HintStage(name, a.End, b.End, a.Shape[0], b.Shape[0], a.Shape[1], a.Shape[2]);
        }
        var plan = new List<HintStage>();
        if (wanted is null)
        {
            plan.AddRange(s.Select(x => Match(x.Stage)).OfType<HintStage>());
            if (plan.Count == 0)
                throw new InvalidRequestException(nameof(DistillationSettings.HintStages), $"No stage to hint: a hint needs a stage of the same name with maps of the same size in both; {Both()}.");
            return plan;
        }
        foreach (var name in wanted.Select(n => n.Trim()).Distinct())
        {
            plan.Add(Match(name) ?? throw new InvalidRequestException(nameof(DistillationSettings.HintStages),
                $"Stage '{name}' cannot be hinted: a hint needs a stage of that name with maps of the same size in both; {Both()}."));
        }
        return [.. plan.OrderBy(p => p.StudentEnd)];
    }
}

/// <summary>FitNets' regressors: one 1×1 conv per hinted stage from the student's channels to the teacher's. Not part of the student.</summary>
public sealed class HintRegressors : nn.Module
{
    private readonly List<Conv2d> _convs = [];

    public HintRegressors(IReadOnlyList<HintStage> stages) : base("hint-regressors")
    {
        ArgumentNullException.ThrowIfNull(stages);
        foreach (var stage in stages)
        {
            var conv = nn.Conv2d(stage.StudentChannels, stage.TeacherChannels, 1);
            register_module(stage.Name, conv);
            _convs.Add(conv);
        }
    }

    /// <summary>The regressors in the order of the stages they were made for.</summary>
    public IReadOnlyList<Conv2d> Convs => _convs;

    public byte[] Save()
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) save(writer);
        return buffer.ToArray();
    }

    public void Load(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes, writable: false), Encoding.UTF8);
        load(reader, strict: true);
    }
}

/// <summary>
/// FitNets hints as <see cref="Trainer"/> runs them. Each step runs the student stage by stage, keeping the hinted stages'
/// outputs, and the teacher (eval mode, BatchNorm folded, no gradient) up to its last hinted stage on the same augmented
/// batch: unlike the logits, the maps are too big to keep per image and mirror (vgg-small's stage 1 alone is 24×14×14 floats
/// an image), so the teacher runs per step. The hint loss is the mean over the hinted stages of MSE(regressor(student map),
/// teacher map). Added to the loss: soft + hard + β·hint, every parameter trained. As a first phase: the hint loss alone,
/// training the student's stages up to the last hinted one and the regressors. The regressors are in the optimizer and, as
/// this constraint's state, in the run's saved state; they are dropped with the objective.
/// </summary>
public sealed class HintObjective : IModuleTrainingObjective, ITrainingConstraint, IDisposable
{
    private readonly DistillationSettings _settings;
    private readonly TeacherTargets? _targets;
    private readonly FoldedForward _teacher;
    private readonly bool _firstPhase;
    private readonly string _identity;
    private readonly List<Tensor> _studentMaps = [];

    /// <param name="targets">The teacher's soft targets for the soft + hard terms; null in the first phase (hints alone).</param>
    /// <param name="student">Only read for its stage layout; the regressors are made here (they draw from the global generator).</param>
    public HintObjective(DistillationSettings settings, ClassifierNetwork teacher, ClassifierNetwork student, TeacherTargets? targets, bool firstPhase,
        string teacherHash, string? startHash = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        if (!firstPhase && targets is null) throw new ArgumentNullException(nameof(targets), "The soft + hard terms need the teacher's targets.");
        _settings = settings;
        _targets = targets;
        _firstPhase = firstPhase;
        Stages = HintStages.Plan(student, teacher, settings.HintStages);
        Regressors = new HintRegressors(Stages);
        _teacher = new FoldedForward(teacher);
        _identity = $"distillation {settings.Key}{(firstPhase ? " phase=hints" : "")} from {teacherHash}{(startHash is null ? "" : $" into {startHash}")}";
    }

    public IReadOnlyList<HintStage> Stages { get; }

    public HintRegressors Regressors { get; }

    public string Identity => _identity;

    public IEnumerable<Parameter> TrainedParameters(ClassifierNetwork model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!_firstPhase) return model.parameters().Concat(Regressors.parameters());
        // The hint phase trains what the hint loss reaches: the stages up to the last hinted one.
        var last = Stages.Max(s => s.StudentEnd);
        var reached = model.Blocks.Take(last).SelectMany(b => b.Modules).Select(m => m.Name[..m.Name.IndexOf('.', StringComparison.Ordinal)]).ToHashSet();
        return model.named_parameters().Where(p => reached.Contains(p.name[..p.name.IndexOf('.', StringComparison.Ordinal)])).Select(p => p.parameter)
            .Concat(Regressors.parameters());
    }

    public Tensor Forward(ClassifierNetwork model, Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(model);
        _studentMaps.Clear();
        var x = inputs;
        var from = 0;
        foreach (var stage in Stages)
        {
            x = model.ForwardRange(from, stage.StudentEnd, x);
            _studentMaps.Add(x);
            from = stage.StudentEnd;
        }
        return model.ForwardFrom(from, x);
    }

    public Tensor Loss(TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (_studentMaps.Count != Stages.Count || batch.Inputs is null)
            throw new InvalidOperationException("The hint loss needs this objective's forward pass of the batch and its inputs.");
        using var scope = NewDisposeScope();
        var teacherMaps = new List<Tensor>();
        using (no_grad())
        {
            var x = batch.Inputs;
            var from = 0;
            foreach (var stage in Stages)
            {
                x = _teacher.ForwardRange(from, stage.TeacherEnd, x);
                teacherMaps.Add(x);
                from = stage.TeacherEnd;
            }
        }
        var hint = HintLoss([.. Stages.Select((_, i) => (_studentMaps[i], teacherMaps[i], Regressors.Convs[i].weight!, Regressors.Convs[i].bias))]);
        _studentMaps.Clear();
        Tensor loss;
        if (_firstPhase)
        {
            loss = hint;
        }
        else
        {
            using var teacher = _targets!.For(batch.Indices, batch.Flipped);
            loss = _settings.BatchLoss(batch.Logits, teacher, batch.Targets) + (hint * _settings.HintWeight);
        }
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The hint loss: the mean over stages of MSE(conv1×1(student map; weight, bias), teacher map), each MSE the mean over
    /// the batch, channels and positions.
    /// </summary>
    public static Tensor HintLoss(IReadOnlyList<(Tensor Student, Tensor Teacher, Tensor Weight, Tensor? Bias)> stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (stages.Count == 0) throw new ArgumentException("At least one hinted stage.", nameof(stages));
        using var scope = NewDisposeScope();
        Tensor? sum = null;
        foreach (var (student, teacher, weight, bias) in stages)
        {
            // In a process that promised channels-last convs only (TorchRuntime.ChannelsLastConvolutionsOnly), oneDNN's
            // AVX-512 NCHW convs may be wrong: the map goes in channels-last (it already is from the zoo's forward; the
            // copy is for a map that is not, e.g. one given by a caller).
            using var input = TorchRuntime.ChannelsLastConvolutionsOnly && student.dim() == 4 && student.shape[1] > 1 && !ChannelsLast.Is(student)
                ? ChannelsLast.Of(student)
                : student.alias();
            var regressed = nn.functional.conv2d(input, weight, bias);
            var mse = nn.functional.mse_loss(regressed, teacher);
            sum = sum is null ? mse : sum + mse;
        }
        return (sum! / stages.Count).MoveToOuterDisposeScope();
    }

    public void BeforeBatch(long step, optim.Optimizer optimizer) { }

    public void BeforeOptimizerStep(long step, optim.Optimizer optimizer) { }

    public void AfterOptimizerStep(long step, optim.Optimizer optimizer) { }

    /// <summary>The regressors' weights (a few thousand floats for vgg stages), base64 in the state's header.</summary>
    public JsonElement SaveState() => JsonSerializer.SerializeToElement(new { regressors = Convert.ToBase64String(Regressors.Save()) });

    public void RestoreState(JsonElement saved, optim.Optimizer optimizer)
    {
        if (saved.ValueKind != JsonValueKind.Object || !saved.TryGetProperty("regressors", out var value) || value.GetString() is not { } text)
            throw new InvalidDataException("it holds no hint regressors");
        try
        {
            Regressors.Load(Convert.FromBase64String(text));
        }
        catch (Exception e) when (e is FormatException or ArgumentException or EndOfStreamException)
        {
            throw new InvalidDataException($"the hint regressors do not fit these stages ({e.Message})", e);
        }
    }

    public void Dispose()
    {
        _teacher.Dispose();
        Regressors.Dispose();
    }
}
