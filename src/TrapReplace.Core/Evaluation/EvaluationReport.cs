namespace TrapReplace.Evaluation;

/// <summary>
/// Metrics of one model, counted over all samples (not a mean of per-batch means). Fractions in [0, 1].
/// </summary>
/// <param name="CleanAccuracy">CA: correct predictions on the whole clean test set / its size.</param>
/// <param name="AttackSuccessRate">ASR: triggered non-target test images predicted as the target / their number; null without a triggered set.</param>
/// <param name="RobustAccuracy">RA: the same triggered images predicted as their true label / their number; null without a triggered set.</param>
/// <param name="PerClassAccuracy">Clean accuracy per true class, index = label.</param>
/// <param name="CleanCount">Clean test images evaluated.</param>
/// <param name="TriggeredCount">Triggered images evaluated (0 without a triggered set).</param>
public sealed record EvaluationReport(
    double CleanAccuracy,
    double? AttackSuccessRate,
    double? RobustAccuracy,
    IReadOnlyList<double> PerClassAccuracy,
    int CleanCount,
    int TriggeredCount)
{
    /// <summary>Share of the triggered images predicted as each class (index = class); empty without a triggered set.
    /// Shows where triggered images go when not to the target: a defense that moves the backdoor to another class
    /// lowers ASR as much as one that removes it, but not robust accuracy, and this says which.</summary>
    public IReadOnlyList<double> TriggeredPredictionShare { get; init; } = [];
}

/// <summary>DER of BackdoorBench, comparing a model before and after a defense.</summary>
public static class DefenseEffectiveness
{
    /// <summary>
    /// DER = (max(0, ASR_before - ASR_after) - max(0, CA_before - CA_after) + 1) / 2, in [0, 1];
    /// 0.5 means no change, 1 means ASR fell from 1 to 0 at no cost in accuracy.
    /// </summary>
    /// <exception cref="ArgumentException">A report has no ASR (no triggered set was evaluated).</exception>
    public static double Rating(EvaluationReport before, EvaluationReport after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        if (before.AttackSuccessRate is not double asrBefore) throw new ArgumentException("the 'before' report has no attack success rate", nameof(before));
        if (after.AttackSuccessRate is not double asrAfter) throw new ArgumentException("the 'after' report has no attack success rate", nameof(after));
        return Rating(before.CleanAccuracy, asrBefore, after.CleanAccuracy, asrAfter);
    }

    /// <summary>The rating from the four numbers: (max(0, ΔASR) − max(0, ΔCA) + 1) / 2, all as fractions.</summary>
    /// <param name="cleanAccuracyBefore">Clean accuracy without the defense.</param>
    /// <param name="attackSuccessBefore">Attack success rate without the defense.</param>
    /// <param name="cleanAccuracyAfter">Clean accuracy with it.</param>
    /// <param name="attackSuccessAfter">Attack success rate with it.</param>
    public static double Rating(double cleanAccuracyBefore, double attackSuccessBefore, double cleanAccuracyAfter, double attackSuccessAfter) =>
        (Math.Max(0, attackSuccessBefore - attackSuccessAfter) - Math.Max(0, cleanAccuracyBefore - cleanAccuracyAfter) + 1) / 2;
}
