using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Scanning;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Cleansing;

/// <summary>The outcome of stem cleansing. Disposing it disposes both networks.</summary>
/// <param name="Continued">The last round's continued stage 1 on the cleansed set (its network carries the cleansed stem).</param>
/// <param name="Replacement">The last round's head replacement: the defended network.</param>
/// <param name="Mode">What was done with the suspects.</param>
/// <param name="SuspectCount">How many suspects were removed or relabelled (all rounds, the held-out ones included).</param>
/// <param name="RelabelledToOtherClass">Suspects trained on under a new label, different from the given one (relabel mode).</param>
/// <param name="Seconds">Wall time of the whole cleansing.</param>
public sealed record StemCleansingResult(TrapTrainingResult Continued, HeadReplacementResult Replacement, CleansingMode Mode, int SuspectCount,
    int RelabelledToOtherClass, double Seconds) : IDisposable
{
    /// <summary>The suspects kept out of the continued training to estimate attack success on (indices into the untrusted set).</summary>
    public IReadOnlyList<int> EstimateSuspects { get; init; } = [];

    /// <summary>What each round did, first to last.</summary>
    public IReadOnlyList<CleansingRound> Rounds { get; init; } = [];

    /// <summary>Per class: how many suspects the scanning heads relabelled to it and how many of those were kept (the
    /// rest, beyond the class's share, went to classes short of theirs at random or were removed;
    /// <see cref="StemCleansingOptions.RelabelShareLimit"/>, <see cref="StemCleansingOptions.FillRelabels"/>). Empty in remove mode.</summary>
    public IReadOnlyList<ClassRelabels> Relabels { get; init; } = [];

    /// <summary>How the suspects look to have been poisoned, which decides how the attack estimate reads them
    /// (<see cref="PoisonScanner.EstimateBackdoorPull(TorchSharp.torch.nn.Module{TorchSharp.torch.Tensor, TorchSharp.torch.Tensor}, ImageDataset, PoisonScanResult, PoisonLabelling, ImageDataset, TorchSharp.torch.Device?, bool, PullScope)"/>).</summary>
    public PoisonLabellingEvidence? Labelling { get; init; }

    /// <summary>Which network is the result, and how both candidates measured.</summary>
    public CleansingFinal Final { get; init; } = new(false, null, null, null, null);

    /// <summary>The defended network: the cleansed stem with the new head, or the continued network itself when
    /// <see cref="CleansingFinal.KeptContinuedNetwork"/>.</summary>
    public TrapNetwork Defended => Final.KeptContinuedNetwork ? Continued.Network : Replacement.Network;

    /// <inheritdoc />
    public void Dispose()
    {
        Continued.Network.Dispose();
        Replacement.Network.Dispose();
    }
}

/// <summary>Suspects relabelled to one class by the scanning heads.</summary>
/// <param name="Class">The new label.</param>
/// <param name="Relabelled">Suspects the heads gave this label (not their given one).</param>
/// <param name="Kept">Of those, how many kept that label; the rest, beyond the class's share, were given a random class
/// short of its share (<see cref="StemCleansingOptions.FillRelabels"/>) or removed.</param>
public sealed record ClassRelabels(int Class, int Relabelled, int Kept)
{
    /// <summary>Suspects from other classes' excess given this class at random.</summary>
    public int Filled { get; init; }
}

