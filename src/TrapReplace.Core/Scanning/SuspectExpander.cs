using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Runtime;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Scanning;

/// <summary>What <see cref="SuspectExpander"/> added to a scan.</summary>
/// <param name="AddedIndices">Untrusted samples (labelled with the target) that the probe flagged and the scan had not, ascending.</param>
/// <param name="Threshold">The probe score above which a sample is flagged: the <see cref="SuspectExpansionOptions.Quantile"/>
/// of the out-of-fold scores of the holdout's target-class images.</param>
/// <param name="HoldoutFalsePositiveRate">Share of the holdout's target-class images whose out-of-fold score exceeds the threshold.</param>
/// <param name="Features">Length of the pooled stem feature the probe reads.</param>
/// <param name="Seeds">Scan suspects the probe learned from (its positives).</param>
/// <param name="Seconds">Wall time of the expansion.</param>
public sealed record SuspectExpansion(IReadOnlyList<int> AddedIndices, double Threshold, double HoldoutFalsePositiveRate, int Features, int Seeds, double Seconds)
{
    /// <summary>Scan suspects the probe dropped (<see cref="SuspectExpansionOptions.PruneSeeds"/>): scored by a probe that did
    /// not train on them, they stayed at or below the threshold. Ascending; empty when pruning is off.</summary>
    public IReadOnlyList<int> DroppedIndices { get; init; } = [];

    /// <summary>Scan suspects the probe confirmed (scored above the threshold by a probe that did not train on them);
    /// equal to <see cref="Seeds"/> when pruning is off.</summary>
    public int Confirmed { get; init; }

    /// <summary>The probe confirmed fewer than <see cref="SuspectExpansionOptions.MinimumConfirmedShare"/> of the suspects:
    /// they share no stem feature that clean target-class images lack, so they are no poison population and the scan's
    /// target is withdrawn (<see cref="PoisonScanResult.RefutedTarget"/>); every suspect is then in
    /// <see cref="DroppedIndices"/> and nothing is added.</summary>
    public bool Refuted { get; init; }
}

/// <summary>
/// Widens a poison scan through the stem. The scan finds the poisoned samples a clean head refuses their label, but
/// where the stem itself learned the trigger a clean head drifts back to the target and the scan misses them (Blend:
/// half the poison). What the stem learned is also what gives those samples away: a linear probe on the stem's
/// pooled features, trained to tell the scan's suspects (positives) from clean images (the whole holdout, and
/// untrusted samples labelled with another class, which dirty-label poison never is), flags the other samples labelled
/// with the target that carry the same feature. Its threshold is set on the holdout's own target-class images,
/// each scored by a probe that did not train on it (k-fold), so the false-positive rate on clean images of the
/// target class, the only ones that can be confused, is known. No label beyond the given ones, no trigger, no test data.
/// </summary>
public sealed class SuspectExpander
{
    private readonly SuspectExpansionOptions options;
    private readonly ILogger logger;

