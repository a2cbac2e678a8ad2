using CompressionLab.Core.Jobs;
using CompressionLab.Web.Components.Jobs;

namespace CompressionLab.Tests.Web;

public class JobTextTests
{
    [Theory]
    [InlineData(0.2, "1 s")]
    [InlineData(45, "45 s")]
    [InlineData(185, "3 min 05 s")]
    [InlineData(4320, "1 h 12 min")]
    public void DurationsReadAsSecondsMinutesOrHours(double seconds, string expected) =>
        Assert.Equal(expected, JobText.Duration(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void PercentIsClampedAndASucceededJobIsComplete()
    {
        Assert.Equal(42, JobText.Percent(FakeJobScheduler.Job("a", JobState.Running, 0.424)));
        Assert.Equal(100, JobText.Percent(FakeJobScheduler.Job("b", JobState.Running, 1.7)));
        Assert.Equal(100, JobText.Percent(FakeJobScheduler.Job("c", JobState.Succeeded, 0.9)));
    }

    [Fact]
    public void EtaIsShownOnlyWhileAJobCanStillFinish()
    {
        Assert.Equal("2 min 00 s", JobText.Eta(FakeJobScheduler.Job("a", JobState.Running, eta: TimeSpan.FromMinutes(2))));
        Assert.Equal("—", JobText.Eta(FakeJobScheduler.Job("b", JobState.Running)));
        Assert.Equal("—", JobText.Eta(FakeJobScheduler.Job("c", JobState.Cancelled, eta: TimeSpan.FromMinutes(2))));
    }

    [Fact]
    public void AFailureWithoutAMessageStillSaysItFailed() =>
        Assert.Equal("Failed without an error message.", JobText.Detail(FakeJobScheduler.Job("a", JobState.Failed)));

    [Fact]
    public void TimesOfTodayShowTheClockOnlyOlderOnesTheDayToo()
    {
        var now = new DateTimeOffset(2025, 6, 3, 15, 0, 0, TimeSpan.Zero).ToLocalTime();
        var today = new DateTimeOffset(now.Year, now.Month, now.Day, 9, 7, 0, now.Offset);
        var before = today.AddDays(-2);

        Assert.Equal("09:07", JobText.Time(today, now));
        Assert.Equal(before.ToString("MMM d", System.Globalization.CultureInfo.InvariantCulture) + " 09:07", JobText.Time(before, now));
        Assert.Equal("—", JobText.Time(null, now));
    }
}
