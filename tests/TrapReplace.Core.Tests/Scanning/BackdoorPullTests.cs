using TrapReplace.Scanning;

namespace TrapReplace.Core.Tests.Scanning;

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
}
