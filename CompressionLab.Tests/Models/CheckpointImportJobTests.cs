using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Tests.Jobs;
using static TorchSharp.torch;

namespace CompressionLab.Tests.Models;

/// <summary>An upload staged in the workspace and checked by an import job on the real scheduler.</summary>
public sealed class CheckpointImportJobTests : IAsyncLifetime
{
    private readonly ModelJobTestBench _bench = new();
    private readonly SchedulerHarness _jobs = new(); // not started: jobs wait until a test starts the worker
    private readonly ModelJobs _modelJobs;
    private readonly byte[] _valid;

    public CheckpointImportJobTests()
    {
        _modelJobs = new ModelJobs(_jobs.Scheduler, _bench.Catalog, _bench.Store, new DatasetDownloader(_bench.Options, new HttpClient()));
        manual_seed(33);
        using var network = ModelZoo.Create(ModelZoo.Lenet5);
        var path = Path.Combine(_bench.Workspace.Root, "source.ckpt");
        Checkpoint.Save(network, path, "fashion-mnist", IdxDataset.FashionMnistClasses, top1: 0.87);
        _valid = File.ReadAllBytes(path);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _jobs.DisposeAsync();
        _bench.Dispose();
    }

    [Fact]
    public async Task AnUploadIsStagedInTheWorkspaceQueuedNotCheckedInlineThenStoredByTheJob()
    {
        var staged = await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(_valid), "my lenet.ckpt");

        var file = Assert.Single(_bench.ModelFiles(), f => Path.GetFileName(f) == "my lenet.ckpt");
        Assert.StartsWith(CheckpointImport.StagingPrefix, file, StringComparison.Ordinal);
        Assert.Equal(_valid, File.ReadAllBytes(staged.FilePath));
        Assert.Equal(_valid.Length, staged.Bytes);

        var job = _modelJobs.StartImport(staged);

        Assert.Equal((CheckpointImportJob.Kind, "Import my lenet.ckpt", JobState.Queued), (job.Kind, job.Title, job.State));
        Assert.Equal(new CheckpointImportRequest("my lenet.ckpt", _valid.Length), ModelJobJson.Read<CheckpointImportRequest>(job.ParametersJson));
        Assert.Empty(_bench.Store.List()); // the worker has not started, so nothing was checked or stored

        await _jobs.Scheduler.StartAsync(CancellationToken.None);
        var done = await _jobs.WaitAsync(job.Id);

        Assert.Equal(JobState.Succeeded, done.State);
        var model = Assert.Single(_bench.Store.List());
        var report = CheckpointImportReport.FromJson(done.ResultJson!);
        Assert.Equal(new CheckpointImportReport("my lenet.ckpt", model.Id, "my lenet", "lenet-5", "fashion-mnist", 0.87, model.ParameterCount, AlreadyPresent: false), report);
        Assert.Equal(_valid, File.ReadAllBytes(model.FilePath));
        // Only the stored checkpoint: the staged copy was deleted before the job reported its end.
        Assert.Equal([$"{model.ContentHash}.ckpt"], _bench.ModelFiles());
        Assert.True(staged.IsDeleted);