/// <summary>The choice between the last round's two networks.</summary>
/// <param name="KeptContinuedNetwork">The continued network (cleansed stem and its own head, trained on the cleansed
/// untrusted set) scored at least as high as the replaced head and is the result.</param>
/// <param name="ReplacedValidationAccuracy">Validation accuracy of the replaced head.</param>
/// <param name="ReplacedEstimatedAttackSuccess">Its label-free attack estimate: the largest class pull on the held-out
/// suspects (<see cref="PoisonScanner.EstimateBackdoorPull(TorchSharp.torch.nn.Module{TorchSharp.torch.Tensor, TorchSharp.torch.Tensor}, ImageDataset, PoisonScanResult, TorchSharp.torch.Device?, bool, PullScope)"/>).</param>
/// <param name="ContinuedValidationAccuracy">Validation accuracy of the continued network; null when it was not considered.</param>
/// <param name="ContinuedEstimatedAttackSuccess">Its label-free attack estimate (largest class pull); null when not considered.</param>
public sealed record CleansingFinal(bool KeptContinuedNetwork, double? ReplacedValidationAccuracy, double? ReplacedEstimatedAttackSuccess,
    double? ContinuedValidationAccuracy, double? ContinuedEstimatedAttackSuccess)
{
    /// <summary>Validation accuracy of the network kept.</summary>
    public double? ValidationAccuracy => KeptContinuedNetwork ? ContinuedValidationAccuracy : ReplacedValidationAccuracy;

    /// <summary>The label-free attack estimate of the network kept.</summary>
    public double? EstimatedAttackSuccess => KeptContinuedNetwork ? ContinuedEstimatedAttackSuccess : ReplacedEstimatedAttackSuccess;

    /// <summary>The continued network's whole pull estimate (which class pulls hardest, the target's share, every
    /// class's share); null when it was not considered.</summary>
    public BackdoorPull? ContinuedPull { get; init; }
}

/// <summary>One round of stem cleansing.</summary>
/// <param name="Round">1 for the first.</param>
/// <param name="Suspects">Suspects cleansed in this round (all so far).</param>
/// <param name="NewSuspects">Suspects this round's scan added (0 after the last round).</param>
/// <param name="ValidationAccuracy">Validation accuracy of the round's replaced head.</param>
/// <param name="EstimatedAttackSuccess">The label-free attack estimate (largest class pull) of the round's replaced head.</param>
/// <param name="Seconds">Wall time of the round.</param>
public sealed record CleansingRound(int Round, int Suspects, int NewSuspects, double? ValidationAccuracy, double? EstimatedAttackSuccess, double Seconds);

/// <summary>
/// Repairs a stem that learned the trigger, using the poison scan's suspects: continues stage 1 (trap loss) from the
/// trapped network on the untrusted set with the suspects removed or relabelled by the scanning head, then replaces
/// the head again on the holdout, choosing the epoch by validation accuracy and a label-free attack estimate (how
/// strongly the new head pulls held-out suspects to any one class, the inferred target or one the backdoor moved to;
/// for clean-label suspects, which are target images, only the target's share beyond the head's recall of the target;
/// <see cref="PoisonLabellingEvidence"/>). With more than one round, each round
/// scans again with its continued network and its new head, adds the suspects found (poison the first scan missed
/// is still learned under its poisoned label while a cleaner head refuses it) and continues from where the last round
/// ended. Sees only the untrusted set, the holdout, the trapped network and the scan.
/// </summary>
public sealed class StemCleanser : ITrainingEvents
{
    private readonly StemCleansingOptions options;
    private readonly ILoggerFactory loggerFactory;

    /// <summary>Creates a cleanser; the options are validated and copied.</summary>
    public StemCleanser(StemCleansingOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        this.options = (options ?? new StemCleansingOptions()).Clone();
        this.options.ThrowIfInvalid();
        this.loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <summary>A copy of the options in use.</summary>
    public StemCleansingOptions Options => options.Clone();

    /// <summary>Raised after every step of either phase; its stage names the round: <c>trap-round-1</c>, <c>replace-round-1</c>, ...</summary>
    public event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch of either phase, with the stage as for <see cref="StepCompleted"/>.</summary>
    public event EventHandler<EpochCompletedEventArgs>? EpochCompleted;

    /// <summary>Cleanses the stem of <paramref name="trapped"/> (which knows its <see cref="TrapNetwork.Backbone"/>) and
    /// replaces its head again.</summary>
    /// <param name="trapped">The stage-1 network (with its decoder); not modified.</param>
    /// <param name="untrusted">The set stage 1 trained on (the scan's indices point into it).</param>
    /// <param name="holdout">The clean holdout.</param>
    /// <param name="scan">The poison scan of <paramref name="untrusted"/>.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException"><paramref name="trapped"/> was composed without its backbone, or the scan does not fit.</exception>
    public StemCleansingResult Cleanse(TrapNetwork trapped, ImageDataset untrusted, ImageDataset holdout, PoisonScanResult scan,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapped);
        return Cleanse(trapped, trapped.RequireBackbone(nameof(trapped)), untrusted, holdout, scan, cancellationToken);
    }

