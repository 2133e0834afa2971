using System.Text.Json.Nodes;
using TrapReplace.Scanning;

namespace TrapReplace.Experiments.Defenses;

/// <summary>A poison scan as it goes into the result file: what the defense decided, then (evaluation only, computed
/// by the runner after the defense) how it compares with the attack's true poisoned indices and target.</summary>
internal static class ScanReport
{
    public static JsonObject Describe(PoisonScanResult scan, IReadOnlyList<int>? poisonedIndices, int? trueTarget)
    {
        var json = new JsonObject
        {
            ["score"] = scan.Score.ToString(),
            ["reference_quantile"] = scan.ReferenceQuantile,
            ["reference_count"] = scan.ReferenceScores.Count,
            ["threshold"] = scan.Threshold,
            ["reference_false_positive_rate"] = scan.ReferenceFalsePositiveRate,
            ["flagged"] = scan.FlaggedIndices.Count,
            ["suspects"] = scan.SuspectIndices.Count,
            ["inferred_target"] = scan.InferredTarget,
            ["refuted_target"] = scan.RefutedTarget,
            ["target_chance_bound"] = scan.TargetChanceBound,
            ["flagged_per_class"] = new JsonArray(scan.Classes.Select(c => (JsonNode)c.Flagged).ToArray()),
            ["scan_epoch"] = scan.ScanEpoch is int e ? e + 1 : null,
            ["scanned_with_ensemble"] = scan.ScannedWithEnsemble,
            ["candidates"] = new JsonArray(scan.Candidates.Select(c => (JsonNode)new JsonObject
            {
                ["epoch"] = c.Epoch is int epoch ? epoch + 1 : null,
                ["ensemble"] = c.Epoch is null,
                ["validation_accuracy"] = c.ValidationAccuracy,
                ["threshold"] = c.Threshold,
                ["flagged"] = c.Flagged,
                ["inferred_target"] = c.InferredTarget,
                ["suspects"] = c.Suspects,
                ["excess_suspects"] = c.ExcessSuspects,
            }).ToArray()),
        };
        if (poisonedIndices is { Count: > 0 })
        {
            var quality = scan.Against(poisonedIndices);
            json["precision"] = quality.Precision;
            json["recall"] = quality.Recall;
            json["auroc"] = quality.AreaUnderRoc;
            json["poisoned"] = quality.Poisoned;
        }
        if (trueTarget is int t) json["target_correct"] = scan.InferredTarget == t;
        if (scan.Expansion is { } expansion)
        {
            var expansionJson = new JsonObject
            {
                ["seeds"] = expansion.Seeds,
                ["added"] = expansion.AddedIndices.Count,
                ["dropped"] = expansion.DroppedIndices.Count,
                ["confirmed"] = expansion.Confirmed,
                ["refuted"] = expansion.Refuted,
                ["threshold"] = expansion.Threshold,
                ["holdout_false_positive_rate"] = expansion.HoldoutFalsePositiveRate,
                ["features"] = expansion.Features,
                ["seconds"] = expansion.Seconds,
            };
            if (poisonedIndices is { Count: > 0 })
            {
                // The scan's own suspects, before the probe widened and pruned them (the top-level precision and recall are after).
                var added = expansion.AddedIndices.ToHashSet();
                var poisoned = poisonedIndices.ToHashSet();
                var before = (scan with { SuspectIndices = scan.SuspectIndices.Where(i => !added.Contains(i)).Concat(expansion.DroppedIndices).Order().ToArray() })
                    .Against(poisonedIndices);
                expansionJson["precision_before"] = before.Precision;
                expansionJson["recall_before"] = before.Recall;
                expansionJson["added_poisoned"] = expansion.AddedIndices.Count(poisoned.Contains);
                expansionJson["dropped_poisoned"] = expansion.DroppedIndices.Count(poisoned.Contains);
            }
            json["expansion"] = expansionJson;
        }
        if (poisonedIndices is { Count: > 0 })
        {
            // Every score kind on the same passes, so the result files say which one separates best.
            var kinds = new JsonObject();
            foreach (var kind in Enum.GetValues<PoisonScore>())
            {
                var other = scan.WithScore(kind);
                var q = other.Against(poisonedIndices);
                kinds[kind.ToString()] = new JsonObject
                {
                    ["auroc"] = q.AreaUnderRoc, ["precision"] = q.Precision, ["recall"] = q.Recall, ["suspects"] = q.Suspects,
                    ["inferred_target"] = other.InferredTarget,
                };
            }
            json["by_score"] = kinds;
        }
        return json;
    }
}
