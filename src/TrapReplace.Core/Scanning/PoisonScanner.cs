using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Replacement;
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
        var device = options.Device.ToTorch();
        var clock = Stopwatch.StartNew();
        // Both heads on both sets once; every score kind comes from these passes.
        cancellationToken.ThrowIfCancellationRequested();
        var replacedOnUntrusted = Evaluator.LogProbabilities(replaced, untrusted, device, options.BatchSize, options.ChannelsLast);
        var trappedOnUntrusted = Evaluator.LogProbabilities(trapped, untrusted, device, options.BatchSize, options.ChannelsLast);
        cancellationToken.ThrowIfCancellationRequested();
        var replacedOnReference = Evaluator.LogProbabilities(replaced, reference, device, options.BatchSize, options.ChannelsLast);
        var trappedOnReference = Evaluator.LogProbabilities(trapped, reference, device, options.BatchSize, options.ChannelsLast);
        var result = Decide(options.Score, ScoreAll(trappedOnUntrusted, replacedOnUntrusted, untrusted), ScoreAll(trappedOnReference, replacedOnReference, reference),
            untrusted.LabelArray(), untrusted.ClassCount, options) with { Predictions = Argmax(replacedOnUntrusted, untrusted.ClassCount) };

        ScanLog.Done(logger, untrusted.Count, options.Score, result.Threshold, result.ReferenceFalsePositiveRate, result.FlaggedIndices.Count,
            result.InferredTarget?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", result.SuspectIndices.Count, clock.Elapsed.TotalSeconds);
        return result;
    }

    /// <summary>
    /// The scan after Trap and Replace's stage 2, as every caller in this library runs it: <see cref="ScanSnapshots"/>
    /// with the holdout's validation split (the clean images neither head trained on) as the reference, then, when an
    /// <paramref name="expander"/> is given, the stem probe over the whole holdout (<see cref="SuspectExpander.Expand"/>),
    /// which finds the poison a stem that learned the trigger hides from every clean head.
    /// </summary>
    /// <param name="trapped">The stage-1 network.</param>
    /// <param name="replacement">Stage 2 on <paramref name="trapped"/>, fitted on <paramref name="holdout"/>.</param>
    /// <param name="untrusted">The set stage 1 trained on.</param>
    /// <param name="holdout">The holdout stage 2 trained on, all of it (its validation split is found through <paramref name="replacement"/>).</param>
    /// <param name="expander">The stem probe; null returns the heads' scan alone.</param>
    /// <param name="cancellationToken">Checked between passes.</param>
    /// <exception cref="InvalidOperationException">Stage 2 kept no validation split (its ValidationFraction was 0).</exception>
    public PoisonScanResult ScanAfterReplacement(TrapNetwork trapped, HeadReplacementResult replacement, ImageDataset untrusted, ImageDataset holdout,
        SuspectExpander? expander = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        ArgumentNullException.ThrowIfNull(holdout);
        if (replacement.ValidationIndices.Count == 0)
            throw new InvalidOperationException("the poison scan needs clean images neither head trained on, and stage 2 kept no validation split: " +
                "give stage 2 a ValidationFraction above 0 (0.1 is enough), or call PoisonScanner.Scan with your own clean reference images");
        PoisonScanResult scan;
        using (var reference = holdout.Subset(replacement.ValidationIndices, holdout.Name + "-validation"))
            scan = ScanSnapshots(trapped, replacement, untrusted, reference, cancellationToken);
        return expander?.Expand(trapped, untrusted, holdout, scan, cancellationToken) ?? scan;
    }

    /// <summary>
    /// Scans with the stage-2 head that kept least of the backdoor. A stem that learned the trigger lets the replaced
    /// head drift back to the target during stage 2 (its attack success rises and falls from epoch to epoch), and a
    /// head that assigns poisoned images to the target hides them from the scan. Every head of
    /// <see cref="HeadReplacementResult.Snapshots"/>, the returned head and the snapshots' ensemble (their mean
    /// log-probability) are scored against the trapped head; each gets its own threshold from the clean reference
    /// images, so each flags about the same share of clean data, and the scan keeps the candidate whose suspects exceed
    /// that expected share by the most (in the inferred target): the one that finds the most poison at the same
    /// false-positive rate. No label beyond the given ones is used.
    /// </summary>
    /// <param name="trapped">The stage-1 network.</param>
    /// <param name="replacement">Stage 2 on <paramref name="trapped"/>'s stem, with head snapshots; its network's head is
    /// restored before this returns.</param>
    /// <param name="untrusted">The training set stage 1 saw, with its given labels.</param>
    /// <param name="reference">Clean images that no head trained on (the holdout's validation part).</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <exception cref="ArgumentException">The replacement's stem is not the trapped network's, or the data disagree.</exception>
    public PoisonScanResult ScanSnapshots(TrapNetwork trapped, HeadReplacementResult replacement, ImageDataset untrusted, ImageDataset reference,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        if (replacement.Snapshots.Count == 0) return Scan(trapped, replacement.Network, untrusted, reference, cancellationToken) with { ScanEpoch = replacement.SelectedEpoch };
        ArgumentNullException.ThrowIfNull(trapped);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(reference);
        if (reference.Count == 0) throw new ArgumentException("the clean reference set is empty; pass the holdout's validation images", nameof(reference));
        if (untrusted.Count == 0) throw new ArgumentException("the untrusted set is empty", nameof(untrusted));
        var network = replacement.Network;
        if (network.ClassCount != trapped.ClassCount || network.ClassCount != untrusted.ClassCount || network.ClassCount != reference.ClassCount)
            throw new ArgumentException($"class counts differ: trapped {trapped.ClassCount}, replaced {network.ClassCount}, untrusted {untrusted.ClassCount}, reference {reference.ClassCount}", nameof(replacement));
        if (!SameWeights(trapped.Stem.Module, network.Stem.Module))
            throw new ArgumentException("the replacement's stem differs from the trapped network's: scan with the stage 2 made on this trapped network", nameof(replacement));

        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();
        var clock = Stopwatch.StartNew();
        var current = network.Head.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        // The returned head is a candidate too (epoch SelectedEpoch), after the snapshots.
        var candidates = replacement.Snapshots.Select(h => (Epoch: h.Epoch, h.ValidationAccuracy, h.State))
            .Append((Epoch: replacement.SelectedEpoch, replacement.ValidationAccuracy, State: (IReadOnlyDictionary<string, Tensor>)current)).ToArray();
        float[] trappedOnUntrusted, trappedOnReference;
        float[][] onUntrusted, onReference;
        try
        {
            (trappedOnUntrusted, onUntrusted) = HeadPasses(trapped, network, candidates.Select(c => c.State).ToArray(), untrusted, device, cancellationToken);
            (trappedOnReference, onReference) = HeadPasses(trapped, network, candidates.Select(c => c.State).ToArray(), reference, device, cancellationToken);
        }
        finally
        {
            LoadHead(network, current);
            foreach (var t in current.Values) t.Dispose();
        }

        var labels = untrusted.LabelArray();
        PoisonScanResult? best = null;
        var summaries = new List<ScanCandidate>();
        void Consider(int? epoch, double? validationAccuracy, float[] untrustedHead, float[] referenceHead)
        {
            var decided = Decide(options.Score, ScoreAll(trappedOnUntrusted, untrustedHead, untrusted), ScoreAll(trappedOnReference, referenceHead, reference),
                labels, untrusted.ClassCount, options);
            double excess = ExcessSuspects(decided);
            summaries.Add(new ScanCandidate(epoch, validationAccuracy, decided.Threshold, decided.FlaggedIndices.Count,
                decided.InferredTarget, decided.SuspectIndices.Count, excess));
            // Ties go to the later candidate (the returned head after the snapshots, the ensemble last of all).
            if (best is null || excess >= ExcessSuspects(best))
                best = decided with { ScanEpoch = epoch, ScannedWithEnsemble = epoch is null, Predictions = Argmax(untrustedHead, untrusted.ClassCount) };
        }
        for (int k = 0; k < candidates.Length; k++)
            Consider(candidates[k].Epoch, candidates[k].ValidationAccuracy, onUntrusted[k], onReference[k]);
        // The snapshot heads' mean log-probability: where the backdoor comes and goes from epoch to epoch, most heads
        // still refuse a poisoned image its poisoned label, and the mean keeps that.
        int snapshotCount = replacement.Snapshots.Count;
        Consider(null, null, MeanOf(onUntrusted.Take(snapshotCount)), MeanOf(onReference.Take(snapshotCount)));
        var result = best! with { Candidates = summaries };
        ScanLog.Done(logger, untrusted.Count, options.Score, result.Threshold, result.ReferenceFalsePositiveRate, result.FlaggedIndices.Count,
            result.InferredTarget?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", result.SuspectIndices.Count, clock.Elapsed.TotalSeconds);
        return result;
    }

    /// <summary>Suspects beyond what the reference's false-positive rate predicts among the target's labelled samples:
    /// an estimate, without any truth, of how many poisoned samples the scan found. 0 without a target.</summary>
    internal static double ExcessSuspects(PoisonScanResult scan) => scan.InferredTarget is int t
        ? scan.SuspectIndices.Count - (scan.ReferenceFalsePositiveRate * scan.Classes[t].Labelled)
        : 0;

    // Log-probabilities of the trapped head and of every candidate head over one stem pass per batch (the stems are equal).
    private (float[] Trapped, float[][] Candidates) HeadPasses(TrapNetwork trapped, TrapNetwork replaced, IReadOnlyDictionary<string, Tensor>[] heads,
        ImageDataset data, Device device, CancellationToken cancellationToken)
    {
        int classes = data.ClassCount;
        long n = data.Count;
        var trappedResult = new float[n * classes];
        var results = heads.Select(_ => new float[n * classes]).ToArray();
        bool trappedWasTraining = trapped.training, replacedWasTraining = replaced.training;
        trapped.eval();
        replaced.eval();
        try
        {
            using var noGrad = no_grad();
            for (long start = 0; start < n; start += options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = StepScope.Begin();
                long count = Math.Min(options.BatchSize, n - start);
                var batch = data.ImagesAsFloat(start, count).to(device);
                if (options.ChannelsLast) batch = MemoryLayout.ToChannelsLast(batch);
                var features = trapped.Stem.Module.call(batch);
                Copy(trapped.Head.Module.call(features), trappedResult, start, classes);
                for (int k = 0; k < heads.Length; k++)
                {
                    LoadHead(replaced, heads[k]);
                    Copy(replaced.Head.Module.call(features), results[k], start, classes);
                }
            }
            return (trappedResult, results);
        }
        finally
        {
            trapped.train(trappedWasTraining);
            replaced.train(replacedWasTraining);
        }
    }

    private static float[] MeanOf(IEnumerable<float[]> arrays)
    {
        var list = arrays.ToList();
        var mean = new float[list[0].Length];
        foreach (var array in list)
            for (int i = 0; i < mean.Length; i++) mean[i] += array[i];
        for (int i = 0; i < mean.Length; i++) mean[i] /= list.Count;
        return mean;
    }

    private static void Copy(Tensor logits, float[] into, long start, int classes)
    {
        var values = nn.functional.log_softmax(logits, 1).to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        Array.Copy(values, 0, into, start * classes, values.Length);
    }

    private static void LoadHead(TrapNetwork network, IReadOnlyDictionary<string, Tensor> state)
    {
        using var noGrad = no_grad();
        foreach (var (name, value) in network.Head.Module.state_dict()) value.copy_(state[name]);
    }

    private static bool SameWeights(nn.Module a, nn.Module b)
    {
        var left = a.state_dict();
        var right = b.state_dict();
        if (left.Count != right.Count) return false;
        foreach (var (name, value) in left)
        {
            if (!right.TryGetValue(name, out var other) || !value.shape.SequenceEqual(other.shape)) return false;
            using var cpuLeft = value.detach().cpu();
            using var cpuRight = other.detach().cpu();
            if (!cpuLeft.eq(cpuRight).all().item<bool>()) return false;
        }
        return true;
    }

    private static int[] Argmax(float[] logProbabilities, int classes)
    {
        var result = new int[logProbabilities.Length / classes];
        for (int i = 0; i < result.Length; i++)
        {
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (logProbabilities[(i * classes) + c] > logProbabilities[(i * classes) + best]) best = c;
            result[i] = best;
        }
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
    public static double? EstimateAttackSuccess(nn.Module<Tensor, Tensor> network, ImageDataset untrusted, PoisonScanResult scan, Device? device = null, bool channelsLast = true) =>
        EstimateBackdoorPull(network, untrusted, scan, device, channelsLast)?.TargetShare;

    /// <summary>
    /// A trigger-free estimate of how strongly <paramref name="network"/> still pulls the scan's suspects to any one
    /// class: for the inferred target, the share of suspects it assigns there (<see cref="EstimateAttackSuccess"/>); for
    /// every other class c, the share beyond what the images' own classes explain, (share − e) / (1 − e), where e is c's
    /// share of the untrusted samples not labelled with the target (dirty-label poison is drawn from them in
    /// proportion). The largest of these. A defense that moves a backdoor to another class shows here, where the
    /// target share alone reads zero (<see cref="PullScope.TargetOnly"/> counts the target alone). Null when the scan
    /// inferred no target or has no suspects.
    /// </summary>
    /// <param name="network">Any classifier over the same classes.</param>
    /// <param name="untrusted">The scanned set (the suspects index into it).</param>
    /// <param name="scan">The scan's result.</param>
    /// <param name="device">Device the network is on.</param>
    /// <param name="channelsLast">Run batches channels-last.</param>
    /// <param name="scope">Which classes count.</param>
    public static BackdoorPull? EstimateBackdoorPull(nn.Module<Tensor, Tensor> network, ImageDataset untrusted, PoisonScanResult scan, Device? device = null, bool channelsLast = true,
        PullScope scope = PullScope.AnyClass)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(scan);
        if (scan.InferredTarget is not int target || scan.SuspectIndices.Count == 0) return null;
        return BackdoorPull.From(Predictions(network, untrusted, scan.SuspectIndices, device, channelsLast), untrusted.LabelArray(), untrusted.ClassCount, target, scope);
    }

    // The network's class for each of `indices` in `data`.
    private static int[] Predictions(nn.Module<Tensor, Tensor> network, ImageDataset data, IReadOnlyList<int> indices, Device? device, bool channelsLast)
    {
        using var subset = data.Subset(indices, data.Name + "-subset");
        return Argmax(Evaluator.LogProbabilities(network, subset, device ?? CPU, channelsLast: channelsLast), data.ClassCount);
    }

    /// <summary>
    /// The pull estimate (<see cref="EstimateBackdoorPull(nn.Module{Tensor, Tensor}, ImageDataset, PoisonScanResult, Device?, bool, PullScope)"/>)
    /// read the way <paramref name="labelling"/> says the suspects were poisoned. Dirty-label: as that overload.
    /// Clean-label: the suspects are target images, so a network without the backdoor sends many of them to the target
    /// too; only the target's share beyond the network's recall of the target on <paramref name="cleanReference"/>'s
    /// images counts, and only as far as the two sample sizes support it (<see cref="BackdoorPull.Value"/> is the lower
    /// 95 % confidence bound of share − recall, over 1 − recall). Null when the scan inferred no target or has no suspects.
    /// </summary>
    /// <param name="network">Any classifier over the same classes.</param>
    /// <param name="untrusted">The scanned set (the suspects index into it).</param>
    /// <param name="scan">The scan's result.</param>
    /// <param name="labelling">How the suspects were poisoned (<see cref="PoisonLabellingEvidence.Infer"/>).</param>
    /// <param name="cleanReference">Clean labelled images the network did not train on (a validation part of the
    /// holdout); clean-label only.</param>
    /// <param name="device">Device the network is on.</param>
    /// <param name="channelsLast">Run batches channels-last.</param>
    /// <param name="scope">Dirty-label: which classes count. Clean-label suspects count the target alone whatever it says.</param>
    /// <exception cref="ArgumentException">Clean-label, and the reference holds no image of the target class.</exception>
    public static BackdoorPull? EstimateBackdoorPull(nn.Module<Tensor, Tensor> network, ImageDataset untrusted, PoisonScanResult scan, PoisonLabelling labelling,
        ImageDataset cleanReference, Device? device = null, bool channelsLast = true, PullScope scope = PullScope.AnyClass)
    {
        ArgumentNullException.ThrowIfNull(cleanReference);
        if (labelling == PoisonLabelling.DirtyLabel) return EstimateBackdoorPull(network, untrusted, scan, device, channelsLast, scope);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(scan);
        if (scan.InferredTarget is not int target || scan.SuspectIndices.Count == 0) return null;
        var referenceLabels = cleanReference.LabelArray();
        var targetImages = Enumerable.Range(0, cleanReference.Count).Where(i => referenceLabels[i] == target).ToArray();
        if (targetImages.Length == 0)
            throw new ArgumentException($"the clean reference {cleanReference.Name} holds no image of the target class {target}: the network's recall of it cannot be measured", nameof(cleanReference));
        int recalled = Predictions(network, cleanReference, targetImages, device, channelsLast).Count(p => p == target);
        return BackdoorPull.FromCleanLabel(Predictions(network, untrusted, scan.SuspectIndices, device, channelsLast), untrusted.ClassCount, target, recalled, targetImages.Length);
    }

    // Every score kind for every sample of `data`, from the two heads' log-probabilities.
    private static Dictionary<PoisonScore, float[]> ScoreAll(float[] t, float[] r, ImageDataset data)
    {
        int classes = data.ClassCount;
        var labels = data.LabelArray();
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
