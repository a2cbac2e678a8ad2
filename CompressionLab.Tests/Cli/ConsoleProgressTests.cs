using CompressionLab.Cli;
using CompressionLab.Core.Jobs;
using Microsoft.Extensions.Time.Testing;

namespace CompressionLab.Tests.Cli;

/// <summary>
/// README: progress goes to stderr as a line per event (plan, cell, epoch) and other progress at most every 2 s; nothing
/// before the plan, so a request refused while loading ends in its one error line.
/// </summary>
public sealed class ConsoleProgressTests
{
    private sealed record Step(string Text) : JobPartial;

    private readonly FakeTimeProvider _time = new();
    private readonly StringWriter _err = new();

    private ConsoleProgress Progress() => new(_err, partial => partial is Step step ? [step.Text] : [], _time);

    private string[] Lines => _err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public void ReportsBeforeThePlanAreDropped()
    {
        var progress = Progress();

        progress.Report(0, "Loading fashion-mnist");
        _time.Advance(TimeSpan.FromSeconds(10));
        progress.Report(0.01, "Loading the checkpoint");

        Assert.Empty(Lines);
    }

    [Fact]
    public void AfterThePlanReportsArePrintedAtMostEveryTwoSecondsAndEventsAlways()
    {
        var progress = Progress();
        progress.Publish(new Step("plan"));

        progress.Report(0.1, "right after the plan");              // 0 s after the plan's line: dropped
        _time.Advance(TimeSpan.FromSeconds(1.999));
        progress.Report(0.2, "just under the interval");           // dropped
        _time.Advance(TimeSpan.FromMilliseconds(1));
        progress.Report(0.25, "at the interval");                  // 2 s: printed
        _time.Advance(TimeSpan.FromSeconds(1));
        progress.Publish(new Step("cell 1"));                      // an event is never throttled
        _time.Advance(TimeSpan.FromSeconds(1.5));
        progress.Report(0.5, "1.5 s after the event line");        // dropped: the event's line counts
        _time.Advance(TimeSpan.FromSeconds(0.5));
        progress.Report(1.4, "past the end");                      // printed, its fraction held at 100%
        progress.Publish(new Step("cell 2"));

        Assert.Equal(["plan", "at the interval · 25%", "cell 1", "past the end · 100%", "cell 2"], Lines);
        Assert.Equal(ConsoleProgress.Interval, TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void APartialWithoutLinesStillStartsTheStream()
    {
        var progress = Progress();
        progress.Publish(new UndescribedPartial());
        _time.Advance(ConsoleProgress.Interval);

        progress.Report(0.5, "half");

        Assert.Equal(["half · 50%"], Lines);
    }

    private sealed record UndescribedPartial : JobPartial;
}
