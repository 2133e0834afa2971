using Microsoft.Extensions.Options;

namespace TrapReplace.Attacks.Poisoning;

/// <summary>The one validation-error style of the library (as in TrapReplace.Core's options): all invalid settings in
/// one <see cref="OptionsValidationException"/>.</summary>
internal static class SettingErrors
{
    /// <summary>Throws when <paramref name="errors"/> holds any message.</summary>
    public static void ThrowIfAny(Type settings, IReadOnlyList<string> errors)
    {
        if (errors.Count > 0) throw new OptionsValidationException(settings.Name, settings, errors);
    }
}