    /// <summary>Creates an expander; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">An option is invalid (all problems are listed).</exception>
    public SuspectExpander(SuspectExpansionOptions? options = null, ILogger<SuspectExpander>? logger = null)
    {
        this.options = (options ?? new SuspectExpansionOptions()).Clone();
        this.options.ThrowIfInvalid();
        this.logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Returns <paramref name="scan"/> with the probe's finds added to its suspects (and flags) and
    /// <see cref="PoisonScanResult.Expansion"/> set; the scan unchanged when it inferred no target or has fewer than
    /// <see cref="SuspectExpansionOptions.MinimumSeeds"/> suspects to learn from, or when the holdout has fewer images of
    /// the inferred target than <see cref="SuspectExpansionOptions.Folds"/> (no calibrated threshold; a warning is
    /// logged); without a target or suspects when the probe refutes them (<see cref="SuspectExpansion.Refuted"/>).
    /// </summary>
    /// <param name="network">The network whose stem the scan's untrusted set trained (the trapped network).</param>
    /// <param name="untrusted">The scanned set, with its given labels.</param>
    /// <param name="holdout">The clean holdout (all of it: the probe never trains on the stem, so stage 2's use of it does not matter).</param>
    /// <param name="scan">The scan of <paramref name="untrusted"/>.</param>
    /// <param name="cancellationToken">Checked between batches and folds.</param>
    /// <exception cref="ArgumentException">The scan was made for another set, or the holdout has another class count.</exception>
    public PoisonScanResult Expand(TrapNetwork network, ImageDataset untrusted, ImageDataset holdout, PoisonScanResult scan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(holdout);
        ArgumentNullException.ThrowIfNull(scan);
        if (scan.Scores.Count != untrusted.Count)
            throw new ArgumentException($"the scan covers {scan.Scores.Count} samples; the untrusted set has {untrusted.Count}", nameof(scan));
        if (holdout.ClassCount != untrusted.ClassCount)
            throw new ArgumentException($"the holdout has {holdout.ClassCount} classes; the untrusted set {untrusted.ClassCount}", nameof(holdout));
        if (scan.InferredTarget is not int target || scan.SuspectIndices.Count < options.MinimumSeeds) return scan;

        var holdoutLabels = holdout.LabelArray();
        var targetHoldout = Enumerable.Range(0, holdout.Count).Where(i => holdoutLabels[i] == target).ToArray();
        if (targetHoldout.Length < options.Folds)
        {
            // The threshold is a quantile of these images' out-of-fold scores: without one per fold there is no
            // calibrated threshold, so the heads' scan stands (a rare target class, or a very small holdout).
            ExpansionLog.TooFewCleanTargetImages(logger, targetHoldout.Length, target, options.Folds);
            return scan;
        }

        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        var untrustedFeatures = Features(network, untrusted, device, cancellationToken);
        var holdoutFeatures = Features(network, holdout, device, cancellationToken);
        // Standardised on the untrusted set, so the probe's weight decay treats every feature alike.
        var mean = untrustedFeatures.mean([0], keepdim: true);
        var std = untrustedFeatures.std(0, keepdim: true).clamp_min(1e-6);
        untrustedFeatures = untrustedFeatures.sub(mean).div_(std);
        holdoutFeatures = holdoutFeatures.sub(mean).div_(std);

        var labels = untrusted.LabelArray();
        var suspects = scan.SuspectIndices.ToHashSet();
        var random = new Random(options.Seed);
        var otherClasses = Enumerable.Range(0, untrusted.Count).Where(i => labels[i] != target).ToArray();
        random.Shuffle(otherClasses);
        var negatives = otherClasses.Take(options.MaximumNegatives).Order().ToArray();
        var candidates = Enumerable.Range(0, untrusted.Count).Where(i => labels[i] == target && !suspects.Contains(i)).ToArray();

        // Stratified folds over the holdout: every image is scored once by a probe that did not train on it.
        var fold = new int[holdout.Count];
        foreach (var group in Enumerable.Range(0, holdout.Count).GroupBy(i => holdoutLabels[i]))
        {
            var members = group.ToArray();
            random.Shuffle(members);
            for (int k = 0; k < members.Length; k++) fold[members[k]] = k % options.Folds;
        }

        // With pruning, the suspects get folds of their own (from a second stream, so the holdout's folds are the same
        // either way) and each fold's probe learns without its fold's suspects.
        var seeds = scan.SuspectIndices.ToArray();
        var seedFold = new int[seeds.Length];
        if (options.PruneSeeds)
        {
            var order = Enumerable.Range(0, seeds.Length).ToArray();
            new Random(options.Seed + 1).Shuffle(order);
            for (int k = 0; k < order.Length; k++) seedFold[order[k]] = k % options.Folds;
        }
        var seedFeatures = untrustedFeatures.index_select(0, tensor(seeds.Select(i => (long)i).ToArray()));
        var seedScores = new float[seeds.Length];
        var otherNegatives = untrustedFeatures.index_select(0, tensor(negatives.Select(i => (long)i).ToArray()));
        var candidateFeatures = untrustedFeatures.index_select(0, tensor(candidates.Select(i => (long)i).ToArray()));
        var outOfFold = new float[holdout.Count];
        var candidateScores = zeros(candidates.Length);
        for (int k = 0; k < options.Folds; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var trainHoldout = Enumerable.Range(0, holdout.Count).Where(i => fold[i] != k).ToArray();
            var heldOut = Enumerable.Range(0, holdout.Count).Where(i => fold[i] == k).ToArray();
            var holdoutTrain = holdoutFeatures.index_select(0, tensor(trainHoldout.Select(i => (long)i).ToArray()));
            var trainTargetMask = tensor(trainHoldout.Select(i => holdoutLabels[i] == target).ToArray());
            var trainSeeds = options.PruneSeeds ? Enumerable.Range(0, seeds.Length).Where(j => seedFold[j] != k).ToArray() : null;
            var positives = trainSeeds is null ? seedFeatures : seedFeatures.index_select(0, tensor(trainSeeds.Select(j => (long)j).ToArray()));
            var (weight, bias) = TrainProbe(positives, otherNegatives, holdoutTrain, trainTargetMask);
            if (options.PruneSeeds)
            {
                var heldOutSeeds = Enumerable.Range(0, seeds.Length).Where(j => seedFold[j] == k).ToArray();
                var scored = seedFeatures.index_select(0, tensor(heldOutSeeds.Select(j => (long)j).ToArray())).matmul(weight).add_(bias).data<float>().ToArray();
                for (int j = 0; j < heldOutSeeds.Length; j++) seedScores[heldOutSeeds[j]] = scored[j];
            }
            var heldOutScores = holdoutFeatures.index_select(0, tensor(heldOut.Select(i => (long)i).ToArray())).matmul(weight).add_(bias).data<float>().ToArray();
            for (int j = 0; j < heldOut.Length; j++) outOfFold[heldOut[j]] = heldOutScores[j];
            candidateScores.add_(candidateFeatures.matmul(weight).add_(bias));
        }
        candidateScores.div_(options.Folds);

        var targetScores = targetHoldout.Select(i => outOfFold[i]).ToArray();
        double threshold = PoisonScanner.Quantile(targetScores, options.Quantile);
        double falsePositiveRate = (double)targetScores.Count(s => s > threshold) / targetScores.Length;
        var dropped = options.PruneSeeds ? Enumerable.Range(0, seeds.Length).Where(j => seedScores[j] <= threshold).Select(j => seeds[j]).ToArray() : [];
        int confirmed = seeds.Length - dropped.Length;
        if (options.PruneSeeds && confirmed < options.MinimumConfirmedShare * seeds.Length)
        {
            // The heads' suspects are samples the trapped head memorised and a clean head finds hard (on WaNet, whose
            // poison is made per batch and never stored, the hardest class: 779 cats, of which the probe confirmed 14),
            // not images that carry a trigger. The real attacks measured at the full profile kept at least 85 %.
            var refutation = new SuspectExpansion([], threshold, falsePositiveRate, (int)untrustedFeatures.shape[1], seeds.Length, clock.Elapsed.TotalSeconds)
            {
                DroppedIndices = [.. scan.SuspectIndices],
                Confirmed = confirmed,
                Refuted = true,
            };
            ExpansionLog.Refuted(logger, target, confirmed, seeds.Length, options.MinimumConfirmedShare, threshold, refutation.Seconds);
            return scan with { SuspectIndices = [], InferredTarget = null, TargetChanceBound = 1, RefutedTarget = target, Expansion = refutation };
        }
        var scores = candidateScores.data<float>().ToArray();
        var added = Enumerable.Range(0, candidates.Length).Where(j => scores[j] > threshold).Select(j => candidates[j]).ToArray();
        var expansion = new SuspectExpansion(added, threshold, falsePositiveRate, (int)untrustedFeatures.shape[1], scan.SuspectIndices.Count, clock.Elapsed.TotalSeconds)
        {
            DroppedIndices = dropped,
            Confirmed = confirmed,
        };
        ExpansionLog.Done(logger, scan.SuspectIndices.Count, added.Length, dropped.Length, threshold, falsePositiveRate, expansion.Seconds);
        var droppedSet = dropped.ToHashSet();
        return scan with
        {
            SuspectIndices = scan.SuspectIndices.Where(i => !droppedSet.Contains(i)).Concat(added).Order().ToArray(),
            FlaggedIndices = scan.FlaggedIndices.Concat(added).Distinct().Order().ToArray(),
            Expansion = expansion,
        };
    }

    // L2-regularised logistic regression, full batch: the suspects against clean images, each of the three groups
    // carrying a fixed share of the loss so that the few target-class holdout images weigh as much as they matter.
    private (Tensor Weight, Tensor Bias) TrainProbe(Tensor positives, Tensor otherNegatives, Tensor holdout, Tensor holdoutIsTarget)
    {
        var x = cat([positives, otherNegatives, holdout], 0);
        var y = cat([ones(positives.shape[0]), zeros(otherNegatives.shape[0]), zeros(holdout.shape[0])], 0);
        long targetCount = holdoutIsTarget.sum().item<long>(), restCount = holdout.shape[0] - targetCount;
        var holdoutWeights = where(holdoutIsTarget, tensor(0.25f / Math.Max(1, targetCount)), tensor(0.25f / Math.Max(1, restCount)));
        var sampleWeights = cat([full(new[] { positives.shape[0] }, 0.5f / positives.shape[0]), full(new[] { otherNegatives.shape[0] }, 0.25f / Math.Max(1, otherNegatives.shape[0])),
            holdoutWeights], 0);
        var weight = new TorchSharp.Modules.Parameter(zeros(x.shape[1]));
        var bias = new TorchSharp.Modules.Parameter(zeros(1));
        using var optimizer = optim.Adam([weight, bias], options.LearningRate);
        // No dispose scope per step: the optimiser's state is created on its first step and must outlive it; the
        // caller's scope frees the step tensors (a few of the sample count each).
        for (int step = 0; step < options.Steps; step++)
        {
            using var pause = GcPause.Begin();
            optimizer.zero_grad();
            var logits = x.matmul(weight).add(bias);
            var loss = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction: nn.Reduction.None).mul(sampleWeights).sum()
                .add(weight.pow(2).sum().mul(options.WeightDecay / 2));
            loss.backward();
            optimizer.step();
        }
        return (weight.detach(), bias.detach());
    }

