using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Runtime;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Scanning;

/// <summary>
/// Finds the poisoned samples of an untrusted training set after Trap and Replace. The trapped network learned the
/// given (possibly poisoned) labels; the replaced network, on the same stem, learned clean labels only; where the two
/// disagree about a sample's given label is where the backdoor lives. Every sample gets a <see cref="PoisonScore"/>;
/// the threshold is a quantile of the same score on clean reference images that neither head trained on (the
/// validation part of the holdout), so its false-positive rate on clean data is known; the target class is the
/// label most over-represented among the flagged samples.
/// </summary>
public sealed class PoisonScanner
{
    private readonly PoisonScanOptions options;
    private readonly ILogger logger;

    /// <summary>Creates a scanner; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">An option is invalid (all problems are listed).</exception>
    public PoisonScanner(PoisonScanOptions? options = null, ILogger<PoisonScanner>? logger = null)
    {
        this.options = (options ?? new PoisonScanOptions()).Clone();
        this.options.ThrowIfInvalid();
        this.logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>A copy of the options in use.</summary>
    public PoisonScanOptions Options => options.Clone();

    /// <summary>Scores every sample of <paramref name="untrusted"/> and flags the suspicious ones.</summary>
    /// <param name="trapped">The stage-1 network (its head learned the untrusted labels).</param>
    /// <param name="replaced">The stage-2 network (its head learned the clean holdout).</param>
    /// <param name="untrusted">The training set stage 1 saw, with its given labels.</param>
    /// <param name="reference">Clean images with true labels that neither head trained on (the holdout's validation part).</param>
    /// <param name="cancellationToken">Checked between the passes.</param>
    /// <exception cref="ArgumentException">The networks and data disagree on the class count, or the reference is empty.</exception>
    public PoisonScanResult Scan(TrapNetwork trapped, TrapNetwork replaced, ImageDataset untrusted, ImageDataset reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapped);
        ArgumentNullException.ThrowIfNull(replaced);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(reference);
        if (reference.Count == 0) throw new ArgumentException("the clean reference set is empty; pass the holdout's validation images", nameof(reference));
        if (untrusted.Count == 0) throw new ArgumentException("the untrusted set is empty", nameof(untrusted));
        foreach (var (network, name) in new[] { (trapped, nameof(trapped)), (replaced, nameof(replaced)) })
            if (network.ClassCount != untrusted.ClassCount || network.ClassCount != reference.ClassCount)
                throw new ArgumentException($"the {name} network has {network.ClassCount} classes; the untrusted set {untrusted.ClassCount}, the reference {reference.ClassCount}", name);

        TorchRuntime.Prepare(options.Threads);
        var device = Optimization.ResolveDevice(options.Device);
        var clock = Stopwatch.StartNew();
        // Both heads on both sets once; every score kind comes from these passes.
        var scores = ScoreAll(trapped, replaced, untrusted, device, cancellationToken);
        var referenceScores = ScoreAll(trapped, replaced, reference, device, cancellationToken);
        var result = Decide(options.Score, scores, referenceScores, untrusted.LabelArray(), untrusted.ClassCount, options);

        ScanLog.Done(logger, untrusted.Count, options.Score, result.Threshold, result.ReferenceFalsePositiveRate, result.FlaggedIndices.Count,
            result.InferredTarget?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", result.SuspectIndices.Count, clock.Elapsed.TotalSeconds);
        return result;
    }

    // Threshold, flags, target and suspects for one score kind.
    internal static PoisonScanResult Decide(PoisonScore score, IReadOnlyDictionary<PoisonScore, float[]> all, IReadOnlyDictionary<PoisonScore, float[]> allReference,
        long[] labels, int classCount, PoisonScanOptions options)
    {
        var scores = all[score];
        var referenceScores = allReference[score];
        double threshold = Quantile(referenceScores, options.ReferenceQuantile);
        double falsePositiveRate = (double)referenceScores.Count(s => s > threshold) / referenceScores.Length;
        var flagged = Enumerable.Range(0, scores.Length).Where(i => scores[i] > threshold).ToArray();
        var classes = Suspicion(labels, flagged, classCount);
        var candidate = classes.Where(c => c.Flagged >= options.MinimumTargetSuspects && c.Enrichment > 1)
            .OrderByDescending(c => c.Enrichment).ThenBy(c => c.ChanceBound).FirstOrDefault();
        int? target = candidate is not null && candidate.ChanceBound <= options.TargetSignificance ? candidate.Class : null;
        var suspects = target is int t && options.RestrictToTarget ? flagged.Where(i => labels[i] == t).ToArray() : flagged;
        return new PoisonScanResult
        {
            Score = score,
            Scores = scores,
            ReferenceScores = referenceScores,
            ReferenceQuantile = options.ReferenceQuantile,
            Threshold = threshold,
            ReferenceFalsePositiveRate = falsePositiveRate,
            FlaggedIndices = flagged,
            Classes = classes,
            InferredTarget = target,
            TargetChanceBound = target is null ? 1 : candidate!.ChanceBound,
            SuspectIndices = suspects,
            Rescore = kind => Decide(kind, all, allReference, labels, classCount, options),
        };
    }

    /// <summary>
    /// A trigger-free estimate of attack success: the fraction of the scan's suspects (poisoned images, as far as the
    /// scan is right) that <paramref name="network"/> assigns to the inferred target. Null when the scan inferred no
    /// target or has no suspects.
    /// </summary>
    /// <param name="network">Any classifier over the same classes (for example a stage-2 head after each epoch).</param>
    /// <param name="untrusted">The scanned set (the suspects index into it).</param>
    /// <param name="scan">The scan's result.</param>
    /// <param name="device">Device the network is on.</param>
    /// <param name="channelsLast">Run batches channels-last.</param>
    public static double? EstimateAttackSuccess(nn.Module<Tensor, Tensor> network, ImageDataset untrusted, PoisonScanResult scan, Device? device = null, bool channelsLast = true)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(scan);
        if (scan.InferredTarget is not int target || scan.SuspectIndices.Count == 0) return null;
        using var suspects = untrusted.Subset(scan.SuspectIndices, untrusted.Name + "-suspects");
        var logProbabilities = Evaluator.LogProbabilities(network, suspects, device ?? CPU, channelsLast: channelsLast);
        int classes = untrusted.ClassCount, hits = 0;
        for (int i = 0; i < suspects.Count; i++)
        {
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (logProbabilities[(i * classes) + c] > logProbabilities[(i * classes) + best]) best = c;
            if (best == target) hits++;
        }
        return (double)hits / suspects.Count;
    }

