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
    int TriggeredCount);

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
        return (Math.Max(0, asrBefore - asrAfter) - Math.Max(0, before.CleanAccuracy - after.CleanAccuracy) + 1) / 2;
    }
}
