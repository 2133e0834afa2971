namespace TrapReplace.Attacks.Poisoning;

/// <summary>Collects invalid settings so that one exception reports all of them.</summary>
internal sealed class SettingErrors
{
    private readonly List<(string Name, string Message)> errors = [];

    /// <summary>Records an invalid setting.</summary>
    public void Add(string name, string message) => errors.Add((name, message));

    /// <summary>Throws when any setting was recorded: the parameter name is the setting when only one is invalid,
    /// otherwise <paramref name="groupName"/>.</summary>
    public void ThrowIfAny(string what, string groupName)
    {
        if (errors.Count > 0)
        {
            throw new ArgumentException(
                $"Invalid {what}: {string.Join("; ", errors.Select(e => e.Message))}.",
                errors.Count == 1 ? errors[0].Name : groupName);
        }
    }
}
