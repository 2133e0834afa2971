namespace TrapReplace.Scanning;

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

    /// <summary>The pull of <paramref name="predictions"/> (one per suspect) against the class shares of
    /// <paramref name="labels"/> (the whole scanned set's given labels) without the target.</summary>
    internal static BackdoorPull From(IReadOnlyList<int> predictions, long[] labels, int classes, int target)
    {
        var expected = NonTargetShares(labels, classes, target);
        var shares = SharesOf(predictions, classes);
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
    /// true label): only an excess of the target's share over <paramref name="targetRecall"/>, the network's own recall
    /// of the target on clean images, (share − recall) / (1 − recall). Other classes do not count: their shares show how
    /// the trigger distorts a target image, which a network without the backdoor shows as much (measured on SIG: heads
    /// with an attack success of 0.0 % sent 30–36 % of the suspects to one other class).</summary>
    internal static BackdoorPull FromCleanLabel(IReadOnlyList<int> predictions, int classes, int target, double targetRecall)
    {
        var shares = SharesOf(predictions, classes);
        double pull = targetRecall >= 1 ? 0 : Math.Max(0, (shares[target] - targetRecall) / (1 - targetRecall));
        return new BackdoorPull(pull, target, shares[target], shares) { TargetRecall = targetRecall };
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
