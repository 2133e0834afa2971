using TrapReplace.Scanning;

namespace TrapReplace.Core.Tests.Scanning;

[Collection(nameof(BackdoorPullTests))] // no training and no thread count: runs beside the torch collection
public sealed class BackdoorPullTests
{
    // 100 target-labelled images (target 0) and 300 of classes 1-3 in the ratio 1 : 1 : 2.
    private static readonly long[] Labels = [.. Enumerable.Repeat(0L, 100), .. Enumerable.Repeat(1L, 75), .. Enumerable.Repeat(2L, 75), .. Enumerable.Repeat(3L, 150)];

    [Fact]
    public void Predictions_that_follow_the_class_shares_pull_nowhere()
    {
        int[] predictions = [.. Enumerable.Repeat(1, 25), .. Enumerable.Repeat(2, 25), .. Enumerable.Repeat(3, 50)];
        var pull = BackdoorPull.From(predictions, Labels, 4, target: 0);
        pull.Value.Should().Be(0);
        pull.TargetShare.Should().Be(0);
        pull.Shares.Should().Equal(0, 0.25, 0.25, 0.5);
    }

    [Fact]
    public void The_target_share_is_the_attack_estimate_and_counts_in_full()
    {
        int[] predictions = [.. Enumerable.Repeat(0, 40), .. Enumerable.Repeat(1, 15), .. Enumerable.Repeat(2, 15), .. Enumerable.Repeat(3, 30)];
        var pull = BackdoorPull.From(predictions, Labels, 4, target: 0);
        pull.Class.Should().Be(0);
        pull.Value.Should().BeApproximately(0.4, 1e-12);
        pull.TargetShare.Should().BeApproximately(0.4, 1e-12);
    }

    [Fact]
    public void A_backdoor_moved_to_another_class_shows_as_its_share_beyond_the_base_rate()
    {
        // Class 1 is a quarter of the non-target images but takes 70 % of the suspects: (0.7 - 0.25) / 0.75 = 0.6.
        int[] predictions = [.. Enumerable.Repeat(1, 70), .. Enumerable.Repeat(2, 10), .. Enumerable.Repeat(3, 20)];
        var pull = BackdoorPull.From(predictions, Labels, 4, target: 0);
        pull.Class.Should().Be(1);
        pull.Value.Should().BeApproximately(0.6, 1e-12);
        pull.TargetShare.Should().Be(0, "the target share alone would call this defense perfect");
        // Everything to one class is a pull of 1.
        BackdoorPull.From(Enumerable.Repeat(3, 10).ToArray(), Labels, 4, target: 0).Value.Should().BeApproximately(1, 1e-12);
    }

    [Fact]
    public void Counting_the_target_alone_ignores_where_else_the_suspects_go()
    {
        // Blend at 20 stage-1 epochs: a network with 0.06 % attack success sent half of the held-out suspects to class 4.
        int[] predictions = [.. Enumerable.Repeat(0, 1), .. Enumerable.Repeat(1, 70), .. Enumerable.Repeat(2, 9), .. Enumerable.Repeat(3, 20)];
        var anyClass = BackdoorPull.From(predictions, Labels, 4, target: 0);
        var targetOnly = BackdoorPull.From(predictions, Labels, 4, target: 0, PullScope.TargetOnly);

        (anyClass.Class, targetOnly.Class).Should().Be((1, 0));
        anyClass.Value.Should().BeApproximately((0.70 - 0.25) / 0.75, 1e-12);
        targetOnly.Value.Should().BeApproximately(0.01, 1e-12);
        targetOnly.TargetShare.Should().Be(anyClass.TargetShare);
        targetOnly.Shares.Should().Equal(anyClass.Shares);
    }

