namespace CompressionLab.Core.Recipes;

/// <summary>
/// Another tool's file written beside the recipe from its content (Distiller's compression schedule, a SparseML recipe,
/// NNI's config_list, ...): <see cref="RecipeExportJob"/> writes every registered dialect into the output folder.
/// </summary>
public interface IRecipeDialect
{
    /// <summary>The file name in the output folder, e.g. <c>distiller-schedule.yaml</c>.</summary>
    string FileName { get; }

    /// <summary>The file's text; null when the recipe has nothing this dialect can say (no pruning for a pruning-only format, say).</summary>
    string? Write(CompressionRecipe recipe);
}

/// <summary>The dialects a recipe export writes beside <c>recipe.yaml</c> and <c>recipe.json</c>, in this order.</summary>
public static class RecipeDialects
{
    /// <summary>
    /// The seam for Core/Export/Dialects: add each dialect writer here (Distiller schedule and PostTrainLinearQuantizer,
    /// SparseML, NNI config_list). Empty until they land; the export then writes only the recipe itself.
    /// </summary>
    public static IReadOnlyList<IRecipeDialect> All { get; } = [];
}
