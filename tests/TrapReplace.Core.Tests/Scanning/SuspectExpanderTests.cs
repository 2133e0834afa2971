using Microsoft.Extensions.Options;
using TrapReplace.Scanning;

namespace TrapReplace.Core.Tests.Scanning;

public sealed class SuspectExpanderTests
{
    private const int Target = PoisonedSynthetic.Target;

    private static PoisonedSynthetic Shared => PoisonedSynthetic.Shared;

    // A deliberately weak scan: a quarter of the true poison as seeds, as when a clean head drifts back to the target.
    private static PoisonScanResult WeakScan(PoisonedSynthetic f)
    {
        var scan = new PoisonScanner(new PoisonScanOptions { Threads = 2 }).Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);
        var seeds = scan.SuspectIndices.Intersect(f.PoisonedIndices).Take(f.PoisonedIndices.Length / 4).Order().ToArray();
        return scan with { SuspectIndices = seeds };
    }

    [Fact]
    public void The_stem_probe_finds_the_poison_a_weak_scan_missed_at_the_holdouts_false_positive_rate()
    {
        var f = Shared;
        var weak = WeakScan(f);
        weak.SuspectIndices.Should().HaveCountGreaterThanOrEqualTo(10);

        var expanded = new SuspectExpander(new SuspectExpansionOptions { MinimumSeeds = 5, Threads = 2 }).Expand(f.Trapped, f.Untrusted, f.Holdout, weak);

        var expansion = expanded.Expansion!;
        expansion.Seeds.Should().Be(weak.SuspectIndices.Count);
        expansion.Features.Should().Be(64 * 4 * 4, "WRN-16-1's stem gives 64 channels on an 8x8 map, pooled to 4x4");
        expansion.HoldoutFalsePositiveRate.Should().BeLessThanOrEqualTo(0.05, "the threshold is the 99th percentile of 40 target-class images");
        var labels = f.Untrusted.LabelArray();
        expansion.AddedIndices.Should().OnlyContain(i => labels[i] == Target && !weak.SuspectIndices.Contains(i)).And.BeInAscendingOrder();
        expansion.DroppedIndices.Should().BeSubsetOf(weak.SuspectIndices);
        expansion.DroppedIndices.Count.Should().BeLessThanOrEqualTo(weak.SuspectIndices.Count / 10, "every seed here is poisoned");
        expanded.SuspectIndices.Should().BeEquivalentTo(weak.SuspectIndices.Except(expansion.DroppedIndices).Concat(expansion.AddedIndices)).And.BeInAscendingOrder();
        var before = weak.Against(f.PoisonedIndices);
        var after = expanded.Against(f.PoisonedIndices);
        before.Recall.Should().BeLessThan(0.3);
        after.Recall.Should().BeGreaterThan(0.9, "the square is in the stem's features of every poisoned image");
        after.Precision.Should().BeGreaterThan(0.9);
    }

    [Fact]
    public void Suspects_the_stem_sees_no_trigger_in_are_dropped_by_a_probe_that_did_not_learn_from_them()
    {
        var f = Shared;
        var weak = WeakScan(f);
        var labels = f.Untrusted.LabelArray();
        // Eight clean target-class images among the seeds, as a head's scan flags some.
        var clean = Enumerable.Range(0, f.Untrusted.Count).Where(i => labels[i] == Target && !f.PoisonedIndices.Contains(i)).Take(8).ToArray();
        var mixed = weak with { SuspectIndices = weak.SuspectIndices.Concat(clean).Order().ToArray() };

        var pruned = new SuspectExpander(new SuspectExpansionOptions { MinimumSeeds = 5, Threads = 2 }).Expand(f.Trapped, f.Untrusted, f.Holdout, mixed);
        var kept = new SuspectExpander(new SuspectExpansionOptions { MinimumSeeds = 5, Threads = 2, PruneSeeds = false }).Expand(f.Trapped, f.Untrusted, f.Holdout, mixed);

        pruned.Expansion!.DroppedIndices.Intersect(clean).Should().HaveCountGreaterThanOrEqualTo(6, "the stem sees no square in them");
        pruned.Expansion.DroppedIndices.Intersect(f.PoisonedIndices).Should().HaveCountLessThanOrEqualTo(1);
        pruned.Against(f.PoisonedIndices).Precision.Should().BeGreaterThan(kept.Against(f.PoisonedIndices).Precision);
        kept.Expansion!.DroppedIndices.Should().BeEmpty();
        kept.SuspectIndices.Should().Contain(clean, "without pruning every seed stays");
    }

    [Fact]
    public void Suspects_that_share_no_trigger_feature_are_refuted_and_the_target_withdrawn()
    {
        // Only clean target-class images as suspects, as a scan flags the hardest class when no poison is stored (WaNet).
        var f = Shared;
        var weak = WeakScan(f);
        var labels = f.Untrusted.LabelArray();
        var clean = Enumerable.Range(0, f.Untrusted.Count).Where(i => labels[i] == Target && !f.PoisonedIndices.Contains(i)).Take(20).ToArray();
        clean.Should().HaveCount(20);
        var hardClass = weak with { SuspectIndices = clean };

        var refuted = new SuspectExpander(new SuspectExpansionOptions { MinimumSeeds = 5, Threads = 2 }).Expand(f.Trapped, f.Untrusted, f.Holdout, hardClass);

        refuted.InferredTarget.Should().BeNull();
        refuted.RefutedTarget.Should().Be(Target);
        refuted.TargetChanceBound.Should().Be(1);
        refuted.SuspectIndices.Should().BeEmpty();
        refuted.FlaggedIndices.Should().Equal(hardClass.FlaggedIndices, "what the heads flagged stays on record");
        var expansion = refuted.Expansion!;
        expansion.Refuted.Should().BeTrue();
        expansion.Seeds.Should().Be(20);
        expansion.Confirmed.Should().BeLessThan(10, "the stem sees no square in clean images");
        expansion.DroppedIndices.Should().Equal(clean);
        expansion.AddedIndices.Should().BeEmpty();

        // Real poison stands: the weak scan's seeds are confirmed, and without the rule nothing is refuted.
        var confirmed = new SuspectExpander(new SuspectExpansionOptions { MinimumSeeds = 5, Threads = 2 }).Expand(f.Trapped, f.Untrusted, f.Holdout, weak);
        confirmed.InferredTarget.Should().Be(Target);
        confirmed.RefutedTarget.Should().BeNull();
        confirmed.Expansion!.Refuted.Should().BeFalse();
        confirmed.Expansion.Confirmed.Should().Be(weak.SuspectIndices.Count - confirmed.Expansion.DroppedIndices.Count);
        var lenient = new SuspectExpander(new SuspectExpansionOptions { MinimumSeeds = 5, Threads = 2, MinimumConfirmedShare = 0 })
            .Expand(f.Trapped, f.Untrusted, f.Holdout, hardClass);
        lenient.InferredTarget.Should().Be(Target);
        lenient.Expansion!.Refuted.Should().BeFalse();
        lenient.Expansion.Confirmed.Should().Be(expansion.Confirmed, "the same probe, only the decision differs");
    }

    [Fact]
    public void Expanding_is_reproducible_and_leaves_a_scan_without_target_seeds_or_clean_target_images_unchanged()
    {
        var f = Shared;
        var weak = WeakScan(f);
        var expander = new SuspectExpander(new SuspectExpansionOptions { MinimumSeeds = 5, Threads = 2 });

        var first = expander.Expand(f.Trapped, f.Untrusted, f.Holdout, weak);
        var second = expander.Expand(f.Trapped, f.Untrusted, f.Holdout, weak);

        second.SuspectIndices.Should().Equal(first.SuspectIndices);
        second.Expansion!.Threshold.Should().Be(first.Expansion!.Threshold);
        var noTarget = weak with { InferredTarget = null };
        expander.Expand(f.Trapped, f.Untrusted, f.Holdout, noTarget).Should().BeSameAs(noTarget);
        var few = weak with { SuspectIndices = weak.SuspectIndices.Take(4).ToArray() };
        expander.Expand(f.Trapped, f.Untrusted, f.Holdout, few).Should().BeSameAs(few, "4 seeds are fewer than the 5 required");
        using var tiny = f.Holdout.Subset(Enumerable.Range(0, 8).ToArray(), "tiny");
        tiny.LabelArray().Count(l => l == Target).Should().BeLessThan(5);
        expander.Expand(f.Trapped, f.Untrusted, tiny, weak).Should().BeSameAs(weak, "fewer clean target images than the 5 folds calibrate no threshold");
    }

    [Fact]
    public void Bad_options_and_mismatched_inputs_are_named()
    {
        var act = () => new SuspectExpander(new SuspectExpansionOptions { Folds = 1, Quantile = 1, Steps = 0, LearningRate = double.NaN, MinimumConfirmedShare = 1.5 });
        act.Should().Throw<OptionsValidationException>().Which.Failures.Should().HaveCount(5)
            .And.Contain(m => m.Contains("Folds")).And.Contain(m => m.Contains("Quantile")).And.Contain(m => m.Contains("Steps")).And.Contain(m => m.Contains("LearningRate"))
            .And.Contain(m => m.Contains("MinimumConfirmedShare must be in [0, 1]; got 1.5"));

        var f = Shared;
        var weak = WeakScan(f);
        using var part = f.Untrusted.Subset(Enumerable.Range(0, 100).ToArray(), "part");
        FluentActions.Invoking(() => new SuspectExpander(new SuspectExpansionOptions { MinimumSeeds = 5 }).Expand(f.Trapped, part, f.Holdout, weak))
            .Should().Throw<ArgumentException>().WithMessage("*covers 480 samples*100*");
    }
}
