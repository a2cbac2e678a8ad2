using System.Diagnostics;
using CompressionLab.Core.Data;
using CompressionLab.Core.Distillation;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Pruning;
using CompressionLab.Web.Components.Pages.Distillation;
using Xunit.Abstractions;

namespace CompressionLab.Tests.Web;

/// <summary>
/// The Distillation page's compare section without a renderer, over a real temporary workspace holding two random
/// lenet-300-100 checkpoints labelled for the synthetic dataset and, for most tests, hand-made logits in its cache.
/// </summary>
[Collection(Models.SerialCollection.Name)]
public sealed class DistillationPageModelTests : IDisposable
{
    public const int Images = 200;

    private readonly PageWorkspace workspace = new();
    private readonly FakeJobScheduler scheduler = new();
    private readonly LogitsStore logits;
    private readonly DistillationJobs jobs;
    private readonly ITestOutputHelper output;

    public DistillationPageModelTests(ITestOutputHelper output)
    {
        this.output = output;
        logits = new LogitsStore(workspace.Workspace.OpenDatabase());
        jobs = new DistillationJobs(scheduler, workspace.Catalog, workspace.Store, logits, workspace.States);
        (Teacher, Student) = SeedModels(workspace.Store, workspace.Workspace.Root);
    }

    internal ModelRecord Teacher { get; }

    internal ModelRecord Student { get; }

    public void Dispose() => workspace.Dispose();

    /// <summary>Two random lenet-300-100 for the synthetic dataset in the workspace: the "teacher" (top-1 0.9) and the "student" (0.5).</summary>
    internal static (ModelRecord Teacher, ModelRecord Student) SeedModels(ModelStore store, string folder)
    {
        ModelRecord Import(string name, int seed, double top1)
        {
            using var network = PruningTestModels.RandomZooModel(ModelZoo.Lenet300100, seed);
            var file = Path.Combine(folder, $"{name}.ckpt");
            Checkpoint.Save(network, file, SyntheticDataset.Name, SyntheticDataset.ClassNames, top1);
            return CheckpointImport.Import(store, file, name).Model;
        }
        return (Import("teacher", 11, 0.9), Import("student", 12, 0.5));
    }

    /// <summary>
    /// Hand-made logits on the first <see cref="Images"/> validation images of the synthetic dataset, cached for both models:
    /// the teacher puts 2 on the true class (0 elsewhere), the student 0.5 on the true class except on row 7, where it puts 3 on
    /// class (label + 1) mod 10 — the one image where their top-1 differ.
    /// </summary>
    internal static void SeedLogits(LogitsStore store, DatasetCatalog catalog, ModelRecord teacher, ModelRecord student)
    {
        var subset = AnalysisSubset.Validation(catalog.Load(SyntheticDataset.Name), Images);
        var labels = subset.Images.Labels.Select(l => (int)l).ToArray();
        var t = new float[Images * 10];
        var s = new float[Images * 10];
        for (var row = 0; row < Images; row++)
        {
            t[(row * 10) + labels[row]] = 2;
            if (row == 7) s[(row * 10) + ((labels[row] + 1) % 10)] = 3;
            else s[(row * 10) + labels[row]] = 0.5f;
        }
        store.Save(new ModelLogits("teacher", Checkpoint.ReadMetadata(teacher.FilePath).ContentHash, subset.Key, Images, 10, t, labels), SyntheticDataset.Name);
        store.Save(new ModelLogits("student", Checkpoint.ReadMetadata(student.FilePath).ContentHash, subset.Key, Images, 10, s, labels), SyntheticDataset.Name);
    }

    private DistillationPageModel Open() => new(scheduler, workspace.Store, jobs, () => { });

    /// <summary>The teacher's p(T) of the true class for logits (2, 0 × 9), by hand: e^(2/T) / (e^(2/T) + 9).</summary>
    private static double TeacherTrue(double t) => Math.Exp(2 / t) / (Math.Exp(2 / t) + 9);

    /// <summary>p(T) of the class holding logit <paramref name="z"/> when the other nine hold 0.</summary>
    private static double Peak(double z, double t) => Math.Exp(z / t) / (Math.Exp(z / t) + 9);

    /// <summary>Mean KL(teacher ‖ student) of <see cref="SeedLogits"/> by hand: 199 rows alike, and row 7.</summary>
    private static double HandKl(double t)
    {
        var p = TeacherTrue(t);
        var pr = (1 - p) / 9;
        var qs = Peak(0.5, t);
        var qsr = (1 - qs) / 9;
        var alike = (p * Math.Log(p / qs)) + (9 * pr * Math.Log(pr / qsr));
        var q1 = Peak(3, t);
        var q0 = (1 - q1) / 9;
        var row7 = (p * Math.Log(p / q0)) + (pr * Math.Log(pr / q1)) + (8 * pr * Math.Log(pr / q0));
        return ((199 * alike) + row7) / 200;
    }