        var again = _modelJobs.StartImport(await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(_valid), "copy.ckpt"));
        var second = CheckpointImportReport.FromJson((await _jobs.WaitAsync(again.Id)).ResultJson!);

        Assert.Equal(("copy.ckpt", model.Id, true), (second.FileName, second.ModelId, second.AlreadyPresent));
        Assert.Equal([$"{model.ContentHash}.ckpt"], _bench.ModelFiles());
    }

    [Fact]
    public async Task ACorruptFileOrOneThatIsNoCheckpointFailsTheJobInWordsAndChangesNothing()
    {
        var corrupt = (byte[])_valid.Clone();
        corrupt[^10] ^= 0xFF; // inside the weights: the recorded hash no longer matches
        var broken = _modelJobs.StartImport(await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(corrupt), "broken.ckpt"));
        var notes = _modelJobs.StartImport(await CheckpointImport.StageAsync(_bench.Store, new MemoryStream("hello, not a model"u8.ToArray()), "notes.txt"));

        await _jobs.Scheduler.StartAsync(CancellationToken.None);
        var brokenDone = await _jobs.WaitAsync(broken.Id);
        var notesDone = await _jobs.WaitAsync(notes.Id);

        Assert.Equal((JobState.Failed, JobState.Failed), (brokenDone.State, notesDone.State));
        Assert.StartsWith("broken.ckpt was not imported: the weights are corrupt (SHA-256 ", brokenDone.Error, StringComparison.Ordinal);
        Assert.EndsWith(").", brokenDone.Error, StringComparison.Ordinal);
        Assert.StartsWith("notes.txt was not imported: not a CompressionLab checkpoint", notesDone.Error, StringComparison.Ordinal);
        Assert.Empty(_bench.Store.List());
        Assert.Empty(_bench.ModelFiles());
    }

    [Fact]
    public async Task AnUploadCancelledWhileQueuedOrLeftQueuedByAStoppingAppIsDeletedThoughItNeverRan()
    {
        var first = await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(_valid), "a.ckpt");
        var second = await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(_valid), "b.ckpt");
        var cancelled = _modelJobs.StartImport(first);
        var interrupted = _modelJobs.StartImport(second);
        Assert.Equal(2, _bench.ModelFiles().Count(f => f.EndsWith(".ckpt", StringComparison.Ordinal)));

        Assert.True(_jobs.Scheduler.Cancel(cancelled.Id));

        // Deleted by the time Cancel returns: the end is announced on the cancelling thread.
        Assert.Equal(JobState.Cancelled, _jobs.Scheduler.Get(cancelled.Id)!.State);
        Assert.False(Directory.Exists(first.Folder));
        Assert.True(File.Exists(second.FilePath));

        await _jobs.Scheduler.StopAsync(CancellationToken.None);

        Assert.Equal(JobState.Interrupted, _jobs.Scheduler.Get(interrupted.Id)!.State);
        Assert.Empty(_bench.ModelFiles());
        Assert.Empty(_bench.Store.List());
    }

    [Fact]
    public async Task ACancelWhileTheCheckRunsStoresNothingAndDeletesTheStagedFile()
    {
        var staged = await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(_valid), "a.ckpt");
        var work = CheckpointImportJob.Create(staged, _bench.Store);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => work(new JobContext(Guid.NewGuid(), new RecordingProgress()), new CancellationToken(canceled: true)));

        Assert.Empty(_bench.Store.List());
        Assert.Empty(_bench.ModelFiles());
    }

    [Fact]
    public async Task AnUploadThatCannotBeQueuedIsDeletedAtOnce()
    {
        await using var full = new SchedulerHarness(new JobOptions { QueueCapacity = 1 });
        var modelJobs = new ModelJobs(full.Scheduler, _bench.Catalog, _bench.Store, new DatasetDownloader(_bench.Options, new HttpClient()));
        full.Scheduler.Enqueue("train", "Waiting", "{}", (_, _) => Task.FromResult<string?>(null));
        var staged = await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(_valid), "a.ckpt");

        Assert.Throws<JobQueueFullException>(() => modelJobs.StartImport(staged));

        Assert.Empty(_bench.ModelFiles());
    }

    [Fact]
    public async Task AStagingCopyThatFailsLeavesNothingBehind()
    {
        await Assert.ThrowsAsync<IOException>(() => CheckpointImport.StageAsync(_bench.Store, new FailingStream(), "a.ckpt"));

        Assert.Empty(_bench.ModelFiles());
    }

    /// <summary>A browser upload that drops after a few bytes.</summary>
    private sealed class FailingStream : MemoryStream
    {
        public FailingStream()
            : base([1, 2, 3])
        {
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position == 0 ? base.ReadAsync(buffer, cancellationToken) : throw new IOException("The upload was interrupted.");

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Position == 0 ? base.ReadAsync(buffer, offset, count, cancellationToken) : throw new IOException("The upload was interrupted.");
    }

    [Fact]
    public async Task StartupDeletesOnlyStagedUploadsUntouchedForLongerThanTheGrace()
    {
        var abandoned = await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(_valid), "crashed.ckpt");
        var fresh = await CheckpointImport.StageAsync(_bench.Store, new MemoryStream(_valid), "arriving.ckpt");
        var now = DateTime.UtcNow;
        File.SetLastWriteTimeUtc(abandoned.FilePath, now.AddHours(-2));
        Directory.SetLastWriteTimeUtc(abandoned.Folder, now.AddHours(-2));
        var stored = Path.Combine(_bench.Store.ModelsFolder, "kept-model.ckpt");
        File.WriteAllBytes(stored, _valid);
        File.SetLastWriteTimeUtc(stored, now.AddHours(-2)); // old, but not a staging folder

        var deleted = CheckpointImport.DeleteAbandonedStaging(_bench.Store, TimeSpan.FromMinutes(10), now);

        Assert.Equal(1, deleted);
        Assert.False(Directory.Exists(abandoned.Folder));
        Assert.True(File.Exists(fresh.FilePath));
        Assert.True(File.Exists(stored));
        fresh.Dispose();
    }
}