    [Fact]
    public void Clean_label_suspects_pull_only_by_the_targets_share_beyond_the_networks_recall_of_it()
    {
        // 900 of 1000 suspects to the target against a recall of 200 of 250: the point excess is 0.1; Newcombe's lower
        // bound subtracts sqrt((0.9 - l1)^2 + (u2 - 0.8)^2) with the Wilson bounds at z = 1.645.
        int[] predictions = [.. Enumerable.Repeat(0, 900), .. Enumerable.Repeat(3, 100)];
        var pull = BackdoorPull.FromCleanLabel(predictions, 4, target: 0, recalled: 200, targetImages: 250);
        var (l1, _) = BackdoorPull.Wilson(0.9, 1000, BackdoorPull.CleanLabelConfidenceZ);
        var (_, u2) = BackdoorPull.Wilson(0.8, 250, BackdoorPull.CleanLabelConfidenceZ);
        double expected = (0.1 - Math.Sqrt((0.9 - l1) * (0.9 - l1) + (u2 - 0.8) * (u2 - 0.8))) / 0.2;
        pull.Value.Should().BeApproximately(expected, 1e-12);
        pull.Value.Should().BeInRange(0.2, 0.3, "a 95 % bound of an excess of 0.1 measured on 1000 and 250 images keeps about half of it");
        pull.Class.Should().Be(0);
        pull.TargetShare.Should().BeApproximately(0.9, 1e-12);
        pull.TargetRecall.Should().Be(0.8);
        pull.TargetRecallImages.Should().Be(250);

        // A trigger that makes target images look like class 1 is no backdoor: a network without one does it too.
        int[] distorted = [.. Enumerable.Repeat(0, 300), .. Enumerable.Repeat(1, 700)];
        BackdoorPull.FromCleanLabel(distorted, 4, target: 0, recalled: 200, targetImages: 250).Value.Should().Be(0);
        BackdoorPull.From(distorted, Labels, 4, target: 0).Value.Should().BeGreaterThan(0.5, "read as dirty-label, class 1 would pull");
        BackdoorPull.FromCleanLabel(predictions, 4, target: 0, recalled: 250, targetImages: 250).Value.Should().Be(0, "nothing lies beyond a perfect recall");
    }

    [Fact]
    public void A_clean_label_excess_that_few_suspects_or_few_reference_images_cannot_support_is_no_pull()
    {
        // WaNet at the full profile: 6 held-out suspects, all predicted as their (given, true) label, against a recall of
        // 15 of 25 validation images. The point estimate reads a pull of 1; the bound keeps what six images support.
        int[] six = Enumerable.Repeat(3, 6).ToArray();
        BackdoorPull.FromCleanLabel(six, 10, target: 3, recalled: 15, targetImages: 25).Value.Should().BeInRange(0.1, 0.2);
        BackdoorPull.FromCleanLabel(six, 10, target: 3, recalled: 18, targetImages: 25).Value.Should().Be(0, "against a recall of 72 % six images show nothing");
        // The same shares on 600 suspects and 2500 reference images are a real pull.
        int[] many = Enumerable.Repeat(3, 600).ToArray();
        BackdoorPull.FromCleanLabel(many, 10, target: 3, recalled: 1500, targetImages: 2500).Value.Should().BeGreaterThan(0.9);
        // Wilson bounds: symmetric around 0.5, inside [0, 1] at the edges, and the exact value for 0 of 10 at z = 1.96.
        var (lo, hi) = BackdoorPull.Wilson(0.5, 100, 1.96);
        (lo + hi).Should().BeApproximately(1, 1e-12);
        BackdoorPull.Wilson(1, 6, 1.645).Upper.Should().BeApproximately(1, 1e-12);
        BackdoorPull.Wilson(0, 10, 1.96).Upper.Should().BeApproximately(3.8416 / 13.8416, 1e-12);
        // Bad counts are refused rather than read.
        var act = () => BackdoorPull.FromCleanLabel(six, 10, target: 3, recalled: 26, targetImages: 25);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Dirty_label_poison_shows_as_an_excess_of_target_labels_over_the_holdouts_share_and_clean_label_poison_does_not()
    {
        // Untrusted: 1000 samples, the target 10 % in the holdout. Dirty-label: 100 others relabelled, 200 target labels.
        long[] holdout = [.. Enumerable.Repeat(0L, 10), .. Enumerable.Repeat(1L, 90)];
        long[] dirty = [.. Enumerable.Repeat(0L, 200), .. Enumerable.Repeat(1L, 800)];
        var evidence = PoisonLabellingEvidence.From(dirty, holdout, target: 0, suspects: 100);
        evidence.Labelling.Should().Be(PoisonLabelling.DirtyLabel);
        evidence.TargetLabelled.Should().Be(200);
        evidence.ExpectedTargetLabelled.Should().BeApproximately(100, 1e-9);
        evidence.ExcessPerSuspect.Should().BeApproximately(1, 1e-9);

        // Clean-label: 80 of the 100 target images carry the trigger, the label counts are the holdout's.
        long[] clean = [.. Enumerable.Repeat(0L, 100), .. Enumerable.Repeat(1L, 900)];
        PoisonLabellingEvidence.From(clean, holdout, target: 0, suspects: 80).Labelling.Should().Be(PoisonLabelling.CleanLabel);
        // The rule's edge: an excess of exactly half the suspects is dirty-label, one less is not.
        long[] edge = [.. Enumerable.Repeat(0L, 140), .. Enumerable.Repeat(1L, 860)];
        PoisonLabellingEvidence.From(edge, holdout, target: 0, suspects: 80).Labelling.Should().Be(PoisonLabelling.DirtyLabel);
        PoisonLabellingEvidence.From(edge, holdout, target: 0, suspects: 82).Labelling.Should().Be(PoisonLabelling.CleanLabel);
    }
}