    [Fact]
    public void PicksTheMostAccurateModelAsTeacherAndTheLeastAsStudentWithHintonsGrid()
    {
        using var page = Open();
        Assert.Equal(SyntheticDataset.Name, page.Dataset);
        Assert.Equal([Teacher.Id], page.Teachers);
        Assert.Equal(Student.Id, page.Student);
        Assert.Equal([1, 2, 3, 4, 6, 8, 12, 16, 20], page.Grid);
        Assert.Equal(4, page.Temperature);
        Assert.Equal(2000, page.SubsetSize);
        Assert.Null(page.Shown);
    }

    [Fact]
    public void WithCachedLogitsComputeIsInstantAndMatchesHandValuesAtEveryT()
    {
        SeedLogits(logits, workspace.Catalog, Teacher, Student);
        using var page = Open();
        page.SubsetSize = Images;

        var (job, error) = page.Compute();

        Assert.Null(error);
        Assert.Null(job);
        Assert.Empty(scheduler.List()); // read from the workspace: no job
        Assert.NotNull(page.Shown);
        Assert.Equal(page.Grid.Count, page.Points.Count);
        Assert.Equal(SyntheticDataset.ClassNames, page.ClassNames);
        foreach (var point in page.Points)
        {
            var p = TeacherTrue(point.Temperature);
            var q = (1 - p) / 9;
            // Teacher entropy and KL by hand; the student's top-1 is the true class on all rows but row 7.
            Assert.Equal(-(p * Math.Log(p)) - (9 * q * Math.Log(q)), point.TeacherEntropy, 9);
            Assert.Equal(199.0 / 200, point.Agreement, 12);
            Assert.Equal(HandKl(point.Temperature), point.Kl, 9);
            Assert.Equal(point.Kl * point.Temperature * point.Temperature, point.KlT2, 9);
        }
        // Class similarity at T: each true class's row is its teacher soft target (p on the diagonal), in percent.
        Assert.Equal(TeacherTrue(4) * 100, page.Similarity[3][3], 9);
        Assert.All(page.Similarity, row => Assert.Equal(100, row.Sum(), 9));
    }

    [Fact]
    public void MovingTheSliderChangesTheBarsTheMarkersAndTheHeatmapButNotTheImage()
    {
        SeedLogits(logits, workspace.Catalog, Teacher, Student);
        using var page = Open();
        page.SubsetSize = Images;
        page.Compute();
        var bars = page.Bars!;
        var curves = page.Curves;
        Assert.Equal(4, curves.Count);
        Assert.Equal(4, Marker(curves[1]).X[0]);
        Assert.Equal(page.Current!.Kl, Marker(curves[1]).Y[0]);
        Assert.Equal(TeacherTrue(4), bars.Teacher[bars.Label], 12);

        page.SetTemperatureIndex(0); // T = 1

        Assert.Equal(1, page.Temperature);
        Assert.Equal(TeacherTrue(1), page.Bars!.Teacher[page.Bars.Label], 12);
        Assert.Equal(Peak(0.5, 1), page.Bars.Student[page.Bars.Label], 12);
        Assert.Equal(1, Marker(page.Curves[1]).X[0]);
        Assert.Equal(page.Points[0].Kl, Marker(page.Curves[1]).Y[0]);
        Assert.Equal(page.Points[0].TeacherEntropy, page.Curves[0].Series[2].Y[0]);
        Assert.Equal(TeacherTrue(1) * 100, page.Similarity[0][0], 9);
        Assert.Equal(0, page.Row);
        // The curves themselves do not move with T: the same grid, the same values.
        Assert.Equal(curves[1].Series[0].Y, page.Curves[1].Series[0].Y);
    }

    [Fact]
    public void StepsThroughImagesAndJumpsToTheOneWhereTeacherAndStudentDisagree()
    {
        SeedLogits(logits, workspace.Catalog, Teacher, Student);
        using var page = Open();
        page.SubsetSize = Images;
        page.Compute();
        Assert.NotNull(page.Shown!.Images);
        Assert.Equal(Images, page.Shown.Images!.Count);

        page.Previous();
        Assert.Equal(Images - 1, page.Row); // wraps around
        page.Next();
        page.Next();
        Assert.Equal(1, page.Row);

        page.NextDisagreeing();

        Assert.Equal(7, page.Row);
        Assert.Equal(1, page.DisagreeingRank);
        var image = page.Image!;
        Assert.NotEqual(image.TeacherTop1, image.StudentTop1);
        Assert.Equal((image.Label + 1) % 10, image.StudentTop1);
        page.NextDisagreeing();
        Assert.NotEqual(7, page.Row);
        Assert.Equal(2, page.DisagreeingRank);
    }

