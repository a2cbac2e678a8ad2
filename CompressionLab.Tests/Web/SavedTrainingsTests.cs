using CompressionLab.Core.Data;
using CompressionLab.Core.Jobs;
using CompressionLab.Core.Models;
using CompressionLab.Web.Services;

namespace CompressionLab.Tests.Web;

/// <summary>The pages' cache of what interrupted trainings saved, over a fake scheduler and a counting reader.</summary>
public sealed class SavedTrainingsTests : IDisposable
{
    private readonly FakeJobScheduler scheduler = new();
    private readonly Dictionary<Guid, SavedTraining?> onDisk = [];
    private readonly List<Guid> reads = [];
    private readonly SavedTrainings saved;

    public SavedTrainingsTests() =>
        saved = new SavedTrainings(scheduler, job =>
        {
            reads.Add(job.Id);
            return onDisk.GetValueOrDefault(job.Id);
        });

    public void Dispose() => saved.Dispose();

    [Fact]
    public void AnswersFromMemoryUntilTheJobsStateChanges()
    {
        var job = Interrupted();
        onDisk[job.Id] = new SavedTraining(job.Id, 2, 5);

        Assert.Equal(2, saved.Of(job)!.EpochsDone);
        Assert.Equal(2, saved.Of(job)!.EpochsDone);
        Assert.Single(reads);

        // A snapshot in another state is another question (e.g. the same job seen before it was interrupted).
        saved.Of(job with { State = JobState.Running });
        Assert.Equal(2, reads.Count);
    }

    [Fact]
    public void ProgressOfOtherJobsAndOfItsOwnStateReadsNothing()
    {
        var job = Interrupted();
        onDisk[job.Id] = new SavedTraining(job.Id, 1, 3);
        saved.Of(job);
        var other = FakeJobScheduler.Job("Train vgg-tiny", JobState.Running);
        var sweep = FakeJobScheduler.Job("Sweep", JobState.Running, kind: "sweep");

        for (var i = 1; i <= 10; i++)
        {
            scheduler.Publish(other with { Fraction = i / 10.0 });
            scheduler.Publish(sweep with { Fraction = i / 10.0 });
            scheduler.Publish(job); // the same state again
        }

        Assert.Equal(1, saved.Of(job)!.EpochsDone);
        Assert.Single(reads);
    }

    [Fact]
    public void AResumingJobMakesItReadAgainUntilTheStateHasMovedToIt()
    {
        var job = Interrupted();
        onDisk[job.Id] = new SavedTraining(job.Id, 1, 3);
        saved.Of(job);
        var resuming = Resuming(job);

        scheduler.Publish(resuming); // queued: the file is still the interrupted job's
        Assert.Equal(1, saved.Of(job)!.EpochsDone);
        Assert.Equal(2, reads.Count(id => id == job.Id));

        // It starts and takes the file over: the interrupted job has nothing saved any more, and that cannot change.
        onDisk[job.Id] = null;
        scheduler.Publish(resuming with { State = JobState.Running, Fraction = 0.1 });
        Assert.Null(saved.Of(job));
        for (var i = 2; i <= 10; i++)
        {
            scheduler.Publish(resuming with { State = JobState.Running, Fraction = i / 10.0 });
        }
        Assert.Null(saved.Of(job));
        Assert.Equal(3, reads.Count(id => id == job.Id));
    }

    [Fact]
    public void ListsOnlyTheJobsThatSavedSomething()
    {
        var first = Interrupted();
        var second = Interrupted();
        onDisk[first.Id] = new SavedTraining(first.Id, 1, 3);

        var all = saved.Of([first, second]);

        Assert.Equal([first.Id], all.Keys);
    }

    [Fact]
    public void DisposingEndsTheSubscription()
    {
        Assert.Equal(1, scheduler.SubscriberCount);
        saved.Dispose();
        Assert.Equal(0, scheduler.SubscriberCount);
    }

    private static JobSnapshot Interrupted() =>
        FakeJobScheduler.Job("Train lenet-300-100 on synthetic", JobState.Interrupted, 0.5, "epoch 2/3") with
        {
            ParametersJson = ModelJobJson.Write(new TrainingRequest(ModelZoo.Lenet300100, SyntheticDataset.Name, Epochs: 3)),
        };

    private static JobSnapshot Resuming(JobSnapshot interrupted) =>
        FakeJobScheduler.Job($"{interrupted.Title} (resumed)") with { ParametersJson = interrupted.ParametersJson, Links = new JobLinks(Resumes: interrupted.Id) };
}
