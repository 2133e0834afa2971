using TrapReplace.Data;

namespace TrapReplace.Scanning;

/// <summary>What the poison scan's suspects show, read from the labels alone.</summary>
public enum PoisonLabelling
{
    /// <summary>Images of other classes relabelled to the target (BadNets, Blend, Trojan, l2-invisible): the untrusted
    /// set labels the target more often than the clean holdout's share explains.</summary>
    DirtyLabel,

    /// <summary>Images of the target class under their true label (SIG, label-consistent): the untrusted set labels the
    /// target as often as the clean holdout does, so the suspects are target images with a trigger added.</summary>
    CleanLabel,
}

/// <summary>
/// Whether the suspects look like dirty-label or clean-label poison, and the counts that say so. Dirty-label poison adds
/// its samples to the target's labels; clean-label poison does not. So the untrusted set's target count is compared with
/// what the clean holdout's target share predicts: dirty-label when the excess is at least half the suspects. Needs no
/// trigger, no test set and no knowledge of the attack.
/// </summary>
/// <param name="Labelling">The verdict.</param>
/// <param name="Target">The scan's inferred target.</param>
/// <param name="Suspects">The scan's suspects.</param>
/// <param name="TargetLabelled">Untrusted samples labelled with the target.</param>
/// <param name="ExpectedTargetLabelled">The untrusted set's size times the holdout's target share.</param>
public sealed record PoisonLabellingEvidence(PoisonLabelling Labelling, int Target, int Suspects, int TargetLabelled, double ExpectedTargetLabelled)
{
    /// <summary>The share of the suspects that the untrusted set's excess of target labels accounts for (1 when every
    /// suspect was added to the target; about 0 for clean-label poison).</summary>
    public double ExcessPerSuspect => Suspects == 0 ? 0 : (TargetLabelled - ExpectedTargetLabelled) / Suspects;

    /// <summary>Reads the labelling of <paramref name="scan"/>'s suspects from the labels of <paramref name="untrusted"/>
    /// and <paramref name="holdout"/>; null when the scan inferred no target or has no suspects.</summary>
    /// <param name="untrusted">The scanned set.</param>
    /// <param name="holdout">The clean holdout, drawn from the same distribution.</param>
    /// <param name="scan">The scan of <paramref name="untrusted"/>.</param>
    /// <exception cref="ArgumentException">The holdout is empty or the scan was made for another set.</exception>
    public static PoisonLabellingEvidence? Infer(ImageDataset untrusted, ImageDataset holdout, PoisonScanResult scan)
    {
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(holdout);
        ArgumentNullException.ThrowIfNull(scan);
        if (holdout.Count == 0) throw new ArgumentException("the holdout is empty: it is what the target's clean share is read from", nameof(holdout));
        if (scan.Scores.Count != untrusted.Count)
            throw new ArgumentException($"the scan scored {scan.Scores.Count} samples; the untrusted set has {untrusted.Count}", nameof(scan));
        if (scan.InferredTarget is not int target || scan.SuspectIndices.Count == 0) return null;
        return From(untrusted.LabelArray(), holdout.LabelArray(), target, scan.SuspectIndices.Count);
    }

    internal static PoisonLabellingEvidence From(long[] untrustedLabels, long[] holdoutLabels, int target, int suspects)
    {
        int targetLabelled = untrustedLabels.Count(l => l == target);
        double expected = untrustedLabels.Length * (double)holdoutLabels.Count(l => l == target) / holdoutLabels.Length;
        var labelling = targetLabelled - expected >= 0.5 * suspects ? PoisonLabelling.DirtyLabel : PoisonLabelling.CleanLabel;
        return new PoisonLabellingEvidence(labelling, target, suspects, targetLabelled, expected);
    }
}
