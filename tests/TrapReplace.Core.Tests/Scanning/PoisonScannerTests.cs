using Microsoft.Extensions.Options;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Scanning;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Scanning;

public sealed class PoisonScannerTests
{
    private const int Target = PoisonedSynthetic.Target;

    private static PoisonedSynthetic Shared => PoisonedSynthetic.Shared;

    [Theory]
    [InlineData(PoisonScore.ReplacedMargin)]
    [InlineData(PoisonScore.ReplacedLoss)]
    [InlineData(PoisonScore.LikelihoodGap)]
    public void Suspects_are_enriched_in_poisoned_samples_and_the_target_is_inferred(PoisonScore score)
    {
        var f = Shared;
        var result = new PoisonScanner(new PoisonScanOptions { Score = score, Threads = 2 })
            .Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);

        result.Scores.Should().HaveCount(f.Untrusted.Count);
        result.InferredTarget.Should().Be(Target);
        result.TargetChanceBound.Should().BeLessThan(1e-6);
        var quality = result.Against(f.PoisonedIndices);
        quality.Precision.Should().BeGreaterThan(0.5, "a tenth of the set is poisoned, so chance precision is 0.1");
        quality.Recall.Should().BeGreaterThan(0.5);
        quality.AreaUnderRoc.Should().BeGreaterThan(0.75, "chance ranks at 0.5 (the margin score ties every sample the replaced head agrees with at 0)");
        var labels = f.Untrusted.LabelArray();
        result.SuspectIndices.Should().OnlyContain(i => labels[i] == Target, "suspects are restricted to the inferred target's label");
        result.SuspectIndices.Should().BeInAscendingOrder();
    }

    [Fact]
    public void The_threshold_is_the_reference_quantile_and_its_false_positive_rate_is_reported()
    {
        var f = Shared;
        var result = new PoisonScanner(new PoisonScanOptions { ReferenceQuantile = 0.9, Threads = 2 })
            .Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);

        var sorted = result.ReferenceScores.Order().ToArray();
        sorted.Should().HaveCount(f.Reference.Count);
        result.Threshold.Should().Be(sorted[(int)Math.Ceiling(0.9 * sorted.Length) - 1], "nearest-rank 90th percentile of the clean reference");
        result.ReferenceFalsePositiveRate.Should().Be((double)sorted.Count(s => s > result.Threshold) / sorted.Length)
            .And.BeLessThanOrEqualTo(0.1);
        result.FlaggedIndices.Should().Equal(Enumerable.Range(0, f.Untrusted.Count).Where(i => result.Scores[i] > result.Threshold));
    }

    [Fact]
    public void Rescoring_from_the_same_passes_equals_scanning_with_that_score()
    {
        var f = Shared;
        var margin = new PoisonScanner(new PoisonScanOptions { Score = PoisonScore.ReplacedMargin, Threads = 2 })
            .Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);
        var gap = new PoisonScanner(new PoisonScanOptions { Score = PoisonScore.LikelihoodGap, Threads = 2 })
            .Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);

        var rescored = margin.WithScore(PoisonScore.LikelihoodGap);
        rescored.Score.Should().Be(PoisonScore.LikelihoodGap);
        rescored.Threshold.Should().Be(gap.Threshold);
        rescored.Scores.Should().Equal(gap.Scores);
        rescored.SuspectIndices.Should().Equal(gap.SuspectIndices);
        margin.WithScore(PoisonScore.ReplacedMargin).SuspectIndices.Should().Equal(margin.SuspectIndices);
    }

    [Fact]
    public void Without_a_target_restriction_every_flagged_sample_is_a_suspect()
    {
        var f = Shared;
        var result = new PoisonScanner(new PoisonScanOptions { RestrictToTarget = false, Threads = 2 })
            .Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);
        result.SuspectIndices.Should().Equal(result.FlaggedIndices);
    }

    [Fact]
    public void On_clean_data_no_target_is_inferred()
    {
        using var clean = Synthetic.ColourClasses(480, seed: 11);
        var f = Shared;
        // The margin score. The likelihood gap (the default since the full-profile Blend cell) does infer a spurious
        // target on this clean set: the trapped head is over-confident on the images it memorised, unevenly across
        // classes. That weakness is recorded in docs/results.md; the clean-label and WaNet cells must measure it.
        var result = new PoisonScanner(new PoisonScanOptions { Score = PoisonScore.ReplacedMargin, Threads = 2 }).Scan(f.Trapped, f.Replacement.Network, clean, f.Reference);
        result.InferredTarget.Should().BeNull("no label is over-represented among the few flagged clean samples");
        result.SuspectIndices.Should().Equal(result.FlaggedIndices);
    }

    [Fact]
    public void The_label_free_estimate_follows_the_networks_behaviour_on_the_suspects()
    {
        var f = Shared;
        var scan = new PoisonScanner(new PoisonScanOptions { Threads = 2 }).Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);
        double trapped = PoisonScanner.EstimateAttackSuccess(f.Trapped, f.Untrusted, scan)!.Value;
        double replaced = PoisonScanner.EstimateAttackSuccess(f.Replacement.Network, f.Untrusted, scan)!.Value;
        trapped.Should().BeGreaterThan(0.9, "the trapped head learned the poisoned labels");
        replaced.Should().BeLessThan(trapped - 0.5, "the replaced head did not");
    }

    [Fact]
    public void The_poisoned_set_reads_as_dirty_label_and_clean_label_suspects_are_measured_against_the_networks_recall()
    {
        var f = Shared;
        var scan = new PoisonScanner(new PoisonScanOptions { Threads = 2 }).Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);
        var evidence = PoisonLabellingEvidence.Infer(f.Untrusted, f.Holdout, scan)!;
        evidence.Labelling.Should().Be(PoisonLabelling.DirtyLabel, "48 non-target images were added to the target's labels");
        evidence.Target.Should().Be(PoisonedSynthetic.Target);
        evidence.TargetLabelled.Should().Be(f.Untrusted.LabelArray().Count(l => l == PoisonedSynthetic.Target));

        // Clean target images as if a clean-label scan had flagged them: a network without a backdoor sends them to the
        // target because they show it. Read as dirty-label that is a full pull; read as clean-label, it is no more than
        // the network's recall of the target on the clean reference.
        var labels = f.Untrusted.LabelArray();
        var poisoned = f.PoisonedIndices.ToHashSet();
        var targetImages = Enumerable.Range(0, f.Untrusted.Count).Where(i => labels[i] == PoisonedSynthetic.Target && !poisoned.Contains(i)).ToArray();
        var cleanLabel = scan with { SuspectIndices = targetImages, InferredTarget = PoisonedSynthetic.Target };
        var network = f.Replacement.Network;
        var asDirty = PoisonScanner.EstimateBackdoorPull(network, f.Untrusted, cleanLabel, PoisonLabelling.DirtyLabel, f.Reference)!;
        var asClean = PoisonScanner.EstimateBackdoorPull(network, f.Untrusted, cleanLabel, PoisonLabelling.CleanLabel, f.Reference)!;
        asDirty.Value.Should().Be(PoisonScanner.EstimateBackdoorPull(network, f.Untrusted, cleanLabel)!.Value);
        asDirty.Value.Should().BeGreaterThan(0.8, "the replaced head classifies target images as the target");
        var referenceLabels = f.Reference.LabelArray();
        using var referenceTarget = f.Reference.Subset(Enumerable.Range(0, f.Reference.Count).Where(i => referenceLabels[i] == PoisonedSynthetic.Target).ToArray(), "target");
        double recall = TrapReplace.Evaluation.Evaluator.Accuracy(network, referenceTarget, TorchSharp.torch.CPU);
        asClean.TargetRecall.Should().Be(recall);
        asClean.TargetRecallImages.Should().Be(referenceTarget.Count);
        asClean.TargetShare.Should().Be(asDirty.TargetShare);
        double bound = BackdoorPull.ExcessLowerBound(asClean.TargetShare, targetImages.Length, recall, referenceTarget.Count, BackdoorPull.CleanLabelConfidenceZ);
        asClean.Value.Should().Be(recall >= 1 ? 0 : Math.Max(0, bound / (1 - recall)));
        asClean.Value.Should().BeLessThanOrEqualTo(recall >= 1 ? 0 : Math.Max(0, (asClean.TargetShare - recall) / (1 - recall)), "the bound never exceeds the point estimate");
        asClean.Value.Should().BeLessThan(0.5);

        using var noTarget = f.Reference.Subset(Enumerable.Range(0, f.Reference.Count).Where(i => referenceLabels[i] != PoisonedSynthetic.Target).ToArray(), "no-target");
        var act = () => PoisonScanner.EstimateBackdoorPull(network, f.Untrusted, cleanLabel, PoisonLabelling.CleanLabel, noTarget);
        act.Should().Throw<ArgumentException>().WithMessage("*no image of the target class 0*");
    }

    [Fact]
    public void The_fluent_result_scans_with_the_holdouts_validation_part()
    {
        var f = Shared;
        var result = new TrapReplace.Defense.TrapAndReplaceResult(
            new TrapTrainingResult(f.Trapped, [], 0), f.Replacement);
        var direct = new PoisonScanner().ScanSnapshots(f.Trapped, f.Replacement, f.Untrusted, f.Reference);
        var fluent = result.ScanForPoison(f.Untrusted, f.Holdout, expand: false);
        fluent.ScanEpoch.Should().Be(direct.ScanEpoch);
        fluent.Threshold.Should().Be(direct.Threshold);
        fluent.SuspectIndices.Should().Equal(direct.SuspectIndices);
        fluent.Expansion.Should().BeNull();

        // By default the stem probe widens it, exactly as SuspectExpander does with the whole holdout.
        var expanded = new SuspectExpander().Expand(f.Trapped, f.Untrusted, f.Holdout, direct);
        var fluentExpanded = result.ScanForPoison(f.Untrusted, f.Holdout);
        fluentExpanded.SuspectIndices.Should().Equal(expanded.SuspectIndices);
        fluentExpanded.Expansion.Should().NotBeNull().And.BeEquivalentTo(expanded.Expansion, o => o.Excluding(e => e!.Seconds));
    }

    [Fact]
    public void The_snapshot_scan_keeps_the_candidate_that_finds_most_poison_beyond_the_clean_rate_and_each_equals_a_scan_with_that_head()
    {
        var f = Shared;
        var network = f.Replacement.Network;
        var before = network.Head.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var scanner = new PoisonScanner(new PoisonScanOptions { Threads = 2 });

        var result = scanner.ScanSnapshots(f.Trapped, f.Replacement, f.Untrusted, f.Reference);

        result.Candidates.Select(c => c.Epoch).Should().Equal([0, 1, 2, 3, 4, 5, f.Replacement.SelectedEpoch, null], "every snapshot, the returned head, the ensemble");
        var kept = result.Candidates.Last(c => c.ExcessSuspects == result.Candidates.Max(x => x.ExcessSuspects));
        result.ScanEpoch.Should().Be(kept.Epoch);
        result.ScannedWithEnsemble.Should().Be(kept.Epoch is null);
        result.SuspectIndices.Should().HaveCount(kept.Suspects);
        result.Predictions.Should().HaveCount(f.Untrusted.Count);
        result.InferredTarget.Should().Be(Target);
        kept.ExcessSuspects.Should().BeApproximately(result.SuspectIndices.Count - (result.ReferenceFalsePositiveRate * result.Classes[Target].Labelled), 1e-9);
        foreach (var (name, value) in network.Head.Module.state_dict())
            value.eq(before[name]).all().item<bool>().Should().BeTrue($"the replaced network's head ({name}) is restored");

        // Each snapshot's candidate is the decision of scanning the whole network with that head loaded (one stem pass
        // shared by all heads is only a shortcut).
        var snapshot = f.Replacement.Snapshots[2];
        snapshot.LoadInto(network);
        try
        {
            var direct = scanner.Scan(f.Trapped, network, f.Untrusted, f.Reference);
            var candidate = result.Candidates.Single(c => c.Epoch == snapshot.Epoch);
            candidate.Threshold.Should().Be(direct.Threshold);
            candidate.Suspects.Should().Be(direct.SuspectIndices.Count);
            candidate.InferredTarget.Should().Be(direct.InferredTarget);
        }
        finally
        {
            using var noGrad = no_grad();
            foreach (var (name, value) in network.Head.Module.state_dict()) value.copy_(before[name]);
        }
        var quality = result.Against(f.PoisonedIndices);
        quality.Precision.Should().BeGreaterThan(0.5);
        quality.Recall.Should().BeGreaterThan(0.5);
    }

    [Fact]
    public void The_snapshot_scan_refuses_a_stage2_made_on_another_stem()
    {
        var f = Shared;
        using var other = TrapReplace.Models.ModelSeed.Build(77, () => new TrapNetwork(PoisonedSynthetic.Backbone.CreateStem(), PoisonedSynthetic.Backbone.CreateHead(), null));
        FluentActions.Invoking(() => new PoisonScanner().ScanSnapshots(other, f.Replacement, f.Untrusted, f.Reference))
            .Should().Throw<ArgumentException>().WithMessage("*stem differs from the trapped network's*");
    }

    [Fact]
    public void Bad_options_are_named_and_mismatched_inputs_rejected()
    {
        var act = () => new PoisonScanner(new PoisonScanOptions { ReferenceQuantile = 1, BatchSize = 0 });
        act.Should().Throw<OptionsValidationException>().Which.Failures.Should().HaveCount(2)
            .And.Contain(m => m.Contains("ReferenceQuantile")).And.Contain(m => m.Contains("BatchSize"));

        var f = Shared;
        using var empty = f.Holdout.Subset([], "empty");
        FluentActions.Invoking(() => new PoisonScanner().Scan(f.Trapped, f.Replacement.Network, f.Untrusted, empty))
            .Should().Throw<ArgumentException>().WithMessage("*reference*empty*");
        using var tenClasses = Synthetic.ColourClasses(40, classes: 10, seed: 1);
        FluentActions.Invoking(() => new PoisonScanner().Scan(f.Trapped, f.Replacement.Network, tenClasses, f.Reference))
            .Should().Throw<ArgumentException>().WithMessage("*4 classes*");
    }

    [Fact]
    public void Quantile_chance_bound_and_ranking_helpers_compute_what_they_say()
    {
        PoisonScanner.Quantile([5, 1, 4, 2, 3], 0.8).Should().Be(4);
        PoisonScanner.Quantile([5, 1, 4, 2, 3], 0.81).Should().Be(5);
        PoisonScanner.ChernoffBound(5, 10, 0.5).Should().Be(1, "no over-representation");
        // k = n: the bound is p^n exactly.
        PoisonScanner.ChernoffBound(10, 10, 0.1).Should().BeApproximately(1e-10, 1e-22);
        var classes = PoisonScanner.Suspicion([0, 0, 1, 1, 1, 1, 2, 2], [0, 1, 2], 3);
        (classes[0].Flagged, classes[0].Labelled).Should().Be((2, 2));
        classes[0].Share.Should().BeApproximately(2.0 / 3, 1e-12);
        classes[0].BaseRate.Should().Be(0.25);
        classes[0].Enrichment.Should().BeApproximately(8.0 / 3, 1e-12);
        classes[0].ChanceBound.Should().BeApproximately(Math.Exp(-3 * ((2.0 / 3 * Math.Log(2.0 / 3 / 0.25)) + (1.0 / 3 * Math.Log(1.0 / 3 / 0.75)))), 1e-12);
        classes[2].Flagged.Should().Be(0);

        var scan = new PoisonScanResult
        {
            Score = PoisonScore.ReplacedMargin, Scores = [0.1f, 0.9f, 0.8f, 0.2f], ReferenceScores = [0f], ReferenceQuantile = 0.99,
            Threshold = 0.5, ReferenceFalsePositiveRate = 0, FlaggedIndices = [1, 2], Classes = [], SuspectIndices = [1, 2],
        };
        scan.Against([1, 3]).Should().Be(new ScanQuality(0.5, 0.5, 2, 2, 0.75));
    }
}
