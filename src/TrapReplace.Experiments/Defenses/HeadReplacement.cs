using System.Text.Json;
using System.Text.Json.Nodes;
using TrapReplace.Cleansing;
using TrapReplace.Experiments.Serialization;
using TrapReplace.Experiments.Specs;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Scanning;

namespace TrapReplace.Experiments.Defenses;

/// <summary>
/// Stage 2 of Trap and Replace. After the trap it is the method (<c>trap-replace</c>); after normal training it is
/// the ablation that shows what the trap adds (<c>replace-only</c>).
/// </summary>
internal sealed class HeadReplacement(bool afterTrap) : ICellDefense
{
    public string Name => afterTrap ? "trap-replace" : "replace-only";

    public string Title => afterTrap ? "stage 2: replace the trapped head" : "replace the head of the normally trained model";

    public bool StartsFromTrap => afterTrap;

    public DefenseOutcome Apply(TrapNetwork undefended, DefenseContext context)
    {
        var options = context.Profile.ReplaceOptions(context.Spec.Seed, context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast, context.Settings.Precision);
        var replacer = new HeadReplacer(options);
        context.Events.Attach(h => replacer.StepCompleted += h, h => replacer.EpochCompleted += h);
        var result = replacer.Fit(undefended, context.Backbone, context.Holdout, context.CancellationToken);
        var json = JsonSerializer.SerializeToNode(options, ExperimentJson.Options)!.AsObject();
        json["selected_epoch"] = result.SelectedEpoch + 1;
        json["selected_validation_accuracy"] = result.ValidationAccuracy;
        // After the trap, the two heads also say which training samples are poisoned; the scan is reported, the
        // defended network is unchanged (its time is not part of the defense's).
        var scan = afterTrap && result.ValidationIndices.Count > 0 ? Scan(undefended, result, context) : null;
        result.DisposeSnapshots();
        return new DefenseOutcome(result.Network, result.Seconds, options.Epochs, json) { Scan = scan };
    }

    internal static PoisonScanResult Scan(TrapNetwork trapped, HeadReplacementResult replacement, DefenseContext context)
    {
        using var reference = context.Holdout.Subset(replacement.ValidationIndices, context.Holdout.Name + "-validation");
        var scanner = new PoisonScanner(new PoisonScanOptions
        {
            Threads = context.Settings.Threads,
            Device = context.Settings.Device,
            ChannelsLast = context.Settings.ChannelsLast,
        });
        var scan = scanner.ScanSnapshots(trapped, replacement, context.Untrusted, reference, context.CancellationToken);
        // The stem probe widens the suspects (the whole holdout is its clean side; the probe never trains the stem).
        return new SuspectExpander(ExperimentProfile.ExpansionOptions(context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast))
            .Expand(trapped, context.Untrusted, context.Holdout, scan, context.CancellationToken);
    }
}

/// <summary>
/// Trap and Replace, then the poison scan, then stem cleansing (<c>trap-cleanse</c>): when the scan infers a target,
/// stage 1 continues on the untrusted set with the suspects relabelled by the scanning head (a fifth of them held out
/// for the attack estimate) and the head is replaced again; when it does not (clean-label or batch-time attacks, clean data), the Trap-and-Replace network is the result.
/// </summary>
internal sealed class TrapCleanse : ICellDefense
{
    public string Name => "trap-cleanse";

    public string Title => "trap, replace, scan for poison, cleanse the stem, replace again";

    public bool StartsFromTrap => true;

