using System.Globalization;
using CompressionLab.Core.Jobs;

namespace CompressionLab.Cli;

/// <summary>
/// A job's progress as lines on stderr, for a job body the CLI runs without a scheduler. Partial results (a job's plan,
/// a finished sweep cell, a finished epoch) are events: each one the command describes gets its own line. Progress
/// reports are a stream: one line at most every <see cref="Interval"/>, none right after an event line, and none
/// before the job's first event (its plan), so that a request refused while loading ends in its one error line.
/// </summary>
/// <param name="describe">The lines for a partial result; none to leave it out.</param>
public sealed class ConsoleProgress(TextWriter err, Func<JobPartial, IEnumerable<string>> describe, TimeProvider? time = null) : IJobProgress
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private DateTimeOffset? _lastLine;

    public void Report(double fraction, string message)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_lastLine is not { } last || now - last < Interval) return;
            err.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{message} · {Math.Clamp(fraction, 0, 1) * 100:0}%"));
            _lastLine = now;
        }
    }

    public void Publish(JobPartial partial)
    {
        ArgumentNullException.ThrowIfNull(partial);
        lock (_gate)
        {
            foreach (var line in describe(partial)) err.WriteLine(line);
            _lastLine = _time.GetUtcNow();
        }
    }
}
