using MudBlazor;

namespace CompressionLab.Web.Components.Layout;

/// <summary>One area of the dashboard as the navigation shows it.</summary>
/// <param name="Summary">One sentence on what a person does there.</param>
public sealed record DashboardArea(string Title, string Href, string Icon, string Summary);

/// <summary>The areas in the order of the compression workflow.</summary>
public static class DashboardAreas
{
    public static readonly DashboardArea ModelsAndData = new(
        "Models & data", "/", Icons.Material.Filled.Dataset,
        "See which datasets were found and where, train or import a model, and evaluate it with a confusion matrix.");

    public static readonly DashboardArea Sensitivity = new(
        "Sensitivity", "/sensitivity", Icons.Material.Filled.ShowChart,
        "Prune one layer at a time at many sparsity levels and compare the layers' accuracy curves.");

    public static readonly DashboardArea PruningPlan = new(
        "Pruning plan", "/pruning", Icons.Material.Filled.ContentCut,
        "Set pruning rates per stage with per-layer overrides and see predicted and measured accuracy, parameters and MACs.");

    public static readonly DashboardArea Distillation = new(
        "Distillation", "/distillation", Icons.Material.Filled.School,
        "Compare the teacher's and the student's soft targets across temperature and distil the student.");

    public static readonly DashboardArea Quantization = new(
        "Quantization", "/quantization", Icons.Material.Filled.Tune,
        "Preview INT8 clipping thresholds per layer on activation histograms and the simulated INT8 accuracy.");

    public static readonly DashboardArea Recipe = new(
        "Recipe", "/recipe", Icons.Material.Filled.Description,
        "Export the compression recipe and the compressed model so the result can be reproduced.");

    public static readonly DashboardArea Jobs = new(
        "Jobs", "/jobs", Icons.Material.Filled.WorkHistory,
        "Follow every running and finished job, its progress and errors, and cancel what is still running.");

    public static IReadOnlyList<DashboardArea> All { get; } =
        [ModelsAndData, Sensitivity, PruningPlan, Distillation, Quantization, Recipe, Jobs];
}
