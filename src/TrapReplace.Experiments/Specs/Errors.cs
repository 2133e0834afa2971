namespace TrapReplace.Experiments.Specs;

/// <summary>Bad command-line input; the message is one line naming the problem (exit code 2).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The one message for a name no catalog knows: the option, the value and every choice.</summary>
internal static class UnknownName
{
    public static UsageException For(string option, string? value, IEnumerable<string> choices) =>
        new($"unknown {option} '{value}'; choose one of {string.Join(", ", choices)}");
}

/// <summary>The data set is missing and cannot be downloaded (exit code 3).</summary>
public sealed class DataUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
