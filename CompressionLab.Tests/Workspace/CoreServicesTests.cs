using CompressionLab.Core;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CompressionLab.Tests.Workspace;

public sealed class CoreServicesTests : IDisposable
{
    private readonly TempWorkspace _workspace = new();

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public async Task RegistrationBindsTheSettingsAndSharesOneScheduler()
    {
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Workspace:Folder"] = _workspace.Folder,
                ["Jobs:QueueCapacity"] = "3",
                ["Jobs:ProgressPersistInterval"] = "00:00:02",
            })
            .Build();
        var services = new ServiceCollection().AddLogging().AddCompressionLabCore(config);

        await using (var provider = services.BuildServiceProvider())
        {
            var database = provider.GetRequiredService<WorkspaceDatabase>();
            var scheduler = provider.GetRequiredService<JobScheduler>();

            Assert.Equal(_workspace.Folder, database.Folder);
            Assert.Same(scheduler, provider.GetRequiredService<IJobScheduler>());
            Assert.Same(scheduler, Assert.Single(provider.GetServices<IHostedService>()));
            Assert.Empty(provider.GetRequiredService<ModelStore>().List());
            for (var i = 0; i < 3; i++)
            {
                scheduler.Enqueue("k", $"job {i}", "{}", (_, _) => Task.FromResult<string?>(null));
            }

            Assert.Equal(3, Assert.Throws<JobQueueFullException>(() => scheduler.Enqueue("k", "one too many", "{}", (_, _) => Task.FromResult<string?>(null))).Capacity);
        }

        Assert.True(File.Exists(Path.Combine(_workspace.Folder, "workspace.db")));
    }
}