    // The stem's output pooled to a small grid (the finest whose length stays within MaximumFeatures), one row per image.
    private Tensor Features(TrapNetwork network, ImageDataset data, Device device, CancellationToken cancellationToken)
    {
        bool wasTraining = network.training;
        network.eval();
        try
        {
            using var noGrad = no_grad();
            var rows = new List<Tensor>();
            for (long start = 0; start < data.Count; start += options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = StepScope.Begin();
                long count = Math.Min(options.BatchSize, data.Count - start);
                var batch = data.ImagesAsFloat(start, count).to(device);
                if (options.ChannelsLast) batch = MemoryLayout.ToChannelsLast(batch);
                var map = network.Stem.Module.call(batch).to(ScalarType.Float32);
                long channels = map.shape[1], side = Math.Min(map.shape[2], map.shape[3]);
                long grid = 1;
                while (grid * 2 <= side && channels * (grid * 2) * (grid * 2) <= options.MaximumFeatures) grid *= 2;
                var pooled = nn.functional.adaptive_avg_pool2d(map, [grid, grid]).reshape(count, -1).cpu().contiguous();
                rows.Add(pooled.MoveToOuterDisposeScope());
            }
            var all = cat(rows, 0);
            foreach (var r in rows) r.Dispose();
            return all;
        }
        finally
        {
            network.train(wasTraining);
        }
    }
}

internal static partial class ExpansionLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "suspect expansion: a stem probe learned from {Seeds} suspects, added {Added} and dropped {Dropped} (threshold {Threshold:F3}, holdout target-class false-positive rate {FalsePositiveRate:P2}), {Seconds:F1} s")]
    public static partial void Done(ILogger logger, int seeds, int added, int dropped, double threshold, double falsePositiveRate, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suspect expansion: the stem probe confirmed {Confirmed} of {Seeds} suspects of class {Target} (fewer than {MinimumShare:P0}; threshold {Threshold:F3}): they carry no common trigger feature, so the scan's target is withdrawn and no sample is suspected, {Seconds:F1} s")]
    public static partial void Refuted(ILogger logger, int target, int confirmed, int seeds, double minimumShare, double threshold, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suspect expansion skipped: the holdout has {Count} images of class {Target}, fewer than the probe's {Folds} folds, so no threshold can be calibrated on clean images of the target; the heads' scan stands")]
    public static partial void TooFewCleanTargetImages(ILogger logger, int count, int target, int folds);
}
