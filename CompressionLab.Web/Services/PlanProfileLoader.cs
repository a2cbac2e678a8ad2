using System.Collections.Concurrent;
using CompressionLab.Core.Models;
using CompressionLab.Core.Pruning;

namespace CompressionLab.Web.Services;

/// <summary>Reads what the Pruning plan page needs of a model (<see cref="PlanModelProfile"/>); tests give their own.</summary>
public delegate PlanModelProfile PlanProfileLoader(ResolvedModel model);

/// <summary>The app's loader: each checkpoint read once, since a workspace checkpoint is named by its content and never changes.</summary>
public static class PlanProfiles
{
    public static PlanProfileLoader Cached()
    {
        var profiles = new ConcurrentDictionary<string, Lazy<PlanModelProfile>>();
        return model =>
        {
            var lazy = profiles.GetOrAdd(model.CheckpointPath, _ => new Lazy<PlanModelProfile>(() => PlanModelProfile.Load(model)));
            try
            {
                return lazy.Value;
            }
            catch
            {
                // A failed read is not kept: the file may be fixed or replaced.
                profiles.TryRemove(model.CheckpointPath, out _);
                throw;
            }
        };
    }
}
