using System.Collections.Concurrent;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Web.Components.Pages.Pruning;

/// <summary>One row of the thinning table: the dense model or one way of thinning the plan.</summary>
/// <param name="RoundTo">Null for the dense model; 1 for the exact thinning.</param>
/// <param name="Channels">Output channels of each thinned layer, in layer order.</param>
/// <param name="Speedup">Measured dense time over this one's; null for the dense model.</param>
/// <param name="MacRatio">Dense MACs over this one's; null for the dense model.</param>
public sealed record ThinningRow(string Choice, int? RoundTo, IReadOnlyList<int> Channels, long Parameters, long Macs, double Top1, double? Speedup, double? MacRatio);

/// <summary>
/// The Pruning plan page's thinning section without a renderer: whether the plan in the editor can be thinned, the
/// comparison job (exact against rounded to a multiple of 8: channels, size, measured top-1, speed-up against the MAC
/// ratio), and saving either as a new workspace model. Threading as <see cref="PruningPageModel"/>.
/// </summary>
public sealed class ThinningSectionModel : IDisposable
{
    private readonly IJobScheduler scheduler;
    private readonly ThinningJobs thinning;
    private readonly ConcurrentQueue<JobUpdate> updates = new();
    private readonly IDisposable subscription;
    private readonly List<ThinningSaveResult> saved = [];
    private ThinningComparisonRequest? compared;

    public ThinningSectionModel(IJobScheduler scheduler, ThinningJobs thinning, Action updatesWaiting)
    {
        this.scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        this.thinning = thinning ?? throw new ArgumentNullException(nameof(thinning));
        ArgumentNullException.ThrowIfNull(updatesWaiting);
        subscription = scheduler.Subscribe(update =>
        {
            if (update.Job.Kind is ThinningComparisonJob.Kind or ThinningComparisonJob.SaveKind)
            {
                updates.Enqueue(update);
                updatesWaiting();
            }
        });
        var unfinished = scheduler.List().Where(j => !j.IsFinished).OrderBy(j => j.CreatedAt).ToArray();
        Comparison = unfinished.LastOrDefault(j => j.Kind == ThinningComparisonJob.Kind);
        if (Comparison is not null) compared = ReadRequest(Comparison);
        Saving = unfinished.LastOrDefault(j => j.Kind == ThinningComparisonJob.SaveKind);
    }

    /// <summary>The rounded choice rounds each layer's kept channels up to a multiple of this.</summary>
    public int RoundTo { get; } = ThinningComparisonRequest.DefaultRoundTo;

    public JobSnapshot? Comparison { get; private set; }

    public ThinningComparisonResult? Result { get; private set; }

    /// <summary>The dense model, then each choice, once the comparison is done.</summary>
    public IReadOnlyList<ThinningRow> Rows { get; private set; } = [];

    /// <summary>The names of the thinned layers (the table's channel columns).</summary>
    public IReadOnlyList<string> Layers { get; private set; } = [];

    public JobSnapshot? Saving { get; private set; }

    /// <summary>Models stored from this page's comparisons, oldest first.</summary>
    public IReadOnlyList<ThinningSaveResult> Saved => saved;

    /// <summary>Why the plan in the editor cannot be thinned (it prunes layers by element, or removes no filter); null when it can.</summary>
    public static string? Problem(IReadOnlyList<PlanLayerRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var pruned = rows.Where(r => !r.Planned.Excluded && r.Planned.Level > 0).ToArray();
        if (pruned.Length == 0) return "The plan removes no filter yet: set a stage to filter pruning and raise its rate.";
        var element = pruned.Where(r => r.Planned.Method.Criterion != PruningCriterion.Filter).Select(r => r.Name).ToArray();
        return element.Length == 0 ? null :
            $"Thinning needs a filter plan: it removes whole filters, but {string.Join(", ", element)} {(element.Length == 1 ? "is" : "are")} pruned by element " +
            "(single weights cannot be cut out of a dense layer). Choose filter-l1 or filter-l2 for every pruned stage.";
    }

    /// <summary>Queues the comparison of the plan thinned exactly and rounded, on the plan evaluation's images.</summary>
    public (JobSnapshot? Job, string? Error) Compare(ModelRecord? model, PruningPlan? plan, IReadOnlyList<PlanLayerRow> rows, IReadOnlyList<PlanProblem> problems, string? dataset, int subsetSize)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(problems);
        if (model is null || plan is null) return (null, "Choose a model first.");
        if (problems is [var first, ..]) return (null, $"Fix the plan first: {first.Message}");
        if (Problem(rows) is { } problem) return (null, problem);
        if (Comparison is { IsFinished: false }) return (null, "A thinning comparison is already running.");
        var request = new ThinningComparisonRequest(new StoredModel(model.Id), plan, dataset, subsetSize, RoundTo);
        try
        {
            Comparison = thinning.StartComparison(request);
            compared = request;
            Result = null;
            Rows = [];
            return (Comparison, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>Queues storing the compared plan thinned by <paramref name="roundTo"/> (1: exactly) as a new workspace model.</summary>
    public (JobSnapshot? Job, string? Error) Save(int roundTo)
    {
        if (compared is null || Result is null) return (null, "Compare the thinnings first.");
        if (Saving is { IsFinished: false }) return (null, "A thin model is already being saved.");
        try
        {
            Saving = thinning.StartSave(new ThinningSaveRequest(compared.Model, compared.Plan, roundTo, compared.Dataset));
            return (Saving, null);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return (null, e.Message);
        }
    }

    public bool Cancel(JobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return scheduler.Cancel(job.Id);
    }

    /// <summary>Applies the job updates that arrived. Returns (a failure to show once or null, whether a model was stored).</summary>
    public (string? Error, bool ModelStored) ApplyUpdates()
    {
        string? error = null;
        var stored = false;
        while (updates.TryDequeue(out var update))
        {
            var job = update.Job;
            if (job.Id == Comparison?.Id)
            {
                Comparison = job;
                if (job is { State: JobState.Succeeded, ResultJson: { } json } && Result is null) Take(ThinningComparisonResult.FromJson(json));
            }
            else if (job.Id == Saving?.Id)
            {
                Saving = job;
                if (job is { State: JobState.Succeeded, ResultJson: { } json } && saved.All(s => s.WeightsHash != ThinningSaveResult.FromJson(json).WeightsHash))
                {
                    saved.Add(ThinningSaveResult.FromJson(json));
                    stored = true;
                }
            }
            else
            {
                continue;
            }
            if (job.State == JobState.Failed) error = job.Error;
        }
        return (error, stored);
    }

    public void Dispose() => subscription.Dispose();

    private void Take(ThinningComparisonResult result)
    {
        Result = result;
        var first = result.Choices[0];
        Layers = [.. first.Layers.Select(l => l.Name)];
        Rows =
        [
            new ThinningRow("dense", null, [.. first.Layers.Select(l => l.Before)], result.DenseParameters, result.DenseMacs, result.DenseTop1, null, null),
            .. result.Choices.Select(c => new ThinningRow(c.Name, c.RoundTo, [.. c.Layers.Select(l => l.After)], c.Parameters, c.Macs, c.Top1, c.Speedup, c.MacRatio)),
        ];
    }

    private static ThinningComparisonRequest? ReadRequest(JobSnapshot job)
    {
        try
        {
            return ModelJobJson.Read<ThinningComparisonRequest>(job.ParametersJson);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
