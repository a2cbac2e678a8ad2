using System.Collections.Concurrent;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Workspace;
using CompressionLab.Tests.Workspace;
using Microsoft.Extensions.Logging;

namespace CompressionLab.Tests.Jobs;

/// <summary>A scheduler over its own temp workspace; stops, disposes and deletes everything on dispose.</summary>
internal sealed class SchedulerHarness : IAsyncDisposable
{
    /// <summary>Generous: the machine is shared; a passing test never waits this long.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly List<JobScheduler> _schedulers = [];

    public SchedulerHarness(JobOptions? options = null, TimeProvider? time = null, TempWorkspace? workspace = null)
    {
        Workspace = workspace ?? new TempWorkspace();
        Database = Workspace.OpenDatabase();
        Options = options ?? new JobOptions();
        Time = time;
        Scheduler = CreateScheduler();
    }

    public TempWorkspace Workspace { get; }

    public WorkspaceDatabase Database { get; }

    public JobOptions Options { get; }

    public TimeProvider? Time { get; }

    public CapturingLogger<JobScheduler> Logger { get; } = new();

    public JobScheduler Scheduler { get; }

    /// <summary>Another scheduler over the same workspace, as a restarted app (or a second process) would have.</summary>
    public JobScheduler CreateScheduler()
    {
        var scheduler = new JobScheduler(Database, Options, Logger, Time);
        _schedulers.Add(scheduler);
        return scheduler;
    }

    public static async Task<SchedulerHarness> StartedAsync(JobOptions? options = null, TimeProvider? time = null)
    {
        var harness = new SchedulerHarness(options, time);
        await harness.Scheduler.StartAsync(CancellationToken.None);
        return harness;
    }

    public Task<JobSnapshot> WaitAsync(Guid id) => Scheduler.WaitAsync(id).WaitAsync(Timeout);

    public async ValueTask DisposeAsync()
    {
        foreach (var scheduler in _schedulers)
        {
            using var stopping = new CancellationTokenSource(Timeout);
            await scheduler.StopAsync(stopping.Token);
            scheduler.Dispose();
        }

        Workspace.Dispose();
    }
}

/// <summary>Keeps what was logged so tests can check a stack trace went to the log.</summary>
internal sealed class CapturingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception), exception));
}

/// <summary>Collects every update of every job, in the order the scheduler sent them.</summary>
internal sealed class UpdateLog : IDisposable
{
    private readonly IDisposable _subscription;

    public UpdateLog(IJobScheduler scheduler)
    {
        _subscription = scheduler.Subscribe(Updates.Enqueue);
    }

    public ConcurrentQueue<JobUpdate> Updates { get; } = new();

    public List<JobUpdate> Of(Guid id) => Updates.Where(u => u.Job.Id == id).ToList();

    public void Dispose() => _subscription.Dispose();
}
