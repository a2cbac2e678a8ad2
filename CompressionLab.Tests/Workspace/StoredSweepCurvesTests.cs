using CompressionLab.Core.Pruning;
using CompressionLab.Core.Workspace;

namespace CompressionLab.Tests.Workspace;

/// <summary>Sweep cells of the workspace read back as the curves a plan is predicted and allocated from.</summary>
public sealed class StoredSweepCurvesTests : IDisposable
{
    private static readonly SweepIdentity Identity = new("hash-a", "fashion-mnist", "validation/stratified-100/abc");
    private readonly TempWorkspace _workspace = new();
    private readonly SqliteSweepCellStore _cells;

    public StoredSweepCurvesTests() => _cells = new SqliteSweepCellStore(_workspace.OpenDatabase());

    public void Dispose() => _workspace.Dispose();

    private void Save(SweepIdentity identity, string criterion, string layer, double level, double top1) =>
        _cells.Save(SweepCellKey.For(identity, criterion, layer, level), new SweepCell(layer, level, level, top1, 0.99, 0.5, 0.9 - top1));

    [Fact]
    public void CellsBecomeCurvesKeyedByLayerAndMethod()
    {
        var baseline = new SweepMetrics(0.9, 0.99, 0.3);
        _cells.Save(SweepCellKey.Baseline(Identity), SweepCell.From("", 0, 0, baseline, baseline));
        Save(Identity, "element", "fc1", 0.9, 0.6);
        Save(Identity, "element", "fc1", 0.5, 0.88); // any order: sorted by level
        Save(Identity, "element", "fc2", 0.5, 0.85);
        Save(Identity, "filter-l1", "fc1", 0.5, 0.7);
        Save(Identity, "filter-l2", "fc1", 0.5, 0.1); // not asked for
        Save(Identity with { ModelHash = "hash-b" }, "element", "fc2", 0.9, 0.1); // other weights
        Save(Identity with { BatchSize = 32 }, "element", "fc2", 0.9, 0.1); // another batch size

        var curves = StoredSweepCurves.Read(_cells, Identity, [PruningMethod.Element, PruningMethod.FilterL1, PruningMethod.Element])!;

        Assert.Equal(0.9, curves.BaselineTop1, 12);
        var fc1 = curves.CurveOf("fc1", PruningMethod.Element)!;
        Assert.Equal([(0, 0.9), (0.5, 0.88), (0.9, 0.6)], fc1.Points.Select(p => (p.Level, Math.Round(p.Top1, 12))));
        Assert.Equal(0.16, fc1.DropAt(0.7), 12); // halfway from 0.5 to 0.9: drops 0.02 and 0.30 give 0.16
        Assert.Equal([(0, 0.9), (0.5, 0.85)], curves.CurveOf("fc2", PruningMethod.Element)!.Points.Select(p => (p.Level, Math.Round(p.Top1, 12))));
        Assert.Equal(0.2, curves.CurveOf("fc1", PruningMethod.FilterL1)!.DropAt(0.5), 12);
        Assert.Null(curves.CurveOf("fc1", PruningMethod.FilterL2));
        Assert.Null(curves.CurveOf("fc2", PruningMethod.FilterL1));
        Assert.Equal(3, curves.Curves.Count);
    }

    [Fact]
    public void WithoutAStoredBaselineThereAreNoCurves()
    {
        Save(Identity, "element", "fc1", 0.5, 0.88);

        Assert.Null(StoredSweepCurves.Read(_cells, Identity, [PruningMethod.Element]));
    }

    [Fact]
    public void MissingListsThePrunedLayersWithoutACurveForTheirMethod()
    {
        var curves = new SweepCurves(Identity, 0.9, [SensitivityCurve.Create("a", PruningMethod.Element, 0.9, [new CurvePoint(0.5, 0.8)])]);
        var plan = new ResolvedPlan([
            new PlannedLayer("a", "s", 0.5, PruningMethod.Element, LevelSource.Stage),
            new PlannedLayer("b", "s", 0.5, PruningMethod.Element, LevelSource.Stage),
            new PlannedLayer("c", "s", 0, PruningMethod.Element, LevelSource.Stage),
            new PlannedLayer("a2", "s", 0, PruningMethod.Element, LevelSource.Excluded, "why"),
            new PlannedLayer("a", "t", 0.3, PruningMethod.FilterL1, LevelSource.Override),
        ]);

        Assert.Equal([("b", PruningMethod.Element), ("a", PruningMethod.FilterL1)], curves.Missing(plan).Select(l => (l.Layer, l.Method)));
    }
}
