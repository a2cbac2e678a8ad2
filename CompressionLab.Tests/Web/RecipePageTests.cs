using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Core.Recipes;
using CompressionLab.Core.Workspace;
using CompressionLab.Web.Components.Pages.Recipe;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.Extensions.DependencyInjection;

namespace CompressionLab.Tests.Web;

/// <summary>The Recipe page rendered over a temporary workspace, a fake recipe engine and the fake scheduler as the worker.</summary>
public sealed class RecipePageTests : DashboardTestContext
{
    private readonly PageWorkspace services;
    private readonly FakeRecipeBackend backend;

    public RecipePageTests()
        : this(new PageWorkspace())
    {
    }

    private RecipePageTests(PageWorkspace services)
        : base(collection =>
        {
            services.AddStores(collection);
            collection.AddSingleton<RecipeBackend>(sp => new FakeRecipeBackend((FakeJobScheduler)sp.GetRequiredService<IJobScheduler>()));
        })
    {
        this.services = services;
        backend = (FakeRecipeBackend)Services.GetRequiredService<RecipeBackend>();
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            services.Dispose();
        }
    }

    private ModelRecord AddModel(string name)
    {
        var file = Path.Combine(services.Workspace.Root, $"{Guid.NewGuid():N}.ckpt");
        File.WriteAllBytes(file, Guid.NewGuid().ToByteArray());
        return services.Store.Import(file, new ModelEntry(name, ModelZoo.Lenet300100, SyntheticDataset.Name, 0.9, 1000));
    }

    [Fact]
    public void TheSectionsShowEachGapWithALinkToThePageThatFillsIt()
    {
        AddModel("lenet");
        var page = Render<RecipePage>();

        Assert.Equal("Recipe", page.Find("h1").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=planned-area]"));
        Assert.Equal(5, page.FindAll("[data-testid=recipe-section]").Count);
        var quantization = page.Find("[data-testid=recipe-section][data-section=quantization]");
        Assert.Equal("false", quantization.GetAttribute("data-present"));
        Assert.Contains("No calibration yet: run it on the Quantization page", quantization.TextContent);
        Assert.Equal("/quantization", quantization.QuerySelector("[data-testid=gap-link]")!.GetAttribute("href"));
        Assert.Equal("true", page.Find("[data-section=provenance]").GetAttribute("data-present"));
        Assert.Equal("/pruning", page.Find("[data-section=pruning] [data-testid=gap-link]").GetAttribute("href"));
        Assert.Empty(page.FindAll("[data-testid=recipe-files]"));
    }

    [Fact]
    public async Task ABuiltRecipeIsOfferedAsRecipeYamlAndRecipeJsonDownloads()
    {
        AddModel("lenet");
        var recipe = SampleRecipe.Create();
        var yaml = RecipeFile.ToYaml(recipe);
        backend.BuildResult = new BuiltRecipe(recipe,
            [new RecipeFileText("recipe.yaml", "application/x-yaml", yaml), new RecipeFileText("recipe.json", "application/json", RecipeFile.ToJson(recipe))]);
        var page = Render<RecipePage>();

        await page.Find("button[data-testid=build-recipe]").ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs());
        var job = Assert.Single(Scheduler.List(), j => j.Kind == RecipeBackend.BuildKind);
        await Scheduler.RunAsync(job.Id);

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=download-recipe-yaml]")), UiTimeout);
        var download = page.Find("[data-testid=download-recipe-yaml]");
        Assert.Equal("recipe.yaml", download.GetAttribute("download"));
        const string prefix = "data:application/x-yaml;base64,";
        var href = download.GetAttribute("href")!;
        Assert.StartsWith(prefix, href);
        Assert.Equal(yaml, System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(href[prefix.Length..])));
        Assert.Equal("recipe.json", page.Find("[data-testid=download-recipe-json]").GetAttribute("download"));
        Assert.Contains("lacks, for whoever reads them: quantization.", page.Find("[data-testid=built-gaps]").TextContent);
        Assert.Contains("75.00 % as it is", page.Find("[data-section=results]").TextContent);
    }

    [Fact]
    public void AnUploadOverTheLimitOrMalformedIsRefusedAboveTheButtonAndAGoodOneCanBeApplied()
    {
        AddModel("lenet");
        var page = Render<RecipePage>();

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(new byte[RecipePageModel.UploadLimitBytes + 10], "big.yaml"));
        page.WaitForAssertion(() => Assert.Contains("big.yaml is 1.0 MB; a recipe file is at most 1 MB", page.Find("[data-testid=upload-error]").TextContent), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=apply-recipe]"));

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText(SampleRecipe.Yaml().Replace("version: 1", "version: 2", StringComparison.Ordinal), "recipe.yaml"));
        page.WaitForAssertion(() => Assert.Contains("(version): recipe format version 2 was written by a newer CompressionLab", page.Find("[data-testid=upload-error]").TextContent), UiTimeout);
        Assert.Contains("line ", page.Find("[data-testid=upload-error]").TextContent);

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText(SampleRecipe.Yaml(), "recipe.yaml"));
        page.WaitForAssertion(() => Assert.Contains("recipe.yaml", page.Find("[data-testid=uploaded-summary]").TextContent), UiTimeout);
        Assert.Empty(page.FindAll("[data-testid=upload-error]"));
        Assert.Contains("recorded top-1 50.00 % on 4 validation images", page.Find("[data-testid=uploaded-summary]").TextContent);
        Assert.NotNull(page.Find("[data-testid=apply-other-model]"));
        Assert.False(page.Find("button[data-testid=apply-recipe]").HasAttribute("disabled"));
    }
}