    /// <summary>Cleanses the stem of <paramref name="trapped"/> and replaces its head again.</summary>
    /// <param name="trapped">The stage-1 network (with its decoder); not modified.</param>
    /// <param name="backbone">Its architecture.</param>
    /// <param name="untrusted">The set stage 1 trained on (the scan's indices point into it).</param>
    /// <param name="holdout">The clean holdout.</param>
    /// <param name="scan">The poison scan of <paramref name="untrusted"/>; in relabel mode its head's
    /// <see cref="PoisonScanResult.Predictions"/> are the new labels.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException">The scan has no suspects, was made for another set, or (relabel mode) holds no predictions.</exception>
    public StemCleansingResult Cleanse(TrapNetwork trapped, IBackbone backbone, ImageDataset untrusted, ImageDataset holdout,
        PoisonScanResult scan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trapped);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(untrusted);
        ArgumentNullException.ThrowIfNull(holdout);
        ArgumentNullException.ThrowIfNull(scan);
        if (scan.Scores.Count != untrusted.Count)
            throw new ArgumentException($"the scan scored {scan.Scores.Count} samples; the untrusted set has {untrusted.Count}", nameof(scan));
        if (scan.SuspectIndices.Count == 0)
            throw new ArgumentException("the scan found no suspects: there is nothing to cleanse, keep the Trap-and-Replace result", nameof(scan));
        if (options.Mode == CleansingMode.RelabelSuspects && scan.Predictions.Count != untrusted.Count)
            throw new ArgumentException("the scan holds no predictions to relabel the suspects with; make it with PoisonScanner", nameof(scan));
        var clock = Stopwatch.StartNew();
        var device = options.Replace.Device.ToTorch();
        int target = scan.InferredTarget ?? -1;

        // Suspects set aside for the attack estimate stay out of the continued training altogether: the stem never
        // sees them again, so the estimate on them is not flattered by what the continued training taught it.
        var estimateSet = EstimateSet(scan);
        var probe = estimateSet.Count == 0 ? null : scan with { SuspectIndices = estimateSet };
        // Clean-label suspects are target images: the estimate then measures the target's share against each network's
        // recall of the target on the validation part of the holdout (the part no replaced head trains on).
        var labelling = PoisonLabellingEvidence.Infer(untrusted, holdout, scan);
        using var pullReference = options.Replace.ValidationFraction > 0
            ? holdout.Subset(options.Replace.ValidationSplit(holdout).HoldoutIndices, holdout.Name + "-validation")
            : holdout.Subset(Enumerable.Range(0, holdout.Count).ToArray(), holdout.Name);
        BackdoorPull? PullOf(TrapNetwork network) => probe is null ? null
            : PoisonScanner.EstimateBackdoorPull(network, untrusted, probe, labelling?.Labelling ?? PoisonLabelling.DirtyLabel, pullReference, device, options.Replace.ChannelsLast, options.PullScope);
        double? Pull(TrapNetwork network) => PullOf(network)?.Value;
        var suspects = new SortedSet<int>(scan.SuspectIndices.Except(estimateSet));
        var newLabels = new Dictionary<int, int>();
        if (options.Mode == CleansingMode.RelabelSuspects)
            foreach (var i in suspects) newLabels[i] = scan.Predictions[i];

