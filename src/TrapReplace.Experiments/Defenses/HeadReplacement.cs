using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
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
        var options = context.Profile.ReplaceOptions(context.Spec.EffectiveDefenseSeed, context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast, context.Settings.Precision);
        var replacer = new HeadReplacer(options, context.Logs.CreateLogger<HeadReplacer>());
        var result = context.Fit(replacer, undefended);
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
        var scanner = new PoisonScanner(new PoisonScanOptions
        {
            Threads = context.Settings.Threads,
            Device = context.Settings.Device,
            ChannelsLast = context.Settings.ChannelsLast,
        }, context.Logs.CreateLogger<PoisonScanner>());
        // The stem probe widens the suspects (the whole holdout is its clean side; the probe never trains the stem).
        var expander = new SuspectExpander(ExperimentProfile.ExpansionOptions(context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast),
            context.Logs.CreateLogger<SuspectExpander>());
        return scanner.ScanAfterReplacement(trapped, replacement, context.Untrusted, context.Holdout, expander, context.CancellationToken);
    }
}

/// <summary>
/// Trap and Replace, then the poison scan, then stem cleansing (<c>trap-cleanse</c>): the library's
/// <see cref="TrapCleanse"/> on the cell's stage-1 network, with the profile's options; this class only writes
/// what it decided into the result file.
/// </summary>
internal sealed class TrapCleanseDefense : ICellDefense
{
    public string Name => "trap-cleanse";

    public string Title => "trap, replace, scan for poison, cleanse the stem, replace again";

    public bool StartsFromTrap => true;

    public DefenseOutcome Apply(TrapNetwork undefended, DefenseContext context)
    {
        var options = new TrapCleanseOptions
        {
            FirstReplacement = context.Profile.ReplaceOptions(context.Spec.EffectiveDefenseSeed, context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast, context.Settings.Precision),
            Cleansing = context.Profile.CleanseOptions(context.Spec.EffectiveDefenseSeed, context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast, context.Settings.Precision),
        };
        // Recorded without where the checkpoints live: a place on this machine, gone once the cell finishes.
        var (replaceOptions, cleanseOptions) = (options.FirstReplacement.Clone(), options.Cleansing.Clone());
        if (context.CheckpointDirectory is { } checkpoints)
        {
            // Every phase resumes: the first replacement here, each cleansing round in a folder of its own.
            options.FirstReplacement.CheckpointDirectory = Path.Combine(checkpoints, "first-replacement");
            options.Cleansing.CheckpointDirectory = Path.Combine(checkpoints, "cleansing");
        }
        var defense = new TrapCleanse(options, context.Logs);
        var result = context.Fit(defense, undefended);
        var (first, scan) = (result.First, result.Scan);
        var json = new JsonObject
        {
            ["first_replacement"] = JsonSerializer.SerializeToNode(replaceOptions, ExperimentJson.Options),
            ["first_selected_epoch"] = first.SelectedEpoch + 1,
            ["cleansing"] = JsonSerializer.SerializeToNode(cleanseOptions, ExperimentJson.Options),
        };
        if (result.Cleansing is not { } cleansed)
        {
            json["cleansed"] = false;
            json["cleansing_skipped_because"] = result.SkippedBecause;
            return new DefenseOutcome(result.Network, result.Seconds, replaceOptions.Epochs, json) { Scan = scan };
        }
        var final = cleansed.Final;
        var firstPull = result.FirstPull;
        var labelling = cleansed.Labelling?.Labelling ?? PoisonLabelling.DirtyLabel;
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
            : cleanseOptions.PullScope == PullScope.TargetOnly
            ? "the target's share of the held-out suspects (the relabels went to every class in proportion, so no other class can hold a moved backdoor)"
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
        json["continued_estimated_pull_class"] = final.ContinuedPull?.Class;
        json["continued_estimated_target_share"] = final.ContinuedPull?.TargetShare;
        json["continued_estimated_shares"] = final.ContinuedPull is { } pull ? new JsonArray(pull.Shares.Select(s => (JsonNode)JsonValue.Create(s)).ToArray()) : null;
        int epochs = replaceOptions.Epochs + (cleansed.Rounds.Count * (cleanseOptions.Continue.Epochs + cleanseOptions.Replace.Epochs));
        // Every network not returned goes to the runner as a candidate, measured after the fact.
        json["cleansed"] = result.Cleansed;
        if (result.UndoneBecause is { } reason) json["cleansing_undone_because"] = reason;
        return new DefenseOutcome(result.Network, result.Seconds, epochs, json) { Scan = scan, Candidates = new Dictionary<string, TrapNetwork>(result.Candidates) };
    }
}
