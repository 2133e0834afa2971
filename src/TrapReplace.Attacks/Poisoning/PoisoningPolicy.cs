using Microsoft.Extensions.Options;
using System.Globalization;

namespace TrapReplace.Attacks.Poisoning;

/// <summary>
/// Which training samples an attack poisons and how they are labelled; independent of the trigger.
/// All-to-one: every poisoned sample points at <see cref="TargetClass"/>.
/// </summary>
/// <param name="TargetClass">The class the backdoor leads to, in [0, numClasses). Default 0.</param>
/// <param name="PoisonRatio">Fraction of the <see cref="Denominator"/> to poison, in (0, 1]. Default 0.1.</param>
/// <param name="Denominator">What the ratio is a fraction of. Default <see cref="PoisonRatioDenominator.WholeTrainingSet"/>.</param>
/// <param name="LabelMode">Dirty-label (poison non-target samples, relabel) or clean-label (poison target-class samples,
/// keep labels). Default <see cref="Poisoning.LabelMode.DirtyLabel"/>.</param>
/// <param name="Seed">Seed of the sample choice (System.Random), separate from any trigger seed. Default 0.</param>
/// <remarks>
/// Number of poisoned samples: n = max(1, round(ratio x D)), rounding half away from zero, where D is the training-set
/// size N or the target-class size N_target. The n samples are drawn uniformly without replacement from the
/// candidates (non-target samples for dirty-label, target-class samples for clean-label) with System.Random(Seed),
/// instead of the reference code's "first n in index order". Poisoned samples replace the clean ones (no copies are added).
/// </remarks>
public sealed record PoisoningPolicy(
    int TargetClass = 0,
    double PoisonRatio = 0.1,
    PoisonRatioDenominator Denominator = PoisonRatioDenominator.WholeTrainingSet,
    LabelMode LabelMode = LabelMode.DirtyLabel,
    int Seed = 0)
{
    /// <summary>Every invalid setting for a data set of <paramref name="numClasses"/> classes, one message each (empty when all are valid).</summary>
    /// <param name="numClasses">Number of classes of the data set, at least 2.</param>
    public IReadOnlyList<string> Validate(int numClasses)
    {
        var errors = new List<string>();
        if (numClasses < 2)
        {
            errors.Add($"numClasses must be at least 2, got {numClasses}");
        }
        else if (TargetClass < 0 || TargetClass >= numClasses)
        {
            errors.Add($"TargetClass = {TargetClass} is outside [0, {numClasses - 1}]");
        }

        if (!(PoisonRatio > 0.0 && PoisonRatio <= 1.0))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"PoisonRatio = {PoisonRatio} is outside (0, 1]"));
        }

        if (!Enum.IsDefined(Denominator))
        {
            errors.Add($"Denominator = {Denominator} is not a defined value");
        }

        if (!Enum.IsDefined(LabelMode))
        {
            errors.Add($"LabelMode = {LabelMode} is not a defined value");
        }

        return errors;
    }

    /// <summary>Throws when any setting is invalid for <paramref name="numClasses"/> classes, naming every one.</summary>
    /// <param name="numClasses">Number of classes of the data set, at least 2.</param>
    /// <exception cref="OptionsValidationException">One or more settings are invalid (<see cref="OptionsValidationException.Failures"/> names each).</exception>
    public void ThrowIfInvalid(int numClasses) => SettingErrors.ThrowIfAny(typeof(PoisoningPolicy), Validate(numClasses));

    /// <summary>The number of samples to poison: max(1, round(ratio x D)), half away from zero.</summary>
    /// <param name="trainingSetSize">N, the number of training samples.</param>
    /// <param name="targetClassSize">N_target, the number of target-class training samples.</param>
    /// <returns>The poison count.</returns>
    public int PoisonCount(int trainingSetSize, int targetClassSize)
    {
        int denominator = Denominator == PoisonRatioDenominator.TargetClass ? targetClassSize : trainingSetSize;
        return Math.Max(1, (int)Math.Round(PoisonRatio * denominator, MidpointRounding.AwayFromZero));
    }
}
