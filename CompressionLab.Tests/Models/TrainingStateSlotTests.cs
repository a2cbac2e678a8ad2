using CompressionLab.Core.Models;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Workspace;

namespace CompressionLab.Tests.Models;

/// <summary>
/// Both slots drop a state the same way once the model is safe: the state and any temporary file a crash left beside
/// it while it was being written (<c>.NAME.&lt;guid&gt;.tmp</c>, see SignedFileFormat.Write), and nothing else.
/// </summary>
public sealed class TrainingStateSlotTests : IDisposable
{
    private readonly TempWorkspace _workspace = new();

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public void ReleasingAFileSlotDeletesTheStateAndWhatACrashLeftBesideIt()
    {
        var folder = Path.Combine(_workspace.Root, "out");
        var state = Path.Combine(folder, "m.ckpt.resume");
        var (leftover, other) = Leftovers(folder, state);

        TrainingStateSlot.File(state, resume: false).Release();

        Assert.False(File.Exists(state));
        Assert.False(File.Exists(leftover));
        Assert.True(File.Exists(other)); // another file's temporary is not this slot's
    }

    [Fact]
    public void ReleasingAWorkspaceSlotDeletesTheStateAndWhatACrashLeftBesideIt()
    {
        var states = new TrainingStateStore(_workspace.OpenDatabase());
        var job = Guid.NewGuid();
        var (leftover, other) = Leftovers(states.Folder, states.PathOf(job));

        TrainingStateSlot.InWorkspace(states, job).Release();

        Assert.False(File.Exists(states.PathOf(job)));
        Assert.False(File.Exists(leftover));
        Assert.True(File.Exists(other));
        Assert.False(states.Delete(job)); // nothing left to delete
    }

    /// <summary>Writes <paramref name="state"/>, a temporary of it and one of another file; returns the two temporaries.</summary>
    private static (string Leftover, string Other) Leftovers(string folder, string state)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(state, "a saved state");
        var leftover = Path.Combine(folder, $".{Path.GetFileName(state)}.{Guid.NewGuid():N}.tmp");
        var other = Path.Combine(folder, $".other-{Path.GetFileName(state)}.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(leftover, "half a state");
        File.WriteAllText(other, "half of another file");
        return (leftover, other);
    }
}