    [Fact]
    public void ABadTemperatureIsRefusedInPlaceAndTheGridInUseStays()
    {
        SeedLogits(logits, workspace.Catalog, Teacher, Student);
        using var page = Open();
        page.SubsetSize = Images;
        page.Compute();

        Assert.False(page.SetGridText("1, 2, -3"));

        Assert.Contains("'-3' is not a temperature", page.GridError);
        Assert.Equal("1, 2, -3", page.GridText);
        Assert.Equal(9, page.Points.Count);
        var (_, error) = page.Compute();
        Assert.Contains("Fix the temperatures first", error);

        Assert.True(page.SetGridText("0.5, 5, 2"));

        Assert.Null(page.GridError);
        Assert.Equal([0.5, 2, 5], page.Grid);
        Assert.Equal(5, page.Temperature); // nearest to the 4 it was at
        Assert.Equal([0.5, 2, 5], page.Points.Select(p => p.Temperature));
        Assert.Equal([0.5, 2, 5], page.Curves[0].Series[0].X);
    }

    [Fact]
    public async Task WithoutCachedLogitsComputeQueuesTheJobWhoseResultOpensTheComparison()
    {
        using var page = Open();
        page.SubsetSize = 64;

        var (job, error) = page.Compute();

        Assert.Null(error);
        Assert.NotNull(job);
        Assert.Equal(SoftTargetJob.Kind, job!.Kind);
        Assert.True(page.IsComputing);
        var final = await scheduler.RunAsync(job.Id);
        Assert.Equal(JobState.Succeeded, final.State);
        page.ApplyUpdates();

        Assert.NotNull(page.Shown);
        Assert.Equal(64, page.Shown!.Comparison.Rows);
        Assert.Equal(9, page.Points.Count);
        // Both models' logits are now in the workspace: computing again is instant.
        using var again = Open();
        again.SubsetSize = 64;
        Assert.Equal((null, null), again.Compute());
        Assert.NotNull(again.Shown);
        Assert.Single(scheduler.List());
    }

    [Fact]
    public void RefusesAComparisonWithoutTeacherOrWithTheStudentAsTeacher()
    {
        using var page = Open();
        page.SetTeacher(Teacher.Id, false);
        Assert.Equal("Choose at least one teacher.", page.Compute().Error);
        page.SetTeacher(Student.Id, true);
        Assert.Contains("cannot be one of its teachers", page.Compute().Error);
        Assert.Empty(scheduler.List());
    }

    /// <summary>
    /// The server-side work of one slider move on 2,000 images (lookup of the grid's numbers, one image's soft targets,
    /// the curves with their markers and the heatmap): median and 95th percentile of 200 moves, and what computing one
    /// new T from the logits costs (what a grid change costs per T). Must stay under 100 ms.
    /// </summary>
    [Fact]
    public void ASliderMoveOn2000ImagesCostsWellUnder100Milliseconds()
    {
        var subset = AnalysisSubset.Validation(workspace.Catalog.Load(SyntheticDataset.Name), 2000);
        var random = new Random(5);
        ModelLogits Random(string name) => new(name, name, subset.Key, 2000, 10,
            [.. Enumerable.Range(0, 20000).Select(_ => (float)((random.NextDouble() * 20) - 10))], [.. subset.Images.Labels.Select(l => (int)l)]);
        var comparison = new SoftTargetComparison([Random("t")], Random("s"));
        using var page = Open();
        page.Show(new OpenComparison(new SoftTargetJobResult([new ComparedModel("t", "t")], new ComparedModel("s", "s"), SyntheticDataset.Name, subset.Key, 2000, 0, 0),
            comparison, SyntheticDataset.ClassNames, subset.Images));

        var moves = new double[200];
        for (var i = 0; i < moves.Length; i++)
        {
            var clock = Stopwatch.StartNew();
            page.SetTemperatureIndex(i % page.Grid.Count);
            _ = page.Bars;
            _ = GrayImage.DataUrl(subset.Images, page.Row);
            moves[i] = clock.Elapsed.TotalMilliseconds;
        }
        var fresh = new double[20];
        for (var i = 0; i < fresh.Length; i++)
        {
            var clock = Stopwatch.StartNew();
            comparison.At(1.5 + i);
            fresh[i] = clock.Elapsed.TotalMilliseconds;
        }
        var gridClock = Stopwatch.StartNew();
        page.SetGridText("1,2,3,4,6,8,12,16,20");
        var grid = gridClock.Elapsed.TotalMilliseconds;
        Array.Sort(moves);
        Array.Sort(fresh);
        output.WriteLine($"slider move (2,000 images): median {moves[100]:F3} ms, p95 {moves[190]:F3} ms, max {moves[^1]:F3} ms");
        output.WriteLine($"one new T from the logits (2,000 images): median {fresh[10]:F2} ms, p95 {fresh[19]:F2} ms; whole 9-T grid {grid:F1} ms");
        Assert.True(moves[190] < 100, $"p95 of a slider move is {moves[190]:F1} ms");
        Assert.True(fresh[19] < 100, $"p95 of a new T is {fresh[19]:F1} ms");
    }

    private static CompressionLab.Web.Components.Charts.LineSeries Marker(TemperatureCurve curve) => curve.Series.Last(s => s.MarkersOnly);
}
