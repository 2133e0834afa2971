using Microsoft.Extensions.Options;
using TrapReplace.Attacks.Poisoning;
using System.Globalization;

namespace TrapReplace.Attacks.Adversarial;

/// <summary>Settings of the l_inf projected gradient descent attack.</summary>
/// <remarks>Defaults: epsilon 16/255 as in the reference T&amp;R code's label-consistent data (BackdoorBench uses 8/255),
/// step size 1.5/255 and 100 steps as in BackdoorBench, random start on.</remarks>
public sealed record PgdOptions
{
    /// <summary>Gets the radius of the l_inf ball, in [0, 1] image units. <value>Default 16/255.</value></summary>
    public double Epsilon { get; init; } = 16.0 / 255.0;

    /// <summary>Gets the step size of each signed-gradient step, greater than 0. <value>Default 1.5/255.</value></summary>
    public double StepSize { get; init; } = 1.5 / 255.0;

    /// <summary>Gets the number of steps, at least 1. <value>Default 100.</value></summary>
    public int Steps { get; init; } = 100;

    /// <summary>Gets whether the search starts at a uniform random point of the ball. <value>Default true.</value></summary>
    public bool RandomStart { get; init; } = true;

    /// <summary>Gets the seed of the random start when no generator is passed. <value>Default 0.</value></summary>
    public int Seed { get; init; }

    /// <summary>Gets how many images go through the model at once, at least 1. <value>Default 256.</value></summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Every invalid setting, one message each (empty when all are valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!(Epsilon >= 0.0 && Epsilon <= 1.0))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"Epsilon = {Epsilon} is outside [0, 1]"));
        }

        if (!(StepSize > 0.0 && double.IsFinite(StepSize)))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"StepSize = {StepSize} must be positive"));
        }

        if (Steps < 1)
        {
            errors.Add($"Steps = {Steps} must be at least 1");
        }

        if (BatchSize < 1)
        {
            errors.Add($"BatchSize = {BatchSize} must be at least 1");
        }

        return errors;
    }

    /// <summary>Throws when any setting is invalid, naming every one.</summary>
    /// <exception cref="OptionsValidationException">One or more settings are invalid (<see cref="OptionsValidationException.Failures"/> names each).</exception>
    public void ThrowIfInvalid() => SettingErrors.ThrowIfAny(typeof(PgdOptions), Validate());
}
