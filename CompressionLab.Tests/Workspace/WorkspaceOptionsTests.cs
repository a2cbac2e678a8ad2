using CompressionLab.Core.Workspace;

namespace CompressionLab.Tests.Workspace;

public class WorkspaceOptionsTests
{
    private static readonly string LocalData = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);

    [Fact]
    public void DefaultIsUnderTheUsersLocalDataFolderAndOutsideTheRepository()
    {
        var folder = new WorkspaceOptions().ResolveFolder();

        Assert.Equal(Path.Combine(LocalData, "CompressionLab", "workspace"), folder);
        Assert.False(folder.StartsWith(RepositoryRoot() + Path.DirectorySeparatorChar, StringComparison.Ordinal),
            $"The default workspace '{folder}' lies inside the repository.");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void BlankFolderMeansTheDefault(string blank)
    {
        Assert.Equal(WorkspaceOptions.DefaultFolder, new WorkspaceOptions { Folder = blank }.ResolveFolder());
    }

    [Fact]
    public void RelativeFolderIsTakenUnderTheAppsDataFolderNotTheCurrentDirectory()
    {
        var folder = new WorkspaceOptions { Folder = "experiments" }.ResolveFolder();

        Assert.Equal(Path.Combine(LocalData, "CompressionLab", "experiments"), folder);
    }

    [Fact]
    public void AbsoluteFolderIsKeptWithoutTrailingSeparator()
    {
        var absolute = Path.Combine(Path.GetTempPath(), "cl-somewhere");

        Assert.Equal(absolute, new WorkspaceOptions { Folder = absolute + Path.DirectorySeparatorChar }.ResolveFolder());
    }

    [Fact]
    public void TildeIsTheHomeFolder()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

        Assert.Equal(Path.Combine(home, "cl-workspace"), new WorkspaceOptions { Folder = "~/cl-workspace" }.ResolveFolder());
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CompressionLab.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("CompressionLab.sln not found above the test output folder.");
    }
}
