using Microsoft.Extensions.Options;
using TrapReplace.Cleansing;
using TrapReplace.Core.Tests.Scanning;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Scanning;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Core.Tests.Cleansing;

public sealed class StemCleanserTests
{
    private static StemCleansingOptions Small(CleansingMode mode) => new()
    {
        Mode = mode,
        Rounds = 1,
        Continue = new TrapTrainerOptions { Epochs = 2, BatchSize = 32, LearningRate = 3e-3, Threads = 2 },
        Replace = new HeadReplacerOptions
        {
            Epochs = 3, BatchSize = 16, LearningRate = 3e-3, ValidationFraction = 0.25, Threads = 2,
            ModelSeed = HeadReplacerOptions.FreshHeadSeed(0), Selection = HeadSelection.BestValidationMinusEstimatedAttack,
        },
    };

    [Fact]
    public void The_estimate_counts_every_class_only_where_the_relabels_could_have_moved_the_backdoor()
    {
        new StemCleansingOptions { Mode = CleansingMode.RemoveSuspects, FillRelabels = false }.PullScope.Should().Be(PullScope.TargetOnly);
        new StemCleansingOptions { Mode = CleansingMode.RelabelSuspects }.PullScope.Should().Be(PullScope.TargetOnly, "filled relabels go to every class in proportion");
        new StemCleansingOptions { Mode = CleansingMode.RelabelSuspects, FillRelabels = false }.PullScope.Should().Be(PullScope.AnyClass);
    }

    private static PoisonScanResult Scan(PoisonedSynthetic f) =>
        new PoisonScanner(new PoisonScanOptions { Threads = 2 }).Scan(f.Trapped, f.Replacement.Network, f.Untrusted, f.Reference);

    [Fact]
    public void Relabelling_gives_suspects_the_scanning_heads_classes_and_every_epoch_an_attack_estimate_on_held_out_suspects()
    {
        var f = PoisonedSynthetic.Shared;
        var scan = Scan(f);
        var epochs = new List<string>();
        var cleanser = new StemCleanser(Small(CleansingMode.RelabelSuspects));
        cleanser.EpochCompleted += (_, e) => epochs.Add(e.Stage);

        using var result = cleanser.Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, scan);

