using CompressionLab.Web.Components.Layout;
using CompressionLab.Web.Components.Pages.Pruning;
using Microsoft.AspNetCore.Components;

namespace CompressionLab.Tests.Web;

public class NavigationTests : DashboardTestContext
{
    [Fact]
    public void NavigationListsEveryAreaInWorkflowOrder()
    {
        var nav = Render<NavMenu>();

        var links = nav.FindAll("a.mud-nav-link")
            .Select(link => (Text: link.TextContent.Trim(), Href: link.GetAttribute("href")))
            .ToList();
        Assert.Equal(
            [
                ("Models & data", "/"),
                ("Sensitivity", "/sensitivity"),
                ("Pruning plan", "/pruning"),
                ("Distillation", "/distillation"),
                ("Quantization", "/quantization"),
                ("Recipe", "/recipe"),
                ("Jobs", "/jobs"),
            ],
            links);
    }

    [Fact]
    public void LayoutShowsTheAppBarTheNavigationAndThePage()
    {
        var layout = Render<MainLayout>(parameters => parameters
            .Add(p => p.Body, (RenderFragment)(builder => builder.AddMarkupContent(0, "<p id=\"page-body\">page body</p>"))));

        Assert.Equal("CompressionLab", layout.Find("[data-testid=app-title]").TextContent.Trim());
        Assert.Equal(7, layout.FindAll("a.mud-nav-link").Count);
        Assert.Equal("page body", layout.Find("#page-body").TextContent);
        Assert.Equal("true", layout.Find(".mud-layout").GetAttribute("data-interactive"));
    }
}
