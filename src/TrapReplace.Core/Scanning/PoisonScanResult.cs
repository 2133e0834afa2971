namespace TrapReplace.Scanning;

/// <summary>How strongly the flagged samples favour one given label.</summary>
/// <param name="Class">The given (possibly poisoned) label.</param>
/// <param name="Flagged">Samples with this label scoring above the threshold.</param>
/// <param name="Labelled">Samples with this label in the scanned set.</param>
/// <param name="Share">Flagged / all flagged samples.</param>
/// <param name="BaseRate">Labelled / all scanned samples.</param>
/// <param name="Enrichment">Share / BaseRate: 1 when the flags ignore labels.</param>
/// <param name="ChanceBound">Chernoff upper bound on the probability of at least this many flags under the base rate.</param>
public sealed record ClassSuspicion(int Class, int Flagged, int Labelled, double Share, double BaseRate, double Enrichment, double ChanceBound);

/// <summary>What the poison scan found. Everything here comes from the two networks, the scanned set and the
/// clean reference images; nothing from a test set or the attack.</summary>
public sealed record PoisonScanResult
{
    /// <summary>The score used.</summary>
    public required PoisonScore Score { get; init; }

    /// <summary>One score per scanned sample, in the scanned set's order.</summary>
    public required IReadOnlyList<float> Scores { get; init; }

    /// <summary>Scores of the clean reference images.</summary>
    public required IReadOnlyList<float> ReferenceScores { get; init; }

    /// <summary>The reference quantile the threshold was taken at.</summary>
    public required double ReferenceQuantile { get; init; }

    /// <summary>Samples scoring strictly above this are flagged.</summary>
    public required double Threshold { get; init; }

    /// <summary>Fraction of the clean reference images above the threshold: the false-positive rate on clean data.</summary>
    public required double ReferenceFalsePositiveRate { get; init; }

    /// <summary>Indices of all samples above the threshold, ascending.</summary>
    public required IReadOnlyList<int> FlaggedIndices { get; init; }

    /// <summary>Per given label: how the flagged samples are distributed.</summary>
    public required IReadOnlyList<ClassSuspicion> Classes { get; init; }

    /// <summary>The inferred target class (the most over-represented label among the flagged samples), or null when
    /// no label is over-represented with the required significance (clean data, clean-label or batch-time attacks).</summary>
    public int? InferredTarget { get; init; }

    /// <summary>The target the heads' scan inferred and the stem probe refuted (<see cref="SuspectExpansion.Refuted"/>):
    /// then <see cref="InferredTarget"/> is null and no sample is suspected. Null otherwise.</summary>
    public int? RefutedTarget { get; init; }

    /// <summary>Chernoff bound on the chance of the inferred target's over-representation (smaller is surer); 1 without a target.</summary>
    public double TargetChanceBound { get; init; } = 1;

    /// <summary>The suspected poisoned samples: the flagged ones, restricted to the inferred target's label when
    /// <see cref="PoisonScanOptions.RestrictToTarget"/> is set and a target was inferred. Ascending.</summary>
    public required IReadOnlyList<int> SuspectIndices { get; init; }

    /// <summary>The scanning head's predicted class for every scanned sample (what it would relabel them to); empty
    /// when the result was built without it.</summary>
    public IReadOnlyList<int> Predictions { get; init; } = [];

    /// <summary>The stage-2 epoch (from 0) whose head the scan used, when it chose among snapshots
    /// (<see cref="PoisonScanner.ScanSnapshots"/>); null for a scan of one given network or when the snapshots'
    /// ensemble was kept (<see cref="ScannedWithEnsemble"/>).</summary>
    public int? ScanEpoch { get; init; }

    /// <summary>The snapshot scan kept the ensemble of the snapshot heads (their mean log-probability).</summary>
    public bool ScannedWithEnsemble { get; init; }

    /// <summary>What <see cref="SuspectExpander"/> added (already part of <see cref="SuspectIndices"/> and
    /// <see cref="FlaggedIndices"/>); null when the scan was not expanded.</summary>
    public SuspectExpansion? Expansion { get; init; }

