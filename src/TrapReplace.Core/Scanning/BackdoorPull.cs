namespace TrapReplace.Scanning;

/// <summary>Which classes a dirty-label pull estimate counts (<see cref="PoisonScanner"/>).</summary>
public enum PullScope
{
    /// <summary>The largest pull over every class: the target's share, or another class's share beyond its base rate.
    /// Right when a defense may have moved the backdoor (relabelling the suspects mostly to one class teaches the
    /// trigger that class); it also counts how a trigger distorts images under any network, which is no backdoor.</summary>
    AnyClass,

    /// <summary>The target's share only: the attack-success estimate. Right when nothing could have moved the backdoor
    /// (a head that never saw relabels; suspects removed, or relabelled in proportion to every class). Measured on
    /// Blend at 20 stage-1 epochs: a network with 0.06 % attack success sent half of the held-out suspects to class 4,
    /// which read as a pull of 44 % over every class.</summary>
    TargetOnly,
}

/// <summary>How strongly a network pulls the poison scan's suspects to one class (<see cref="PoisonScanner"/>).</summary>
/// <param name="Value">The largest pull over all classes, in [0, 1]: 0 when the predictions follow the classes' shares,
/// 1 when every suspect goes to one class.</param>
/// <param name="Class">The class pulling hardest.</param>
/// <param name="TargetShare">Share of the suspects assigned to the inferred target (the attack-success estimate).</param>
/// <param name="Shares">Share of the suspects assigned to each class.</param>
public sealed record BackdoorPull(double Value, int Class, double TargetShare, IReadOnlyList<double> Shares)
{
    /// <summary>For clean-label suspects, the network's recall of the target on clean images that the target's share was
    /// measured against; null for dirty-label ones.</summary>
    public double? TargetRecall { get; init; }

    /// <summary>For clean-label suspects, how many clean target images <see cref="TargetRecall"/> was measured on; null for
    /// dirty-label ones.</summary>
    public int? TargetRecallImages { get; init; }

    /// <summary>The one-sided normal quantile (95 %) of the clean-label excess's lower confidence bound.</summary>
    public const double CleanLabelConfidenceZ = 1.6448536269514722;

    /// <summary>The pull of <paramref name="predictions"/> (one per suspect) against the class shares of
    /// <paramref name="labels"/> (the whole scanned set's given labels) without the target, over the classes
    /// <paramref name="scope"/> names.</summary>
    internal static BackdoorPull From(IReadOnlyList<int> predictions, long[] labels, int classes, int target, PullScope scope = PullScope.AnyClass)
    {
        var shares = SharesOf(predictions, classes);
        if (scope == PullScope.TargetOnly) return new BackdoorPull(shares[target], target, shares[target], shares);
        var expected = NonTargetShares(labels, classes, target);
        double best = -1;
        int bestClass = target;
        for (int c = 0; c < classes; c++)
        {
            double pull = expected[c] >= 1 ? 0 : Math.Max(0, (shares[c] - expected[c]) / (1 - expected[c]));
            if (pull > best) (best, bestClass) = (pull, c);
        }
        return new BackdoorPull(best, bestClass, shares[target], shares);
    }

    /// <summary>The pull of <paramref name="predictions"/> on clean-label suspects (images of the target class under their
    /// true label): only an excess of the target's share over the network's own recall of the target on clean images
    /// (<paramref name="recalled"/> of <paramref name="targetImages"/>), and only as much of it as both sample sizes
    /// support: the lower 95 % confidence bound of share − recall (Newcombe's hybrid score interval, from the two Wilson
    /// intervals), over 1 − recall. The bound matters because both samples can be small: a few dozen target images in a
    /// validation split, and a handful of held-out suspects when the scan flagged few (measured on WaNet at the full
    /// profile: 6 held-out suspects, all predicted as their label by a network that memorised them in stage 1, read as a
    /// pull of 1 and rejected the best network). Other classes do not count: their shares show how the trigger distorts
    /// a target image, which a network without the backdoor shows as much (measured on SIG: heads with an attack success
    /// of 0.0 % sent 30–36 % of the suspects to one other class).</summary>
    internal static BackdoorPull FromCleanLabel(IReadOnlyList<int> predictions, int classes, int target, int recalled, int targetImages)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(targetImages, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(recalled);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(recalled, targetImages);
        var shares = SharesOf(predictions, classes);
        double recall = (double)recalled / targetImages;
        double excess = ExcessLowerBound(shares[target], predictions.Count, recall, targetImages, CleanLabelConfidenceZ);
        double pull = recall >= 1 ? 0 : Math.Max(0, excess / (1 - recall));
        return new BackdoorPull(pull, target, shares[target], shares) { TargetRecall = recall, TargetRecallImages = targetImages };
    }

    /// <summary>Lower confidence bound of p1 − p2 for two independent proportions (Newcombe 1998, method 10):
    /// (p1 − p2) − √((p1 − l1)² + (u2 − p2)²), where l1 is p1's lower and u2 is p2's upper Wilson bound at
    /// <paramref name="z"/>.</summary>
    internal static double ExcessLowerBound(double p1, int n1, double p2, int n2, double z)
    {
        if (n1 == 0) return double.NegativeInfinity;
        var (l1, _) = Wilson(p1, n1, z);
        var (_, u2) = Wilson(p2, n2, z);
        return p1 - p2 - Math.Sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
    }

    /// <summary>The Wilson score interval of a proportion <paramref name="p"/> measured on <paramref name="n"/> trials.</summary>
    internal static (double Lower, double Upper) Wilson(double p, int n, double z)
    {
        double z2n = z * z / n;
        double centre = (p + z2n / 2) / (1 + z2n);
        double half = z * Math.Sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n);
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    // Each class's share of the predictions.
    private static double[] SharesOf(IReadOnlyList<int> predictions, int classes)
    {
        var counts = new int[classes];
        foreach (var p in predictions) counts[p]++;
        return counts.Select(k => predictions.Count == 0 ? 0 : (double)k / predictions.Count).ToArray();
    }

    /// <summary>Each class's share of the samples not labelled <paramref name="target"/> (0 for the target itself; no
    /// target when it is negative): the proportions dirty-label poison is drawn from.</summary>
    internal static double[] NonTargetShares(long[] labels, int classes, int target)
    {
        var size = new long[classes];
        foreach (var l in labels) size[l]++;
        long others = labels.Length - (target >= 0 ? size[target] : 0);
        return Enumerable.Range(0, classes).Select(c => c == target || others == 0 ? 0 : (double)size[c] / others).ToArray();
    }
}
