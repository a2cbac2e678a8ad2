namespace CompressionLab.Core.Jobs;

/// <summary>
/// A job request whose setting makes no sense. <see cref="Setting"/> names the request's property (e.g.
/// <c>Levels</c>, <c>SubsetSize</c>), so a front end can point at its own field or option; the message is in words and
/// carries no parameter suffix.
/// </summary>
public sealed class InvalidRequestException(string setting, string message, Exception? inner = null) : ArgumentException(message, inner)
{
    public string Setting { get; } = setting;

    /// <summary>
    /// <paramref name="problem"/>'s words for <paramref name="setting"/>, without the " (Parameter 'x')" and "Actual value
    /// was" lines .NET appends to argument exceptions.
    /// </summary>
    /// <param name="problem">An <see cref="ArgumentException"/>, or a <see cref="FormatException"/> of text that did not parse.</param>
    public static InvalidRequestException For(string setting, Exception problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (problem is InvalidRequestException already) return already;
        var words = problem.Message.Split(" (Parameter '", 2)[0].Split(["\r\n", "\n"], 2, StringSplitOptions.None)[0];
        return new InvalidRequestException(setting, words, problem);
    }
}