        epochs.Should().Equal("trap-round-1", "trap-round-1", "replace-round-1", "replace-round-1", "replace-round-1");
        result.SuspectCount.Should().Be(scan.SuspectIndices.Count);
        result.EstimateSuspects.Should().HaveCount((int)Math.Round(0.2 * scan.SuspectIndices.Count)).And.BeSubsetOf(scan.SuspectIndices);
        int relabelledCandidates = scan.SuspectIndices.Count - result.EstimateSuspects.Count;
        result.Relabels.Sum(r => r.Relabelled).Should().BeGreaterThan(relabelledCandidates / 2, "most suspects are poisoned and the scanning head sees their real class")
            .And.Be(scan.SuspectIndices.Except(result.EstimateSuspects).Count(i => scan.Predictions[i] != f.Untrusted.LabelArray()[i]));
        result.RelabelledToOtherClass.Should().Be(result.Relabels.Sum(r => r.Kept + r.Filled)).And.BeGreaterThan(0);
        result.Continued.Network.ReconstructionHead.Should().NotBeNull("continued stage 1 keeps the trap's decoder");
        result.Replacement.History.Should().OnlyContain(h => h.EstimatedAttackSuccess != null);
        var selected = result.Replacement.History.Single(h => h.Epoch == result.Replacement.SelectedEpoch);
        var best = result.Replacement.History.Max(h => h.ValidationAccuracy!.Value - h.EstimatedAttackSuccess!.Value);
        (selected.ValidationAccuracy!.Value - selected.EstimatedAttackSuccess!.Value).Should().Be(best, "the epoch is chosen by validation accuracy minus the estimate");
        PoisonScanner.EstimateAttackSuccess(result.Defended, f.Untrusted, scan)!.Value
            .Should().BeLessThan(PoisonScanner.EstimateAttackSuccess(f.Trapped, f.Untrusted, scan)!.Value);
    }

    [Fact]
    public void A_second_round_scans_the_continued_network_and_adds_what_it_finds()
    {
        var f = PoisonedSynthetic.Shared;
        var scan = Scan(f);
        var options = Small(CleansingMode.RelabelSuspects);
        options.Rounds = 2;
        options.Scan = new PoisonScanOptions { Threads = 2 };
        var stages = new List<string>();
        var cleanser = new StemCleanser(options);
        cleanser.EpochCompleted += (_, e) => stages.Add(e.Stage);

        using var result = cleanser.Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, scan);

        result.Rounds.Should().NotBeEmpty().And.HaveCountLessThanOrEqualTo(2);
        result.Rounds[0].Suspects.Should().Be(scan.SuspectIndices.Count, "the first round cleanses the first scan's suspects");
        result.SuspectCount.Should().Be(scan.SuspectIndices.Count + result.Rounds.Sum(r => r.NewSuspects));
        stages.Should().Equal(Enumerable.Range(1, result.Rounds.Count).SelectMany(r => new[] { "trap", "trap", "replace", "replace", "replace" }.Select(s => $"{s}-round-{r}")),
            "each round continues stage 1, then replaces the head");
        if (result.Rounds.Count == 2)
            result.Rounds[0].NewSuspects.Should().BeGreaterThan(0, "a second round runs only when the first one's scan found more");
        else
            result.Rounds[0].NewSuspects.Should().Be(0, "cleansing stops when a round finds nothing new");
        result.Rounds[^1].NewSuspects.Should().Be(0);
        result.Replacement.ValidationAccuracy.Should().Be(result.Rounds[^1].ValidationAccuracy);
    }

    [Fact]
    public void An_interrupted_cleansing_resumes_from_its_round_checkpoints_and_ends_as_an_uninterrupted_one()
    {
        var f = PoisonedSynthetic.Shared;
        var scan = Scan(f);
        var options = Small(CleansingMode.RelabelSuspects);
        using var uninterrupted = new StemCleanser(options).Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, scan);
        var folder = Directory.CreateTempSubdirectory("stem-cleanser").FullName;
        try
        {
            options.CheckpointDirectory = folder;
            using (var cts = new CancellationTokenSource())
            {
                var first = new StemCleanser(options);
                first.EpochCompleted += (_, e) => { if (e.Stage == "trap-round-1") cts.Cancel(); };   // after the continued stage 1's first epoch
                FluentActions.Invoking(() => first.Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, scan, cts.Token))
                    .Should().Throw<OperationCanceledException>();
            }
            var round = Directory.GetDirectories(folder).Should().ContainSingle().Which;
            Path.GetFileName(round).Should().MatchRegex("^round-1-[0-9a-f]{16}$");
            File.Exists(Path.Combine(round, "continue", TrapTrainer.CheckpointFileName)).Should().BeTrue();

            var epochs = new List<(string, int)>();
            var second = new StemCleanser(options);
            second.EpochCompleted += (_, e) => epochs.Add((e.Stage, e.Record.Epoch));
            using var resumed = second.Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, scan);

            epochs.Should().Equal(("trap-round-1", 1), ("replace-round-1", 0), ("replace-round-1", 1), ("replace-round-1", 2));
            Directory.GetDirectories(folder).Should().Equal([round], "the same round on the same data finds the same folder");
            resumed.SuspectCount.Should().Be(uninterrupted.SuspectCount);
            resumed.Replacement.SelectedEpoch.Should().Be(uninterrupted.Replacement.SelectedEpoch);
            foreach (var (a, b) in new[] { (uninterrupted.Continued.Network, resumed.Continued.Network), (uninterrupted.Replacement.Network, resumed.Replacement.Network) })
                foreach (var (name, value) in a.state_dict())
                    value.allclose(b.state_dict()[name], 0, 0).Should().BeTrue($"{name} should be bit-identical");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_suspect_the_scanning_head_gives_its_given_label_back_is_removed_rather_than_kept_poisoned()
    {
        var f = PoisonedSynthetic.Shared;
        var scan = Scan(f);
        // Predictions equal to the given labels: nothing can be relabelled, as for the suspects the stem probe adds.
        var unrelabellable = scan with { Predictions = f.Untrusted.LabelArray().Select(l => (int)l).ToArray() };
        int StepsPerContinuedEpoch(CleansingMode mode)
        {
            var cleanser = new StemCleanser(Small(mode));
            int steps = 0;
            cleanser.StepCompleted += (_, e) => { if (e.Stage == "trap-round-1") steps = e.StepsPerEpoch; };
            using var result = cleanser.Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, unrelabellable);
            result.RelabelledToOtherClass.Should().Be(0);
            return steps;
        }

        int relabelSteps = StepsPerContinuedEpoch(CleansingMode.RelabelSuspects);

        relabelSteps.Should().Be(StepsPerContinuedEpoch(CleansingMode.RemoveSuspects), "both modes train on the untrusted set without the suspects");
        relabelSteps.Should().BeLessThan((f.Untrusted.Count / 32) - 1, "the suspects are gone from the continued training");
    }

    [Fact]
    public void The_result_is_the_continued_network_unless_the_replaced_head_scores_higher_on_validation_minus_the_estimate()
    {
        var f = PoisonedSynthetic.Shared;
        var scan = Scan(f);

        using var result = new StemCleanser(Small(CleansingMode.RelabelSuspects)).Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, scan);

        var final = result.Final;
        final.ContinuedValidationAccuracy.Should().NotBeNull();
        final.ContinuedEstimatedAttackSuccess.Should().NotBeNull();
        final.ReplacedValidationAccuracy.Should().Be(result.Replacement.ValidationAccuracy);
        using var validation = f.Holdout.Subset(result.Replacement.ValidationIndices, "validation");
        final.ContinuedValidationAccuracy.Should().Be(TrapReplace.Evaluation.Evaluator.Accuracy(result.Continued.Network, validation, TorchSharp.torch.CPU));
        var probe = scan with { SuspectIndices = result.EstimateSuspects };
        result.Labelling!.Labelling.Should().Be(PoisonLabelling.DirtyLabel, "the fixture's poison was relabelled to the target");
        var options = Small(CleansingMode.RelabelSuspects);
        options.PullScope.Should().Be(PullScope.TargetOnly, "the relabels are filled in proportion, so no other class can hold a moved backdoor");
        var pull = PoisonScanner.EstimateBackdoorPull(result.Continued.Network, f.Untrusted, probe, scope: options.PullScope)!;
        pull.Class.Should().Be(scan.InferredTarget);
        final.ContinuedEstimatedAttackSuccess.Should().Be(pull.Value);
        final.ContinuedPull.Should().BeEquivalentTo(pull, "the whole estimate is kept: which class pulls, the target's share, every share");
        bool continuedBetter = final.ContinuedValidationAccuracy!.Value - final.ContinuedEstimatedAttackSuccess!.Value
            >= final.ReplacedValidationAccuracy!.Value - (final.ReplacedEstimatedAttackSuccess ?? 0); // a tie keeps the continued network
        final.KeptContinuedNetwork.Should().Be(continuedBetter);
        result.Defended.Should().BeSameAs(continuedBetter ? result.Continued.Network : result.Replacement.Network);

        var paperOnly = Small(CleansingMode.RelabelSuspects);
        paperOnly.ConsiderContinuedNetwork = false;
        using var replacedOnly = new StemCleanser(paperOnly).Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, scan);
        replacedOnly.Final.KeptContinuedNetwork.Should().BeFalse();
        replacedOnly.Final.ContinuedValidationAccuracy.Should().BeNull();
        replacedOnly.Final.ContinuedPull.Should().BeNull();
        replacedOnly.Defended.Should().BeSameAs(replacedOnly.Replacement.Network);
    }

    [Fact]
    public void No_class_keeps_more_than_its_share_of_the_relabels_so_the_trigger_points_nowhere()
    {
        // 180 suspects labelled with the target 0, then 90 images of each other class (1/9 of the non-target samples each).
        var labels = Enumerable.Range(0, 990).Select(i => i < 180 ? 0L : 1 + ((i - 180) % 9)).ToArray();
        var suspects = Enumerable.Range(0, 180).ToArray();
        // Spread evenly over the nine other classes: every relabel is kept.
        var spread = suspects.Select((s, k) => (s, k)).ToDictionary(p => p.s, p => 1 + (p.k % 9));
        var even = StemCleanser.CapRelabels(labels, 10, suspects, spread, 0, 1.25, 0, fill: false, out var none, out _);
        none.Should().BeEmpty();
        even.Where(r => r.Class != 0).Should().OnlyContain(r => r.Relabelled == 20 && r.Kept == 20);

        // Half of them to class 6, the rest spread over the eight others (six get 11, two 12): the median class got 11
        // for its ninth, so class 6 keeps floor(1.25 * 11) = 13.
        int[] eight = [1, 2, 3, 4, 5, 7, 8, 9];
        var collapsed = suspects.ToDictionary(s => s, s => s % 2 == 0 ? 6 : eight[s / 2 % 8]);
        var capped = StemCleanser.CapRelabels(labels, 10, suspects, collapsed, 0, 1.25, 0, fill: false, out var dropped, out _);
        capped[6].Relabelled.Should().Be(90);
        capped[6].Kept.Should().Be(13);
        dropped.Should().HaveCount(90 - capped[6].Kept).And.OnlyContain(i => collapsed[i] == 6);
        capped.Where(r => r.Class != 6 && r.Class != 0).Should().OnlyContain(r => r.Kept == r.Relabelled);
        // Seeded: the same suspects are dropped again.
        StemCleanser.CapRelabels(labels, 10, suspects, collapsed, 0, 1.25, 0, fill: false, out var again, out _);
        again.Should().BeEquivalentTo(dropped);

        // With fill, class 6's 77 excess suspects go at random to the classes short of their ninth of the 180 (class 6
        // itself included), so every class ends with 20 and nothing is removed.
        var balanced = StemCleanser.CapRelabels(labels, 10, suspects, collapsed, 0, 1.25, 0, fill: true, out var noneLeft, out var filled);
        noneLeft.Should().BeEmpty();
        filled.Should().HaveCount(77).And.OnlyContain(p => collapsed[p.Key] == 6 && p.Value != 0);
        balanced.Where(r => r.Class != 0).Should().OnlyContain(r => r.Kept + r.Filled == 20);

        // A class whose poison the head sends back to the target gets no relabels; the others are not capped for it.
        var nineGetsNone = suspects.ToDictionary(s => s, s => s % 9 == 0 ? 0 : 1 + (s % 9 == 8 ? 0 : s % 9));
        StemCleanser.CapRelabels(labels, 10, suspects, nineGetsNone, 0, 1.25, 0, fill: false, out var noneDropped, out _);
        noneDropped.Should().BeEmpty();

        // Everything to one class: the typical class got none, so nothing is relabelled.
        var one = suspects.ToDictionary(s => s, _ => 4);
        StemCleanser.CapRelabels(labels, 10, suspects, one, 0, 1.25, 0, fill: false, out var all, out _).Sum(r => r.Kept).Should().Be(0);
        all.Should().HaveCount(180);
    }

    [Fact]
    public void The_trapped_network_is_not_modified()
    {
        var f = PoisonedSynthetic.Shared;
        var before = f.Trapped.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var result = new StemCleanser(Small(CleansingMode.RemoveSuspects))
            .Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, Scan(f));

        result.RelabelledToOtherClass.Should().Be(0);
        foreach (var (name, value) in f.Trapped.state_dict())
            value.eq(before[name]).all().item<bool>().Should().BeTrue(name);
    }

    [Fact]
    public void A_scan_without_suspects_or_for_another_set_is_refused_and_bad_options_are_named()
    {
        var f = PoisonedSynthetic.Shared;
        var scan = Scan(f);
        var cleanser = new StemCleanser(Small(CleansingMode.RelabelSuspects));
        FluentActions.Invoking(() => cleanser.Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout,
                scan with { SuspectIndices = [] }))
            .Should().Throw<ArgumentException>().WithMessage("*no suspects*keep the Trap-and-Replace result*");
        FluentActions.Invoking(() => cleanser.Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Holdout, f.Holdout, scan))
            .Should().Throw<ArgumentException>().WithMessage("*scored 480 samples*160*");
        FluentActions.Invoking(() => cleanser.Cleanse(f.Trapped, PoisonedSynthetic.Backbone, f.Untrusted, f.Holdout, scan with { Predictions = [] }))
            .Should().Throw<ArgumentException>().WithMessage("*no predictions to relabel*");

        var options = Small(CleansingMode.RelabelSuspects);
        options.Continue.Epochs = 0;
        options.Replace.ValidationFraction = 2;
        options.EstimateSamples = 0;
        options.EstimateFraction = 1;
        options.Rounds = 0;
        FluentActions.Invoking(() => new StemCleanser(options)).Should().Throw<OptionsValidationException>()
            .Which.Failures.Should().Contain(m => m.StartsWith("Continue.Epochs")).And.Contain(m => m.StartsWith("Replace.")).And.Contain(m => m.StartsWith("EstimateSamples")).And.Contain(m => m.StartsWith("EstimateFraction")).And.Contain(m => m.StartsWith("Rounds"));
    }
}