    public DefenseOutcome Apply(TrapNetwork undefended, DefenseContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var replaceOptions = context.Profile.ReplaceOptions(context.Spec.Seed, context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast, context.Settings.Precision);
        var replacer = new HeadReplacer(replaceOptions);
        context.Events.Attach(h => replacer.StepCompleted += h, h => replacer.EpochCompleted += h);
        var first = replacer.Fit(undefended, context.Backbone, context.Holdout, context.CancellationToken);
        var scan = HeadReplacement.Scan(undefended, first, context);
        first.DisposeSnapshots();

        var options = context.Profile.CleanseOptions(context.Spec.Seed, context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast, context.Settings.Precision);
        var json = new JsonObject
        {
            ["first_replacement"] = JsonSerializer.SerializeToNode(replaceOptions, ExperimentJson.Options),
            ["first_selected_epoch"] = first.SelectedEpoch + 1,
            ["cleansing"] = JsonSerializer.SerializeToNode(options, ExperimentJson.Options),
        };
        if (scan.InferredTarget is null || scan.SuspectIndices.Count == 0)
        {
            json["cleansed"] = false;
            json["cleansing_skipped_because"] = scan.RefutedTarget is int refuted
                ? $"the stem probe confirmed {scan.Expansion!.Confirmed} of the {scan.Expansion.Seeds} suspects of class {refuted}: they carry no common trigger feature, so the scan's target was withdrawn"
                : scan.InferredTarget is null
                ? "the scan inferred no target class, so it has no suspects to cleanse"
                : "no suspect is left: the stem probe saw no trigger in any of the heads' suspects";
            return new DefenseOutcome(first.Network, clock.Elapsed.TotalSeconds, replaceOptions.Epochs, json) { Scan = scan };
        }

        var cleanser = new StemCleanser(options);
        context.Events.Attach(h => cleanser.StepCompleted += h, h => cleanser.EpochCompleted += h);
        StemCleansingResult cleansed;
        try
        {
            cleansed = cleanser.Cleanse(undefended, context.Backbone, context.Untrusted, context.Holdout, scan, context.CancellationToken);
        }
        catch
        {
            first.Network.Dispose();
            throw;
        }
        // Every network not returned goes to the runner as a candidate, measured after the fact.
        var final = cleansed.Final;
        var candidates = new Dictionary<string, TrapNetwork>
        {
            ["continued_network"] = cleansed.Continued.Network,
            ["replaced_head"] = cleansed.Replacement.Network,
        };
        cleansed.Replacement.DisposeSnapshots();
        var probe = scan with { SuspectIndices = cleansed.EstimateSuspects };
        var labelling = cleansed.Labelling?.Labelling ?? PoisonLabelling.DirtyLabel;
        BackdoorPull? firstPull;
        using (var validation = context.Holdout.Subset(cleansed.Replacement.ValidationIndices, context.Holdout.Name + "-validation"))
            firstPull = validation.Count == 0 ? null
                : PoisonScanner.EstimateBackdoorPull(first.Network, context.Untrusted, probe, labelling, validation, channelsLast: context.Settings.ChannelsLast);
        json["estimate_suspects"] = cleansed.EstimateSuspects.Count;
        json["suspects_relabelled_to_another_class"] = cleansed.RelabelledToOtherClass;
        json["first_validation_accuracy"] = first.ValidationAccuracy;
        if (cleansed.Labelling is { } evidence)
            json["suspects_labelling"] = new JsonObject
            {
                ["labelling"] = evidence.Labelling == PoisonLabelling.CleanLabel ? "clean_label" : "dirty_label",
                ["target_labelled"] = evidence.TargetLabelled,
                ["expected_target_labelled"] = evidence.ExpectedTargetLabelled,
                ["excess_per_suspect"] = evidence.ExcessPerSuspect,
            };
        json["estimate"] = labelling == PoisonLabelling.CleanLabel
            ? "clean-label suspects: the target's share of the held-out suspects beyond the network's recall of the target on validation, as far as both sample sizes support it: the lower 95 % confidence bound of share - recall (Newcombe hybrid score), over 1 - recall"
            : "largest class pull on the held-out suspects (the target's share, or another class's share beyond its base rate)";
        json["first_estimated_target_recall"] = firstPull?.TargetRecall;
        json["first_estimated_target_recall_images"] = firstPull?.TargetRecallImages;
        json["first_estimated_target_share"] = firstPull?.TargetShare;
        json["first_estimated_attack_success"] = firstPull?.Value;
        json["first_estimated_pull_class"] = firstPull?.Class;
        json["selected_epoch"] = cleansed.Replacement.SelectedEpoch + 1;
        json["selected_validation_accuracy"] = cleansed.Replacement.ValidationAccuracy;
        json["selected_estimated_attack_success"] = final.ReplacedEstimatedAttackSuccess;
        json["rounds"] = new JsonArray(cleansed.Rounds.Select(r => (JsonNode)new JsonObject
        {
            ["round"] = r.Round,
            ["suspects"] = r.Suspects,
            ["new_suspects"] = r.NewSuspects,
            ["validation_accuracy"] = r.ValidationAccuracy,
            ["estimated_attack_success"] = r.EstimatedAttackSuccess,
            ["seconds"] = r.Seconds,
        }).ToArray());
        json["suspects_cleansed"] = cleansed.SuspectCount;
        json["kept_continued_network"] = final.KeptContinuedNetwork;
        json["relabels_per_class"] = new JsonArray(cleansed.Relabels.Select(r => (JsonNode)new JsonObject
        {
            ["class"] = r.Class,
            ["relabelled"] = r.Relabelled,
            ["kept"] = r.Kept,
            ["filled"] = r.Filled,
        }).ToArray());
        json["continued_validation_accuracy"] = final.ContinuedValidationAccuracy;
        json["continued_estimated_attack_success"] = final.ContinuedEstimatedAttackSuccess;
        int epochs = replaceOptions.Epochs + (cleansed.Rounds.Count * (options.Continue.Epochs + options.Replace.Epochs));
        if (UndoReason(first.ValidationAccuracy, firstPull?.Value, final.ValidationAccuracy, final.EstimatedAttackSuccess) is { } reason)
        {
            json["cleansed"] = false;
            json["cleansing_undone_because"] = reason;
            return new DefenseOutcome(first.Network, clock.Elapsed.TotalSeconds, epochs, json) { Scan = scan, Candidates = candidates };
        }
        candidates.Remove(final.KeptContinuedNetwork ? "continued_network" : "replaced_head");
        candidates["trap_and_replace"] = first.Network;
        json["cleansed"] = true;
        return new DefenseOutcome(cleansed.Defended, clock.Elapsed.TotalSeconds, epochs, json) { Scan = scan, Candidates = candidates };
    }