    /// <summary>Every head <see cref="PoisonScanner.ScanSnapshots"/> considered, in epoch order; empty otherwise.</summary>
    public IReadOnlyList<ScanCandidate> Candidates { get; init; } = [];

    /// <summary>The same scan decided with another score kind (threshold, flags, target and suspects recomputed from the
    /// same network passes), to compare scores; the scan's own kind gives an equal result.</summary>
    public PoisonScanResult WithScore(PoisonScore score) => Rescore is null ? (score == Score ? this : throw new InvalidOperationException("this result holds only its own score"))
        : Rescore(score) with { Predictions = Predictions, ScanEpoch = ScanEpoch, ScannedWithEnsemble = ScannedWithEnsemble, Candidates = Candidates };

    internal Func<PoisonScore, PoisonScanResult>? Rescore { get; init; }

    /// <summary>Precision, recall and ranking quality of the scan against known poisoned indices. For evaluation
    /// only, after the fact: a defense never knows them.</summary>
    public ScanQuality Against(IEnumerable<int> poisonedIndices)
    {
        ArgumentNullException.ThrowIfNull(poisonedIndices);
        var truth = poisonedIndices.ToHashSet();
        int hits = SuspectIndices.Count(truth.Contains);
        double precision = SuspectIndices.Count == 0 ? 0 : (double)hits / SuspectIndices.Count;
        double recall = truth.Count == 0 ? 0 : (double)hits / truth.Count;
        return new ScanQuality(precision, recall, SuspectIndices.Count, truth.Count, AreaUnderRoc(Scores, truth));
    }

    // Probability that a random poisoned sample outscores a random clean one (ties count half); null without both kinds.
    private static double? AreaUnderRoc(IReadOnlyList<float> scores, HashSet<int> positives)
    {
        int n = scores.Count, positiveCount = positives.Count(i => i >= 0 && i < n), negativeCount = n - positiveCount;
        if (positiveCount == 0 || negativeCount == 0) return null;
        var order = Enumerable.Range(0, n).OrderBy(i => scores[i]).ToArray();
        double rankSum = 0;
        for (int start = 0; start < n;)
        {
            int end = start;
            while (end + 1 < n && scores[order[end + 1]] == scores[order[start]]) end++;
            double averageRank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++)
                if (positives.Contains(order[k])) rankSum += averageRank;
            start = end + 1;
        }
        return (rankSum - (positiveCount * (positiveCount + 1) / 2.0)) / ((double)positiveCount * negativeCount);
    }
}

/// <summary>One stage-2 head (or the snapshots' ensemble) as the snapshot scan saw it.</summary>
/// <param name="Epoch">Its epoch (from 0); null for the ensemble of the snapshot heads.</param>
/// <param name="ValidationAccuracy">Its validation accuracy, when measured.</param>
/// <param name="Threshold">Its threshold (the reference quantile of its scores).</param>
/// <param name="Flagged">Samples above the threshold.</param>
/// <param name="InferredTarget">The target it inferred, if any.</param>
/// <param name="Suspects">Its suspects.</param>
/// <param name="ExcessSuspects">Suspects beyond the reference false-positive rate's share of the target's samples: what the scan maximises.</param>
public sealed record ScanCandidate(int? Epoch, double? ValidationAccuracy, double Threshold, int Flagged, int? InferredTarget, int Suspects, double ExcessSuspects);

/// <summary>The scan measured against the true poisoned indices (evaluation only).</summary>
/// <param name="Precision">Suspects that are poisoned / suspects.</param>
/// <param name="Recall">Poisoned samples among the suspects / poisoned samples.</param>
/// <param name="Suspects">Number of suspects.</param>
/// <param name="Poisoned">Number of truly poisoned samples.</param>
/// <param name="AreaUnderRoc">How well the score ranks poisoned above clean samples (threshold-free); null without both kinds.</param>
public sealed record ScanQuality(double Precision, double Recall, int Suspects, int Poisoned, double? AreaUnderRoc);