        var rounds = new List<CleansingRound>();
        IReadOnlyList<ClassRelabels> relabels = [];
        TrapTrainingResult? continued = null;
        HeadReplacementResult? replacement = null;
        int relabelled = 0;
        try
        {
            for (int round = 1; round <= options.Rounds; round++)
            {
                var roundClock = Stopwatch.StartNew();
                var start = continued?.Network ?? trapped;
                IReadOnlySet<int> dropped = new HashSet<int>();
                var roundLabels = new Dictionary<int, int>(newLabels);
                if (options.Mode == CleansingMode.RelabelSuspects)
                {
                    relabels = CapRelabels(untrusted.LabelArray(), untrusted.ClassCount, suspects, newLabels, target, options.RelabelShareLimit,
                        options.Continue.DataSeed, options.FillRelabels, out dropped, out var filled);
                    foreach (var (i, label) in filled) roundLabels[i] = label;
                }
                var (cleansed, changed) = CleansedSet(untrusted, suspects, roundLabels, estimateSet, dropped);
                relabelled = changed;
                TrapTrainingResult next;
                var (continueOptions, replaceOptions) = RoundOptions(round, start, cleansed);
                using (cleansed)
                {
                    var trainer = new TrapTrainer(continueOptions, loggerFactory.CreateLogger<TrapTrainer>());
                    trainer.StepCompleted += (_, e) => StepCompleted?.Invoke(this, InRound(e, round));
                    trainer.EpochCompleted += (_, e) => EpochCompleted?.Invoke(this, InRound(e, round));
                    next = trainer.Continue(start, backbone, cleansed, cancellationToken);
                }
                continued?.Network.Dispose();
                continued = next;
                if (replacement is not null)
                {
                    replacement.Network.Dispose();
                    replacement.DisposeSnapshots();
                }

                var replacer = new HeadReplacer(replaceOptions, loggerFactory.CreateLogger<HeadReplacer>())
                {
                    AttackSuccessEstimator = probe is null ? null : Pull,
                };
                replacer.StepCompleted += (_, e) => StepCompleted?.Invoke(this, InRound(e, round));
                replacer.EpochCompleted += (_, e) => EpochCompleted?.Invoke(this, InRound(e, round));
                replacement = replacer.Fit(continued.Network, backbone, holdout, cancellationToken);
                var selected = replacement.History.FirstOrDefault(h => h.Epoch == replacement.SelectedEpoch);

                int added = 0;
                if (round < options.Rounds && replacement.ValidationIndices.Count > 0)
                {
                    using var reference = holdout.Subset(replacement.ValidationIndices, holdout.Name + "-validation");
                    var rescan = new PoisonScanner(options.Scan).ScanSnapshots(continued.Network, replacement, untrusted, reference, cancellationToken);
                    if (options.Expansion is not null)
                        rescan = new SuspectExpander(options.Expansion, loggerFactory.CreateLogger<SuspectExpander>()).Expand(continued.Network, untrusted, holdout, rescan, cancellationToken);
                    if (rescan.InferredTarget == target)
                    {
                        var held = estimateSet.ToHashSet();
                        foreach (var i in rescan.SuspectIndices)
                        {
                            if (held.Contains(i) || !suspects.Add(i)) continue;
                            added++;
                            if (options.Mode == CleansingMode.RelabelSuspects) newLabels[i] = rescan.Predictions[i];
                        }
                    }
                }
                rounds.Add(new CleansingRound(round, suspects.Count + estimateSet.Count, added, replacement.ValidationAccuracy, selected?.EstimatedAttackSuccess,
                    roundClock.Elapsed.TotalSeconds));
                if (added == 0) break;
            }

            var final = ChooseFinal(continued!, replacement!, pullReference, probe is null ? null : PullOf, device);
            return new StemCleansingResult(continued!, replacement!, options.Mode, suspects.Count + estimateSet.Count, relabelled, clock.Elapsed.TotalSeconds)
            {
                EstimateSuspects = estimateSet,
                Rounds = rounds,
                Final = final,
                Relabels = relabels,
                Labelling = labelling,
            };
        }
        catch
        {
            continued?.Network.Dispose();
            replacement?.Network.Dispose();
            replacement?.DisposeSnapshots();
            throw;
        }
    }

    // Every phase of a cleansing has a stage name of its own (trap-round-1, replace-round-1, ...), so a caller that keys
    // per-epoch records by stage and epoch (the runner's resumable curves) never mixes two rounds.
    private static TrainingStepEventArgs InRound(TrainingStepEventArgs e, int round) =>
        new(RoundStage(e.Stage, round), e.Epoch, e.Step, e.StepsPerEpoch, e.Loss, e.ImagesPerSecond);

    private static EpochCompletedEventArgs InRound(EpochCompletedEventArgs e, int round) => new(RoundStage(e.Stage, round), e.Record, e.Epochs, e.Network);

    /// <summary>The stage name the events of <paramref name="round"/>'s <paramref name="stage"/> (<c>trap</c> or <c>replace</c>) carry.</summary>
    internal static string RoundStage(string stage, int round) => $"{stage}-round-{round}";

    // The round's continued stage 1 and head replacement, checkpointing under CheckpointDirectory when it is set, in a
    // folder named for what the round trains on: the network it starts from and the cleansed set (images and labels).
    private (TrapTrainerOptions Continue, HeadReplacerOptions Replace) RoundOptions(int round, TrapNetwork start, ImageDataset cleansed)
    {
        if (options.CheckpointDirectory is not { } checkpoints) return (options.Continue, options.Replace);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var weights = new MemoryStream())
        {
            start.save(weights);
            hash.AppendData(weights.ToArray());
        }
        hash.AppendData(cleansed.Images.contiguous().data<byte>().ToArray());
        hash.AppendData(MemoryMarshal.AsBytes(cleansed.LabelArray().AsSpan()));
        var folder = Path.Combine(checkpoints, $"round-{round}-{Convert.ToHexStringLower(hash.GetHashAndReset())[..16]}");
        var continueOptions = options.Continue.Clone();
        continueOptions.CheckpointDirectory = Path.Combine(folder, "continue");
        var replaceOptions = options.Replace.Clone();
        replaceOptions.CheckpointDirectory = Path.Combine(folder, "replace");
        return (continueOptions, replaceOptions);
    }

    // Dirty-label poison comes from every other class in proportion to its size, so a head that reads the images'
    // content relabels the suspects in about those proportions, and the relabelled trigger then says nothing about the
    // class. A head that reads the trigger as some class gives that class more than its share; relabelling all of
    // them would teach the stem the trigger again, pointing at that class (measured on Blend: 95 % of triggered images
    // moved to the class the head favoured, and 39 % to the next one once that class alone was guarded). The typical
    // class (the median of relabels per unit of class share) says how many relabels content alone produces; every
    // class keeps at most ShareLimit times that for its share, and the excess (a seeded random choice) is given a
    // random class short of its share, or removed when none is (or fill is off). A median, not the total, because a
    // class whose poison the head sends back to the target gets no relabels at all, and that must not make the others
    // look inflated. Relabels to the target never count: that is the poisoned label back.
    internal static IReadOnlyList<ClassRelabels> CapRelabels(long[] labels, int classes, IEnumerable<int> suspects, IReadOnlyDictionary<int, int> newLabels,
        int target, double shareLimit, int seed, bool fill, out IReadOnlySet<int> dropped, out IReadOnlyDictionary<int, int> filled)
    {
        var share = BackdoorPull.NonTargetShares(labels, classes, target);
        var byClass = Enumerable.Range(0, classes).Select(_ => new List<int>()).ToArray();
        foreach (var i in suspects.Order())
            if (newLabels.TryGetValue(i, out int c) && c != labels[i]) byClass[c].Add(i);

        var rates = Enumerable.Range(0, classes).Where(c => share[c] > 0).Select(c => byClass[c].Count / share[c]).Order().ToArray();
        double typical = rates.Length == 0 ? 0 : rates.Length % 2 == 1 ? rates[rates.Length / 2] : (rates[(rates.Length / 2) - 1] + rates[rates.Length / 2]) / 2;
        var kept = Enumerable.Range(0, classes).Select(c => Math.Min(byClass[c].Count, (int)Math.Floor(shareLimit * share[c] * typical))).ToArray();

        var random = new Random(seed);
        var excess = new List<int>();
        for (int c = 0; c < classes; c++)
            excess.AddRange(byClass[c].OrderBy(_ => random.Next()).Skip(kept[c]));

        // With fill, the excess is not wasted: each such suspect gets a random class still short of its share of all
        // the relabels, so the relabelled trigger points at every class in proportion and says nothing about any.
        var given = new int[classes];
        var reassigned = new Dictionary<int, int>();
        if (fill && excess.Count > 0)
        {
            int total = byClass.Sum(l => l.Count);
            var slots = new List<int>();
            for (int c = 0; c < classes; c++)
                slots.AddRange(Enumerable.Repeat(c, Math.Max(0, (int)Math.Round(total * share[c]) - kept[c])));
            var order = excess.OrderBy(_ => random.Next()).ToList();
            var shuffledSlots = slots.OrderBy(_ => random.Next()).ToList();
            for (int k = 0; k < Math.Min(order.Count, shuffledSlots.Count); k++)
            {
                if (shuffledSlots[k] == labels[order[k]]) continue;
                reassigned[order[k]] = shuffledSlots[k];
                given[shuffledSlots[k]]++;
            }
        }
        dropped = excess.Where(i => !reassigned.ContainsKey(i)).ToHashSet();
        filled = reassigned;
        return Enumerable.Range(0, classes).Select(c => new ClassRelabels(c, byClass[c].Count, kept[c]) { Filled = given[c] }).ToArray();
    }

    // The continued network's own head learned the cleansed labels of the whole untrusted set, not 2 % of it: where
    // the scan found the poison it keeps far more clean accuracy than a head trained on the holdout. It is measured
    // the way stage 2 chooses its epoch (validation accuracy minus the label-free attack estimate, both on data the
    // continued training never saw) and kept unless the replaced head scores higher (CleansedChoice: a tie keeps
    // it). Without an estimate it is not considered, since nothing would then show that its head unlearned the trigger.
    private CleansingFinal ChooseFinal(TrapTrainingResult continued, HeadReplacementResult replacement, ImageDataset validation,
        Func<TrapNetwork, BackdoorPull?>? pull, Device device)
    {
        double? replacedEstimate = replacement.History.FirstOrDefault(h => h.Epoch == replacement.SelectedEpoch)?.EstimatedAttackSuccess;
        if (!options.ConsiderContinuedNetwork || pull is null || replacement.ValidationIndices.Count == 0 || replacement.ValidationAccuracy is not double replacedAccuracy)
            return new CleansingFinal(false, replacement.ValidationAccuracy, replacedEstimate, null, null);
        double accuracy = Evaluator.Accuracy(continued.Network, validation, device, channelsLast: options.Replace.ChannelsLast);
        var estimate = pull(continued.Network);
        bool keep = estimate is { Value: var e } && !CleansedChoice.FallbackScoresHigher(replacedAccuracy, replacedEstimate ?? 0, accuracy, e);
        return new CleansingFinal(keep, replacedAccuracy, replacedEstimate, accuracy, estimate?.Value) { ContinuedPull = estimate };
    }

    // The untrusted set without the held-out suspects, and without the other suspects too (remove mode) or with
    // them relabelled by the scanning heads (relabel mode).
    private (ImageDataset Set, int Relabelled) CleansedSet(ImageDataset untrusted, IReadOnlySet<int> suspects, IReadOnlyDictionary<int, int> newLabels,
        IReadOnlyList<int> estimateSet, IReadOnlySet<int> dropped)
    {
        var heldOut = estimateSet.ToHashSet();
        if (options.Mode == CleansingMode.RemoveSuspects)
            return (untrusted.Subset(Enumerable.Range(0, untrusted.Count).Where(i => !heldOut.Contains(i) && !suspects.Contains(i)).ToArray(),
                untrusted.Name + "-cleansed"), 0);

        // A suspect the scanning head gives its own (target) label back cannot be relabelled - the stem probe finds
        // such suspects - so it is removed instead; so is one beyond its new class's share of the relabels.
        var labels = untrusted.LabelArray();
        var kept = new List<int>(untrusted.Count);
        int changed = 0;
        for (int i = 0; i < untrusted.Count; i++)
        {
            if (heldOut.Contains(i)) continue;
            if (suspects.Contains(i))
            {
                if (newLabels[i] == labels[i] || dropped.Contains(i)) continue;
                labels[i] = newLabels[i];
                changed++;
            }
            kept.Add(i);
        }
        using var labelTensor = tensor(labels);
        using var relabelled = ImageDataset.FromTensors(untrusted.Images, labelTensor, untrusted.ClassNames, untrusted.Name + "-relabelled");
        return (relabelled.Subset(kept, relabelled.Name), changed);
    }

    // A seeded random share of the suspects (EstimateFraction, at most EstimateSamples) for the per-epoch estimate;
    // empty without a target.
    private IReadOnlyList<int> EstimateSet(PoisonScanResult scan)
    {
        if (scan.InferredTarget is null) return [];
        var suspects = scan.SuspectIndices;
        int n = Math.Min(options.EstimateSamples, (int)Math.Round(options.EstimateFraction * suspects.Count));
        if (n == 0) return [];
        var random = new Random(options.Continue.DataSeed);
        return suspects.OrderBy(_ => random.Next()).Take(n).Order().ToArray();
    }
}