    /// <summary>Validation accuracy the cleansed network may lose against Trap and Replace's before the cleansing is
    /// undone (the bound on clean accuracy: within 3 points).</summary>
    internal const double MaxValidationLoss = 0.03;

    /// <summary>
    /// Why the cleansed network must give way to Trap and Replace's, or null when it stays. Never worse than Trap and
    /// Replace on what the defender can see: not when it costs more than <see cref="MaxValidationLoss"/> of validation
    /// accuracy (a wrong target relabels clean samples), and not when it scores no higher on validation accuracy minus
    /// the largest class pull on the held-out suspects, the label-free score that chose it. A missing value skips its rule.
    /// </summary>
    internal static string? UndoReason(double? firstAccuracy, double? firstPull, double? cleansedAccuracy, double? cleansedPull)
    {
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        if (cleansedAccuracy < firstAccuracy - MaxValidationLoss)
            return string.Create(culture, $"validation accuracy fell from {firstAccuracy:P1} to {cleansedAccuracy:P1}, more than {MaxValidationLoss:P0}");
        if (firstAccuracy is double a && firstPull is double p && cleansedAccuracy is double b && cleansedPull is double q && a - p >= b - q)
            return string.Create(culture, $"Trap and Replace scored {a:P1} - {p:P1} on validation accuracy minus the pull estimate, the cleansed network only {b:P1} - {q:P1}");
        return null;
    }
}
