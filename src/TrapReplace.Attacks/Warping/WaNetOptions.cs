using Microsoft.Extensions.Options;
using TrapReplace.Attacks.Poisoning;
using System.Globalization;

namespace TrapReplace.Attacks.Warping;

/// <summary>Settings of the WaNet attack; defaults are WaNet's and BackdoorBench's.</summary>
public sealed record WaNetOptions
{
    /// <summary>Gets the side k of the random flow field, at least 2. <value>Default 4.</value></summary>
    public int GridSize { get; init; } = 4;

    /// <summary>Gets the warping strength s, at least 0. <value>Default 0.5.</value></summary>
    public double Strength { get; init; } = 0.5;

    /// <summary>Gets the grid rescale r, greater than 0. <value>Default 1.</value></summary>
    public double GridRescale { get; init; } = 1.0;

    /// <summary>Gets the number of noise-mode samples per poisoned sample in a batch, at least 0. <value>Default 2.</value></summary>
    public double CrossRatio { get; init; } = 2.0;

    /// <summary>Every invalid setting, one message each (empty when all are valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (GridSize < 2)
        {
            errors.Add($"GridSize = {GridSize} must be at least 2");
        }

        if (!(Strength >= 0.0 && double.IsFinite(Strength)))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"Strength = {Strength} must be finite and ≥ 0"));
        }

        if (!(GridRescale > 0.0 && double.IsFinite(GridRescale)))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"GridRescale = {GridRescale} must be positive"));
        }

        if (!(CrossRatio >= 0.0 && double.IsFinite(CrossRatio)))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"CrossRatio = {CrossRatio} must be finite and ≥ 0"));
        }

        return errors;
    }

    /// <summary>Throws when any setting is invalid, naming every one.</summary>
    /// <exception cref="OptionsValidationException">One or more settings are invalid (<see cref="OptionsValidationException.Failures"/> names each).</exception>
    public void ThrowIfInvalid() => SettingErrors.ThrowIfAny(typeof(WaNetOptions), Validate());
}