    // Every score kind for every sample of `data`.
    private Dictionary<PoisonScore, float[]> ScoreAll(TrapNetwork trapped, TrapNetwork replaced, ImageDataset data, Device device, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int classes = data.ClassCount;
        var labels = data.LabelArray();
        var r = Evaluator.LogProbabilities(replaced, data, device, options.BatchSize, options.ChannelsLast);
        cancellationToken.ThrowIfCancellationRequested();
        var t = Evaluator.LogProbabilities(trapped, data, device, options.BatchSize, options.ChannelsLast);
        var result = Enum.GetValues<PoisonScore>().ToDictionary(k => k, _ => new float[data.Count]);
        for (int i = 0; i < data.Count; i++)
        {
            int row = i * classes, y = (int)labels[i];
            float replacedOnLabel = r[row + y], best = float.NegativeInfinity;
            for (int c = 0; c < classes; c++) best = Math.Max(best, r[row + c]);
            result[PoisonScore.LikelihoodGap][i] = t[row + y] - replacedOnLabel;
            result[PoisonScore.ReplacedLoss][i] = -replacedOnLabel;
            result[PoisonScore.ReplacedMargin][i] = best - replacedOnLabel;
            if (!float.IsFinite(t[row + y]) || !float.IsFinite(replacedOnLabel) || !float.IsFinite(best))
                throw new ArgumentException($"sample {i} of {data.Name} gives a non-finite score: a network output is NaN or infinite", nameof(data));
        }
        return result;
    }

    // Nearest-rank quantile: the smallest value with at least q of the values at or below it.
    internal static double Quantile(float[] values, double q)
    {
        var sorted = values.Order().ToArray();
        int rank = Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[rank];
    }

    internal static ClassSuspicion[] Suspicion(long[] labels, int[] flagged, int classCount)
    {
        var labelled = new int[classCount];
        foreach (var l in labels) labelled[l]++;
        var flaggedPerClass = new int[classCount];
        foreach (var i in flagged) flaggedPerClass[labels[i]]++;
        return Enumerable.Range(0, classCount).Select(c =>
        {
            double baseRate = (double)labelled[c] / labels.Length;
            double share = flagged.Length == 0 ? 0 : (double)flaggedPerClass[c] / flagged.Length;
            double enrichment = baseRate == 0 ? 0 : share / baseRate;
            return new ClassSuspicion(c, flaggedPerClass[c], labelled[c], share, baseRate, enrichment, ChernoffBound(flaggedPerClass[c], flagged.Length, baseRate));
        }).ToArray();
    }

    // P(X >= k) for X ~ Binomial(n, p) is at most exp(-n KL(k/n || p)) when k/n > p.
    internal static double ChernoffBound(int k, int n, double p)
    {
        if (n == 0 || p <= 0 || p >= 1) return 1;
        double a = (double)k / n;
        if (a <= p) return 1;
        double kl = a * Math.Log(a / p) + (a < 1 ? (1 - a) * Math.Log((1 - a) / (1 - p)) : 0);
        return Math.Exp(-n * kl);
    }
}

internal static partial class ScanLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "poison scan of {Count} samples ({Score}): threshold {Threshold:F4} (reference false-positive rate {FalsePositiveRate:P2}), {Flagged} flagged, inferred target {Target}, {Suspects} suspects, {Seconds:F1} s")]
    public static partial void Done(ILogger logger, int count, PoisonScore score, double threshold, double falsePositiveRate, int flagged, string target, int suspects, double seconds);
}
